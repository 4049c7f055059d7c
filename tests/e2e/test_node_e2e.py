"""One node end to end on the real parts: GCS emulator bucket, remote_model_puller,
config_manager and the dev server with real TensorFlow, plus the master.

publish → AVAILABLE with the right numbers; promote under steady Predict load with zero
failed calls; a broken version is quarantined while the previous one keeps serving; TF
Serving killed and restarted gets its config back with no operator action.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest
import requests

from modelfleet.loadgen import run_load
from modelfleet.loadgen.predictor import Predictor
from modelfleet.localfleet.fleet import Fleet, FleetSpec
from modelfleet.store import open_store, publish
from modelfleet.tfserving import TFServingClient, tensor_to_list
from tests.support.helpers import free_port, wait_until

pytestmark = pytest.mark.tensorflow
MODEL = "linear"


def test_one_node_publish_promote_quarantine_restart(
    tmp_path: Path, gcs_emulator, gcs_bucket
) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("tensorflow")
    from modelfleet.localfleet.samplemodel import build_linear_model

    spec = FleetSpec.default(
        tmp_path / "fleet",
        nodes=1,
        zones=1,
        subnet="127.0.7",
        master_port=free_port(),
        poll_interval=2.0,
    )
    spec.master_address = "127.0.0.1"
    spec.remote = f"{gcs_bucket}/models"
    spec.gcs_emulator_port = gcs_emulator.port
    fleet = Fleet(spec, tied=True)
    node = spec.nodes[0]
    store = open_store(spec.remote)
    fleet.prepare()
    admin = {"Authorization": f"Bearer {fleet.token('admin')}"}

    def serving() -> list[int]:
        with TFServingClient(node.grpc_target, timeout=1.0) as client:
            return [s.version for s in client.status(MODEL) if s.state == "AVAILABLE"]

    def predict() -> tuple[list[float], int]:
        with TFServingClient(node.grpc_target, timeout=2.0) as client:
            resp = client.predict(MODEL, {"x": [1.0, 2.0, 3.0]})
            return tensor_to_list(resp.outputs["y"]), resp.model_spec.version.value

    def promote(version: int) -> None:
        r = requests.post(
            f"{spec.master_url}/api/v1/models/{MODEL}/promote",
            json={"version": version},
            headers=admin,
            timeout=20,
        )
        assert r.status_code == 200, r.text

    try:
        publish(store, build_linear_model(tmp_path / "v1", 2.0, 1.0), MODEL, 1)
        fleet.up()
        fleet.wait_ports(timeout=180)
        wait_until(lambda: serving() == [1], 180, what="v1 AVAILABLE")
        assert predict() == ([3.0, 5.0, 7.0], 1)

        # Promote v2 while a client sends a steady stream of Predict calls: none may fail.
        publish(store, build_linear_model(tmp_path / "v2", 3.0, 1.0), MODEL, 2)
        predictor = Predictor([node.grpc_target], model=MODEL, inputs={"x": [1.0]})
        stop = threading.Event()
        result: dict = {}
        load = threading.Thread(
            target=lambda: result.setdefault(
                "r", run_load(predictor, rate=40, duration=600, concurrency=8, stop=stop)
            )
        )
        load.start()
        try:
            promote(2)
            wait_until(lambda: predict()[1] == 2 and serving() == [2], 120, what="v2 served")
        finally:
            stop.set()
            load.join(60)
            predictor.close()
        outcomes = result["r"].outcomes
        assert outcomes["ok"] > 20 and set(outcomes) == {"ok"}, outcomes
        assert predict() == ([4.0, 7.0, 10.0], 2)

        # A broken v3: quarantined, v2 keeps serving, the master reports it.
        broken = tmp_path / "v3"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel" * 64)
        publish(store, broken, MODEL, 3)
        promote(3)

        def quarantined() -> bool:
            hosts = requests.get(
                f"{spec.master_url}/api/v1/cluster/status",
                params={"fresh": "true"},
                headers=admin,
                timeout=20,
            ).json()["hosts"]
            entries = hosts[0]["models"].get(MODEL, {}).get("quarantined", [])
            return any(q.get("version") == 3 for q in entries)

        wait_until(quarantined, 120, what="v3 quarantined")
        assert serving() == [2] and predict()[1] == 2

        # TF Serving dies and comes back empty (systemd Restart=always): config re-applied.
        fleet.kill("tfserving", node.name, signal.SIGKILL)
        fleet.start_node_service(node, "tfserving")
        wait_until(lambda: serving() == [2], 180, what="config re-applied after restart")
        assert predict() == ([4.0, 7.0, 10.0], 2)
    finally:
        fleet.down()

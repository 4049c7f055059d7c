"""The dev server's model manager in-process, in no-TF mode (fast): TF Serving's semantics."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modelfleet.devserver import FileLoader, ModelManager, ServingError
from modelfleet.devserver.loader import LoadError
from modelfleet.tfserving.config import ModelEntry
from modelfleet.tfserving.proto import serving_pb2


def _version(root: Path, model: str, version: int, content: bytes = b"pb") -> None:
    d = root / model / str(version)
    d.mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(content)


def _states(manager: ModelManager, model: str) -> dict[int, str]:
    return {r.version: r.state for r in manager.status(model)}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for v in (1, 2, 3):
        _version(tmp_path, "m", v)
    _version(tmp_path, "m", 4, b"")  # fails to load: empty saved_model.pb
    (tmp_path / "m" / "notaversion").mkdir()
    return tmp_path


@pytest.fixture
def manager() -> ModelManager:
    return ModelManager(FileLoader(), load_threads=2)


def test_unknown_model_is_not_found(manager: ModelManager) -> None:
    with pytest.raises(ServingError) as info:
        manager.status("nope")
    assert info.value.code == "NOT_FOUND"
    assert "Could not find any versions of model nope" in info.value.message


def test_specific_policy_reload_unload_and_end_states(manager: ModelManager, root: Path) -> None:
    manager.reload([ModelEntry.make("m", str(root / "m"), [1])])
    assert _states(manager, "m") == {1: "AVAILABLE"}
    manager.reload([ModelEntry.make("m", str(root / "m"), [2, 3])])
    assert _states(manager, "m") == {1: "END", 2: "AVAILABLE", 3: "AVAILABLE"}
    with pytest.raises(ServingError) as info:
        manager.status("m", 9)
    assert info.value.code == "NOT_FOUND"
    manager.reload([])  # whole config replaced: model left out is unloaded
    assert set(_states(manager, "m").values()) == {"END"}
    manager.reload([ModelEntry.make("m", str(root / "m"), [1])])  # a re-load starts afresh
    assert _states(manager, "m")[1] == "AVAILABLE"


def test_failed_version_ends_with_error(manager: ModelManager, root: Path) -> None:
    manager.reload([ModelEntry.make("m", str(root / "m"), [3, 4])])
    rows = {r.version: r for r in manager.status("m")}
    assert rows[3].state == "AVAILABLE"
    assert (rows[4].state, rows[4].error_code) == ("END", "DATA_LOSS")
    assert "empty" in rows[4].error_message


def test_new_model_failing_makes_reload_fail(manager: ModelManager, root: Path) -> None:
    _version(root, "bad", 1, b"")
    with pytest.raises(ServingError) as info:
        manager.reload([ModelEntry.make("bad", str(root / "bad"), [1])])
    assert info.value.code == "UNKNOWN" and "did not become available" in info.value.message


def test_latest_and_all_policies(manager: ModelManager, root: Path) -> None:
    latest = ModelEntry(
        name="m", base_path=str(root / "m"), versions=(), policy="latest", latest_count=2
    )
    manager.reload([latest])
    states = _states(manager, "m")
    assert states[4] == "END" and states[3] == "AVAILABLE" and 1 not in states
    manager.reload([ModelEntry(name="m", base_path=str(root / "m"), versions=(), policy="all")])
    assert _states(manager, "m")[1] == "AVAILABLE"


def test_labels_only_on_available_versions(manager: ModelManager, root: Path) -> None:
    manager.reload([ModelEntry.make("m", str(root / "m"), [1, 2], {"stable": 1, "canary": 2})])
    assert manager.resolve("m", None, "canary")[0] == 2
    assert manager.resolve("m", None, None)[0] == 2  # latest available
    with pytest.raises(ServingError) as info:
        manager.resolve("m", None, "nope")
    assert info.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ServingError) as info:
        manager.reload([ModelEntry.make("m", str(root / "m"), [1, 4], {"stable": 4})])
    assert info.value.code == "FAILED_PRECONDITION"
    assert manager.resolve("m", None, "stable")[0] == 1  # old labels kept


def test_reload_blocks_until_loaded_and_keeps_old_until_new_available(root: Path) -> None:
    gate = threading.Event()

    class SlowLoader(FileLoader):
        def load(self, path: Path):  # type: ignore[no-untyped-def]
            if path.name == "2":
                gate.wait(10)
            return super().load(path)

    manager = ModelManager(SlowLoader())
    manager.reload([ModelEntry.make("m", str(root / "m"), [1])])
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (manager.reload([ModelEntry.make("m", str(root / "m"), [2])]), done.set())
    )
    worker.start()
    try:
        import time

        deadline = time.monotonic() + 5
        while _states(manager, "m").get(2) != "LOADING" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _states(manager, "m") == {1: "AVAILABLE", 2: "LOADING"}
        assert not done.is_set()
        assert manager.resolve("m", None, None)[0] == 1  # still served while 2 loads
    finally:
        gate.set()
        worker.join(10)
    assert done.is_set()
    assert _states(manager, "m") == {1: "END", 2: "AVAILABLE"}


def test_predict_without_tensorflow_is_failed_precondition(
    manager: ModelManager, root: Path
) -> None:
    manager.reload([ModelEntry.make("m", str(root / "m"), [1])])
    request = serving_pb2.PredictRequest()
    request.model_spec.name = "m"
    with pytest.raises(ServingError) as info:
        manager.predict(request)
    assert info.value.code == "FAILED_PRECONDITION"
    request.model_spec.name = ""
    with pytest.raises(ServingError) as info:
        manager.predict(request)
    assert info.value.code == "INVALID_ARGUMENT"


def test_file_loader_missing_pb(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    with pytest.raises(LoadError) as info:
        FileLoader().load(tmp_path / "1")
    assert info.value.code == "NOT_FOUND"

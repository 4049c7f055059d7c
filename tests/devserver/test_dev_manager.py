"""The dev server's core in-process, in no-TF mode (fast): TF Serving's semantics.

Timings are scaled down through :class:`ManagerOptions` (the source polls every 50 ms, the
manager acts every 10 ms, retries are 100 ms apart); the behaviour is TF Serving's.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelfleet.devserver import FileLoader, ManagerOptions, ModelManager, ServingError
from modelfleet.devserver.loader import LoadError
from modelfleet.tfserving.config import ModelEntry
from modelfleet.tfserving.proto import serving_pb2
from tests.support.helpers import wait_until

FAST = ManagerOptions(
    max_num_load_retries=0,
    load_retry_interval=0.1,
    file_system_poll_wait=0.05,
    manage_interval=0.01,
)


def _version(root: Path, model: str, version: int, content: bytes = b"pb") -> None:
    d = root / model / str(version)
    d.mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(content)


def _states(manager: ModelManager, model: str) -> dict[int, str]:
    return {r.version: r.state for r in manager.status(model)}


def _entry(root: Path, versions: list[int], labels: dict[str, int] | None = None) -> ModelEntry:
    return ModelEntry.make("m", str(root / "m"), versions, labels)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for v in (1, 2, 3):
        _version(tmp_path, "m", v)
    _version(tmp_path, "m", 4, b"")  # fails to load: empty saved_model.pb
    (tmp_path / "m" / "notaversion").mkdir()
    return tmp_path


def _manager(loader: FileLoader | None = None, **options: object) -> ModelManager:
    fields = {**FAST.__dict__, **options}
    return ModelManager(loader or FileLoader(), ManagerOptions(**fields))  # type: ignore[arg-type]


@pytest.fixture
def manager() -> Iterator[ModelManager]:
    m = _manager()
    yield m
    m.shutdown()


def test_unknown_model_is_not_found(manager: ModelManager) -> None:
    with pytest.raises(ServingError) as info:
        manager.status("nope")
    assert info.value.code == "NOT_FOUND"
    assert "Could not find any versions of model nope" in info.value.message


def test_reload_of_existing_model_returns_before_new_versions_load(
    manager: ModelManager, root: Path
) -> None:
    manager.reload([_entry(root, [1])])  # the first config waits for every model
    assert _states(manager, "m") == {1: "AVAILABLE"}
    manager.reload([_entry(root, [2, 3])])
    # TF Serving: the source aspires the new versions at its next poll, after the RPC.
    assert _states(manager, "m") == {1: "AVAILABLE"}
    wait_until(
        lambda: _states(manager, "m") == {1: "END", 2: "AVAILABLE", 3: "AVAILABLE"},
        timeout=10,
        what="v2, v3 loaded then v1 unloaded",
    )
    with pytest.raises(ServingError) as info:
        manager.status("m", 9)
    assert info.value.code == "NOT_FOUND"
    manager.reload([])  # whole config replaced: the model left out is un-aspired at once
    wait_until(lambda: set(_states(manager, "m").values()) == {"END"}, timeout=10)
    manager.reload([_entry(root, [1])])  # new again: waited for, loaded afresh
    assert _states(manager, "m")[1] == "AVAILABLE"


def test_failed_load_is_retried_as_loading_then_ends_with_error(root: Path) -> None:
    calls: list[float] = []

    class Counting(FileLoader):
        def load(self, path: Path):  # type: ignore[no-untyped-def]
            calls.append(time.monotonic())
            return super().load(path)

    manager = _manager(Counting(), max_num_load_retries=3, load_retry_interval=0.15)
    try:
        manager.reload([_entry(root, [3])])
        manager.reload([_entry(root, [3, 4])])
        wait_until(lambda: _states(manager, "m").get(4) == "LOADING", timeout=10)
        seen = set()
        while (row := manager.status("m", 4)[0]).state != "END":
            seen.add((row.state, row.error_code))
            time.sleep(0.01)
        assert seen == {("LOADING", "OK")}  # never reported as failed between retries
        assert (row.error_code, "empty" in row.error_message) == ("DATA_LOSS", True)
        fails = calls[1:]  # calls[0] loaded v3
        assert len(fails) == 4  # the first attempt and 3 retries
        assert all(b - a >= 0.14 for a, b in itertools.pairwise(fails))
        assert _states(manager, "m")[3] == "AVAILABLE"
    finally:
        manager.shutdown()


def test_failing_new_version_never_takes_the_old_one_down(
    manager: ModelManager, root: Path
) -> None:
    manager.reload([_entry(root, [1])])
    manager.reload([_entry(root, [4])])  # the only aspired version fails
    wait_until(lambda: _states(manager, "m").get(4) == "END", timeout=10)
    for _ in range(20):
        manager.manager.tick()
    assert _states(manager, "m")[1] == "AVAILABLE"  # availability-preserving policy
    assert manager.resolve("m", None, None)[0] == 1
    # Re-aspiring v1 while it is still loaded but un-aspired is postponed (TF Serving waits
    # for it to be flushed, which never happens while no aspired version is up): the config
    # manager must never do this, it adds new versions next to the old ones instead.
    manager.reload([_entry(root, [1])])
    time.sleep(0.3)
    assert "m" in manager.manager._pending
    manager.reload([_entry(root, [2])])  # a request without v1 goes through
    wait_until(lambda: _states(manager, "m") == {1: "END", 2: "AVAILABLE", 4: "END"}, timeout=10)


def test_failed_version_is_not_retried_while_aspired_but_is_after_being_dropped(
    manager: ModelManager, root: Path
) -> None:
    manager.reload([_entry(root, [3])])
    manager.reload([_entry(root, [3, 4])])
    wait_until(lambda: _states(manager, "m").get(4) == "END", timeout=10)
    (root / "m" / "4" / "saved_model.pb").write_bytes(b"fixed")
    time.sleep(0.3)
    assert _states(manager, "m")[4] == "END"  # failed and still aspired: left alone
    manager.reload([_entry(root, [3])])
    time.sleep(0.2)  # un-aspired, flushed
    manager.reload([_entry(root, [3, 4])])
    wait_until(lambda: _states(manager, "m").get(4) == "AVAILABLE", timeout=10)


def test_new_model_failing_makes_reload_fail(manager: ModelManager, root: Path) -> None:
    manager.reload([_entry(root, [1])])
    _version(root, "bad", 1, b"")
    with pytest.raises(ServingError) as info:
        manager.reload([_entry(root, [1]), ModelEntry.make("bad", str(root / "bad"), [1])])
    assert info.value.code == "UNKNOWN"
    assert info.value.message.startswith("1 model(s) did not become available: {{{name: bad")
    assert "DATA_LOSS" in info.value.message


def test_version_directory_removed_is_unaspired(manager: ModelManager, root: Path) -> None:
    manager.reload([_entry(root, [1, 2])])
    import shutil

    shutil.rmtree(root / "m" / "2")
    wait_until(lambda: _states(manager, "m") == {1: "AVAILABLE", 2: "END"}, timeout=10)


def test_latest_and_all_policies(manager: ModelManager, root: Path) -> None:
    latest = ModelEntry(
        name="m", base_path=str(root / "m"), versions=(), policy="latest", latest_count=2
    )
    with pytest.raises(ServingError):  # the latest (4) fails: the new model is not available
        manager.reload([latest])
    states = _states(manager, "m")
    assert states[4] == "END" and 1 not in states
    wait_until(lambda: _states(manager, "m").get(3) == "AVAILABLE", timeout=10)
    manager.reload([ModelEntry(name="m", base_path=str(root / "m"), versions=(), policy="all")])
    wait_until(lambda: _states(manager, "m").get(1) == "AVAILABLE", timeout=10)


def test_labels_checked_before_loading(manager: ModelManager, root: Path) -> None:
    manager.reload([_entry(root, [1, 2])])  # returns once the latest (2) is up
    wait_until(lambda: _states(manager, "m") == {1: "AVAILABLE", 2: "AVAILABLE"}, timeout=10)
    manager.reload([_entry(root, [1, 2], {"stable": 1, "canary": 2})])
    assert manager.resolve("m", None, "canary")[0] == 2
    assert manager.resolve("m", None, None)[0] == 2  # latest available
    with pytest.raises(ServingError) as info:
        manager.resolve("m", None, "nope")
    assert info.value.code == "INVALID_ARGUMENT"
    # A label on a version that is not AVAILABLE yet fails the whole reload, even when the
    # same request would load it: nothing changes, the old labels stay.
    with pytest.raises(ServingError) as info:
        manager.reload([_entry(root, [1, 3], {"stable": 3})])
    assert info.value.code == "FAILED_PRECONDITION"
    assert "which is not currently available for inference" in info.value.message
    time.sleep(0.2)
    assert 3 not in _states(manager, "m")
    assert manager.resolve("m", None, "stable")[0] == 1


def test_serial_loads_block_other_models_while_one_retries(root: Path) -> None:
    """num_load_threads=0 (TF Serving's default): a retrying load stalls every other load."""
    _version(root, "other", 1)
    manager = _manager(max_num_load_retries=2, load_retry_interval=0.3)
    try:
        manager.reload([_entry(root, [3])])
        manager.reload([_entry(root, [3, 4])])
        wait_until(lambda: _states(manager, "m").get(4) == "LOADING", timeout=10)
        started = time.monotonic()
        other = threading.Thread(
            target=manager.reload,
            args=([_entry(root, [3, 4]), ModelEntry.make("other", str(root / "other"), [1])],),
        )
        other.start()
        other.join(10)
        assert manager.status("other")[0].state == "AVAILABLE"
        assert time.monotonic() - started > 0.4  # waited for v4's retries to end
    finally:
        manager.shutdown()


def test_predict_without_tensorflow_is_failed_precondition(
    manager: ModelManager, root: Path
) -> None:
    manager.reload([_entry(root, [1])])
    request = serving_pb2.PredictRequest()
    request.model_spec.name = "m"
    with pytest.raises(ServingError) as info:
        manager.predict(request)
    assert info.value.code == "FAILED_PRECONDITION"
    request.model_spec.name = ""
    with pytest.raises(ServingError) as info:
        manager.predict(request)
    assert info.value.code == "INVALID_ARGUMENT"


def test_metadata_errors_follow_tf_serving(manager: ModelManager, root: Path) -> None:
    manager.reload([_entry(root, [1])])
    request = serving_pb2.GetModelMetadataRequest()
    cases = [
        ("INVALID_ARGUMENT", "Missing ModelSpec"),
    ]
    with pytest.raises(ServingError) as info:
        manager.metadata(request)
    assert (info.value.code, info.value.message) == cases[0]
    request.model_spec.name = "m"
    with pytest.raises(ServingError) as info:
        manager.metadata(request)
    assert "must specify at least one metadata_field" in info.value.message
    request.metadata_field.append("signature_def")
    request.metadata_field.append("graph_def")
    with pytest.raises(ServingError) as info:
        manager.metadata(request)
    assert info.value.message == "Metadata field graph_def is not supported"
    del request.metadata_field[1]
    request.model_spec.name = "nope"
    with pytest.raises(ServingError) as info:
        manager.metadata(request)
    assert info.value.code == "NOT_FOUND"
    assert info.value.message == "Servable not found for request: Latest(nope)"
    request.model_spec.name = "m"
    request.model_spec.version.value = 7
    with pytest.raises(ServingError) as info:
        manager.metadata(request)
    assert info.value.message == "Servable not found for request: Specific(m, 7)"
    request.model_spec.version.value = 1
    response = manager.metadata(request)  # not a SavedModel (no-TF mode): no signatures
    assert response.model_spec.version.value == 1
    assert response.metadata["signature_def"].TypeName() == "tensorflow.serving.SignatureDefMap"


def test_file_loader_missing_pb(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    with pytest.raises(LoadError) as info:
        FileLoader().load(tmp_path / "1")
    assert info.value.code == "NOT_FOUND"


def test_model_removed_during_a_poll_stays_removed(tmp_path: Path) -> None:
    """Found by the fleet state machine (a retired model served for good): a source poll
    that read the old config reported the model after the update removing it."""
    from modelfleet.devserver.source import FileSystemSource

    _version(tmp_path, "m", 3)
    seen: dict[str, list[int]] = {}
    inside, release = threading.Event(), threading.Event()

    def callback(model: str, base_path: str, versions: list[int]) -> None:
        if versions and threading.current_thread().name == "poller":
            inside.set()
            release.wait(5)
        seen[model] = versions

    source = FileSystemSource(callback)
    source.update_config([_entry(tmp_path, [3])])
    poller = threading.Thread(target=source.poll, name="poller")
    poller.start()
    assert inside.wait(5)
    remover = threading.Thread(target=source.update_config, args=([],))
    remover.start()
    time.sleep(0.1)  # the update waits for the poll in progress
    release.set()
    poller.join(5)
    remover.join(5)
    assert seen["m"] == []

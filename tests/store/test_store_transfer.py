"""The shared fetch engine on both backends: slices, per-item callbacks, cancellation."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import google_crc32c
import pytest

from modelfleet.store import FetchItem, RemoteStore
from modelfleet.store.base import Cancelled
from modelfleet.store.transfer import RangeSink, plan_units

MiB = 1 << 20


def _put(store: RemoteStore, tmp_path: Path, files: dict[str, bytes]) -> None:
    pairs = []
    for key, data in files.items():
        src = tmp_path / "src" / key
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(data)
        pairs.append((src, key))
    store.upload_files(pairs)


def test_plan_cuts_large_items_and_runs_largest_first(tmp_path: Path) -> None:
    items = [
        FetchItem("a", tmp_path / "a", 10),
        FetchItem("b", tmp_path / "b", 25),
        FetchItem("e", tmp_path / "e", 0),
    ]
    units = plan_units(items, 10, workers=3)
    assert [(u.item.key, u.start, u.end) for u in units] == [
        ("a", 0, 10),
        ("b", 0, 10),
        ("b", 10, 20),
        ("b", 20, 25),
    ]
    assert units[0].whole and not units[1].whole


def test_every_item_lands_exactly_and_is_reported_once(store: RemoteStore, tmp_path: Path) -> None:
    files = {f"m/1/f{i}": os.urandom(i * 1000) for i in range(6)}  # f0 is empty
    files["m/1/big"] = os.urandom(3 * MiB + 17)
    _put(store, tmp_path, files)
    out = tmp_path / "out"
    out.mkdir()
    items = [FetchItem(k, out / k.rsplit("/", 1)[1], len(v)) for k, v in files.items()]
    seen: list[str] = []
    lock = threading.Lock()

    def on_item(item: FetchItem) -> None:
        with lock:
            seen.append(item.key)

    store.fetch(items, workers=4, slice_bytes=MiB, on_item=on_item)
    assert sorted(seen) == sorted(files)
    for item in items:
        assert item.dest.read_bytes() == files[item.key]


def test_every_range_comes_with_the_crc32c_of_the_bytes_written(
    store: RemoteStore, tmp_path: Path
) -> None:
    """One pass: the checker gets each slice's CRC32C from the engine, not by reading back."""
    data = os.urandom(3 * MiB + 17)
    _put(store, tmp_path, {"m/1/big": data, "m/1/small": data[:1000]})
    ranges: list[tuple[str, int, int, int | None]] = []
    lock = threading.Lock()

    def on_range(item: FetchItem, start: int, end: int, crc: int | None) -> None:
        with lock:
            ranges.append((item.key, start, end, crc))

    items = [
        FetchItem("m/1/big", tmp_path / "big", len(data)),
        FetchItem("m/1/small", tmp_path / "small", 1000),
    ]
    store.fetch(items, workers=4, slice_bytes=MiB, on_range=on_range)
    assert sum(end - start for key, start, end, _ in ranges if key == "m/1/big") == len(data)
    for key, start, end, crc in ranges:
        assert crc == google_crc32c.value(data[start:end]), (key, start, end)


def test_a_sink_that_did_not_see_the_bytes_reports_no_crc(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        sink = RangeSink(fd, 0, lambda _n: None, lambda: False)
        sink.write(b"abc")
        assert sink.crc == google_crc32c.value(b"abc")
        os.pwrite(fd, b"def", sink.offset)  # as an in-kernel copy would
        sink.advance(3)
        assert sink.crc is None and sink.offset == 6
    finally:
        os.close(fd)


def test_cancel_stops_a_large_fetch_within_a_chunk(store: RemoteStore, tmp_path: Path) -> None:
    size = 48 * MiB
    _put(store, tmp_path, {"m/1/big": os.urandom(size)})
    cancel = threading.Event()
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        cancel.set()  # cancel as soon as the first bytes arrive

    started = time.monotonic()
    with pytest.raises(Cancelled):
        store.fetch(
            [FetchItem("m/1/big", tmp_path / "big", size)],
            workers=2,
            slice_bytes=size,  # one unit: only the in-stream check can stop it
            progress=progress,
            cancel=cancel,
        )
    assert done[0] < size // 2, "the transfer ran on after the cancel"
    assert time.monotonic() - started < 30


def test_a_failing_unit_fails_the_fetch_not_hangs(store: RemoteStore, tmp_path: Path) -> None:
    _put(store, tmp_path, {"m/1/a": b"x" * 1000})
    items = [
        FetchItem("m/1/a", tmp_path / "a", 1000),
        FetchItem("m/1/missing", tmp_path / "missing", 5000),
    ]
    with pytest.raises(Exception) as info:
        store.fetch(items, workers=2, slice_bytes=1000)
    assert not isinstance(info.value, Cancelled)


def test_gcs_download_resumes_after_the_connection_breaks(
    gcs_emulator: object, tmp_path: Path
) -> None:
    """Every connection is cut (or stalls) once mid-download: each slice resumes from its
    last byte, a stalled one after the read timeout."""
    from modelfleet.store.gcs import GCSStore
    from tests.support.faultproxy import FaultProxy

    host = os.environ["STORAGE_EMULATOR_HOST"]
    proxy = FaultProxy(("127.0.0.1", int(host.rsplit(":", 1)[1])))
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{proxy.port}"
    try:
        bucket = gcs_emulator.create_bucket()  # type: ignore[attr-defined]
        store = GCSStore(f"gs://{bucket}", timeout=3, retry_deadline=30)
        data = os.urandom(24 * MiB)
        _put(store, tmp_path, {"m/1/big": data})
        proxy.bandwidth_bytes_per_s = 16 * MiB
        cut = threading.Event()

        def progress(_n: int) -> None:
            if not cut.is_set():
                cut.set()
                proxy.set_mode("pass")  # aborts every open connection

        store.fetch(
            [FetchItem("m/1/big", tmp_path / "big", len(data))],
            workers=3,
            slice_bytes=4 * MiB,
            progress=progress,
        )
        assert cut.is_set() and (tmp_path / "big").read_bytes() == data
    finally:
        os.environ["STORAGE_EMULATOR_HOST"] = host
        proxy.close()


def test_local_fetch_never_follows_a_symlink_below_the_root(tmp_path: Path) -> None:
    from modelfleet.store import StoreError, open_store

    secret = tmp_path / "secret"
    secret.write_bytes(b"host file")
    root = tmp_path / "bucket"
    (root / "m" / "1").mkdir(parents=True)
    (root / "m" / "1" / "link").symlink_to(secret)
    (root / "m" / "2").symlink_to(tmp_path, target_is_directory=True)
    store = open_store(str(root))
    assert store.list_objects("m") == []  # neither listed...
    for key in ("m/1/link", "m/2/secret"):
        with pytest.raises(StoreError):  # ...nor fetched
            store.fetch([FetchItem(key, tmp_path / "out", 9)])

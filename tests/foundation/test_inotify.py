"""DirWatcher wakes on an atomic rename into a watched directory, and only then."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from modelfleet.node.inotify import DirWatcher


def test_rename_into_watched_dir_wakes_within_milliseconds(tmp_path: Path) -> None:
    watcher = DirWatcher()
    if not watcher.available:
        pytest.skip("inotify not available here")
    try:
        assert watcher.watch(tmp_path)
        assert watcher.wait(0.05) is False  # nothing happened
        (tmp_path / ".tmp").write_text("x")
        watcher.wait(0.05)  # drain the create/close events of the temp file
        timer = threading.Timer(0.1, os.replace, (tmp_path / ".tmp", tmp_path / "desired.json"))
        started = time.monotonic()
        timer.start()
        assert watcher.wait(5.0) is True
        assert time.monotonic() - started < 1.0
        assert watcher.watch(tmp_path / "missing") is False
    finally:
        watcher.close()


def test_removed_directories_are_forgotten(tmp_path: Path) -> None:
    watcher = DirWatcher()
    if not watcher.available:
        pytest.skip("inotify not available here")
    sub = tmp_path / "model"
    sub.mkdir()
    try:
        assert watcher.watch(sub)
        sub.rmdir()
        watcher.forget_missing()
        sub.mkdir()
        assert watcher.watch(sub)  # watched again, not mistaken for the old watch
        (sub / "1").mkdir()
        assert watcher.wait(2.0) is True
    finally:
        watcher.close()

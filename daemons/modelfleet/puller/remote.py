"""What the bucket wants this node to hold, re-read only when it changed.

An idle poll costs ONE metadata read (the generation of ``_modelfleet/desired.json``); the
document is read again only when that generation moves or a forced sync asks for it. A
broken document is reported once per generation, not re-read every poll. Without any
desired.json the node serves the newest complete version of every model (one listing per
poll: the documented fallback).
"""

from __future__ import annotations

import logging

from ..desired import DESIRED_KEY, InvalidDesired, read_remote
from ..logsetup import kv
from ..store.base import RemoteStore
from ..store.catalog import complete_versions
from .watcher import ModelTarget, targets_from_catalog, targets_from_desired

__all__ = ["RemoteTargets"]

log = logging.getLogger(__name__)


class RemoteTargets:
    """The targets derived from the remote desired state, and the generation they came from.

    ``targets`` is None until the first successful read. Owned by the sync pass.
    """

    def __init__(self, store: RemoteStore) -> None:
        self.store = store
        self.targets: dict[str, ModelTarget] | None = None
        self.generation: int | None = None
        self.problems: list[str] = []

    def refresh(self, force: bool = False) -> bool:
        """Re-read if the remote moved; True when the targets were re-read.

        Raises StoreError (bucket unreachable) or InvalidDesired (broken document).
        """
        info = self.store.stat(DESIRED_KEY)
        if info is None:
            # No desired.json: newest complete version of every model, one listing per pass.
            catalog, bad = complete_versions(self.store)
            self.problems = [f"{b}: invalid model or version name, skipped" for b in bad]
            targets = targets_from_catalog(catalog)
            changed = targets != self.targets or self.generation != 0
            self.targets, self.generation = targets, 0
            return changed
        if not force and info.generation == self.generation and self.targets is not None:
            return False
        try:
            remote = read_remote(self.store)
        except InvalidDesired as exc:
            self.generation = info.generation  # do not re-read a broken document every poll
            self.problems = [f"desired.json: {exc}"]
            raise
        if remote.state is None:  # deleted between stat and read: the next pass takes the fallback
            return False
        generation = remote.generation
        targets, problems = targets_from_desired(remote.state)
        self.problems = [*remote.problems, *problems]
        if self.generation != generation:
            log.info("desired state changed", extra=kv(generation=generation, models=len(targets)))
        self.targets, self.generation = targets, generation
        return True

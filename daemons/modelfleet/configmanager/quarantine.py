"""Versions that failed to load, remembered in the state dir so they are not retried.

Invariant 3: a version that fails to load is quarantined, reported, and the node falls back
to its newest good version — it is not put back into TF Serving's config on every pass (nor
after a restart of the config manager, hence the file).

An entry is keyed by model and version AND by the *identity* of the copy that failed (a
digest of its manifest, :func:`manifest_identity`). Versions are immutable, so the usual
fix is a new version; but a version deleted from the bucket and published again under the
same number is another copy with another manifest: :meth:`Quarantine.forget_replaced` drops
the old entry as soon as the new copy is installed, and the new copy is tried. An operator
clears entries with the API (``modelfleet quarantine clear MODEL [VERSION]``).

File: ``<state>/configmanager/quarantine.json`` = ``{"schema": 1, "models": {model:
{version: {"error", "at", "identity"}}}}``, written atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json, read_json
from ..contracts.node import QuarantineEntry
from ..logsetup import kv
from ..store.manifest import Manifest

__all__ = ["Quarantine", "manifest_identity"]

log = logging.getLogger(__name__)


def manifest_identity(manifest: Manifest) -> str:
    """A short digest naming one published copy of a version."""
    return hashlib.sha256(manifest.dumps()).hexdigest()[:16]


class Quarantine:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, int], QuarantineEntry] = {}
        with contextlib.suppress(FileNotFoundError, ValueError, OSError):
            self._load(read_json(self.path))

    def _load(self, data: Any) -> None:
        models = data.get("models") if isinstance(data, dict) else None
        for model, versions in (models or {}).items():
            for version, e in (versions or {}).items() if isinstance(versions, dict) else ():
                if isinstance(e, dict) and str(version).isdigit():
                    self._entries[(str(model), int(version))] = QuarantineEntry(
                        str(model),
                        int(version),
                        str(e.get("error", "")),
                        str(e.get("at", "")),
                        str(e.get("identity", "")),
                    )

    def _save(self) -> None:
        models: dict[str, dict[str, Any]] = {}
        for (model, version), e in sorted(self._entries.items()):
            models.setdefault(model, {})[str(version)] = {
                "error": e.error,
                "at": e.at,
                "identity": e.identity,
            }
        atomic_write_json(self.path, {"schema": 1, "models": models})

    def add(self, model: str, version: int, identity: str, error: str) -> bool:
        """Quarantine this copy of a version; False if it already was."""
        with self._lock:
            old = self._entries.get((model, version))
            if old is not None and old.identity == identity:
                return False
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self._entries[(model, version)] = QuarantineEntry(
                model, version, error[:2000], at, identity
            )
            self._save()
            return True

    def forget_replaced(
        self, identity_of: Callable[[str, int], str | None]
    ) -> list[QuarantineEntry]:
        """Drop entries whose version is now installed as another copy (re-published)."""
        with self._lock:
            gone = []
            for key, entry in list(self._entries.items()):
                current = identity_of(*key)
                if current is not None and entry.identity and current != entry.identity:
                    gone.append(self._entries.pop(key))
            if gone:
                self._save()
        for entry in gone:
            log.info(
                "re-published version will be tried again",
                extra=kv(model=entry.model, version=entry.version, failed_copy=entry.identity),
            )
        return gone

    def clear(self, model: str, version: int | None = None) -> list[QuarantineEntry]:
        """Remove the entries of ``model`` (or of one version); returns what was removed."""
        with self._lock:
            keys = [k for k in self._entries if k[0] == model and version in (None, k[1])]
            removed = [self._entries.pop(k) for k in keys]
            if removed:
                self._save()
        for entry in removed:
            log.warning(
                "quarantine cleared: version will be tried again",
                extra=kv(model=entry.model, version=entry.version),
            )
        return sorted(removed, key=lambda e: e.version)

    def entries(
        self, model: str | None = None, version: int | None = None
    ) -> list[QuarantineEntry]:
        with self._lock:
            return [
                e
                for (m, v), e in sorted(self._entries.items())
                if model in (None, m) and version in (None, v)
            ]

    def versions(self) -> Mapping[str, set[int]]:
        """Quarantined versions per model."""
        with self._lock:
            result: dict[str, set[int]] = {}
            for model, version in self._entries:
                result.setdefault(model, set()).add(version)
            return result

    def count(self) -> int:
        with self._lock:
            return len(self._entries)

"""What TF Serving has: GetModelStatus per model, and which END-with-error rows are news.

:class:`Observer` asks TF Serving about a set of models and returns a :class:`Live`
snapshot; a TF Serving that does not answer raises :class:`Unreachable`. A model TF Serving
never saw (NOT_FOUND) has no rows.

:class:`FailureJudge` decides which failed rows mean "this load failed". TF Serving keeps
the last state of every version forever: a version that failed, was taken out of the config
and is put back (quarantine cleared, version re-published) still shows its OLD END-with-error
row until TF Serving starts the new load — up to a source poll later, or much later when
TF Serving's manager loop is busy retrying another load. Such a stale row is only believed
once the version was seen leaving END after it was put back, or at the reload deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..tfserving.client import TFServingClient, VersionStatus
from ..tfserving.errors import TFServingError

__all__ = ["FailureJudge", "Live", "Observer", "Unreachable"]

Key = tuple[str, int]


class Unreachable(Exception):
    """TF Serving did not answer (down, restarting, black-holed)."""


@dataclass(frozen=True)
class Live:
    """GetModelStatus rows per model, as of one poll."""

    rows: Mapping[str, tuple[VersionStatus, ...]]

    def available(self) -> dict[str, set[int]]:
        return {m: {r.version for r in rs if r.state == "AVAILABLE"} for m, rs in self.rows.items()}

    def settled(self, config: Mapping[str, Iterable[int]]) -> bool:
        """True when TF Serving is done moving: no version is starting, loading or unloading,
        and nothing outside ``config`` is still AVAILABLE (an old version on its way out)."""
        for model, rows in self.rows.items():
            wanted = set(config.get(model, ()))
            for r in rows:
                if r.state in ("START", "LOADING", "UNLOADING"):
                    return False
                if r.state == "AVAILABLE" and r.version not in wanted:
                    return False
        return True

    def row(self, model: str, version: int) -> VersionStatus | None:
        for r in self.rows.get(model, ()):
            if r.version == version:
                return r
        return None


class Observer:
    def __init__(self, client: TFServingClient) -> None:
        self.client = client

    def poll(self, models: Iterable[str]) -> Live:
        rows: dict[str, tuple[VersionStatus, ...]] = {}
        for model in sorted(set(models)):
            try:
                rows[model] = tuple(self.client.status(model))
            except TFServingError as exc:
                if not exc.not_found:
                    raise Unreachable(exc.message if exc.unreachable else str(exc)) from None
                rows[model] = ()
        return Live(rows)

    def states(self, model: str, version: int) -> set[str] | None:
        """States TF Serving reports for one version (``{"END"}`` if unknown); None if TF
        Serving cannot tell."""
        try:
            return {r.state for r in self.client.status(model, version)}
        except TFServingError as exc:
            return {"END"} if exc.not_found else None


class FailureJudge:
    """Tracks versions put (back) into TF Serving's config, to read END rows correctly."""

    def __init__(self) -> None:
        self._stale: dict[Key, float] = {}  # put back while an old failed row was showing

    def sent(
        self, before: Mapping[str, Iterable[int]], after: Mapping[str, Iterable[int]], live: Live
    ) -> None:
        """Record a config sent to TF Serving (``before`` → ``after``)."""
        now = time.monotonic()
        keep: dict[Key, float] = {}
        for model, versions in after.items():
            old = set(before.get(model, ()))
            for v in versions:
                key = (model, v)
                if key in self._stale:
                    keep[key] = self._stale[key]
                elif v not in old and (row := live.row(model, v)) is not None and row.failed:
                    keep[key] = now
        self._stale = keep

    def failures(
        self, live: Live, config: Mapping[str, Iterable[int]], *, deadline_passed: bool = False
    ) -> list[tuple[Key, VersionStatus]]:
        """Versions of ``config`` whose load failed, as far as can be told now."""
        failed = []
        for model, versions in config.items():
            for v in versions:
                row = live.row(model, v)
                if row is None:
                    continue
                key = (model, v)
                if row.state != "END":
                    self._stale.pop(key, None)  # the new load started: its END will be news
                elif row.failed and (key not in self._stale or deadline_passed):
                    failed.append((key, row))
        return failed

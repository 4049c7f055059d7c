"""What the config manager last saw and did, for /readyz, health and the status document.

The reconcile pass is the only writer; HTTP handlers read through the lock. Nothing here
is a cache of the disk used for decisions: every pass re-reads the local directory.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, cast

from ..contracts.node import (
    ConfigManagerStatus,
    LoadedVersion,
    MasterLink,
    ModelStatus,
    QuarantinedVersion,
    TFServingReach,
    VersionState,
)
from ..localdir import DesiredState
from .observe import Live
from .plan import Target
from .quarantine import Quarantine
from .serving import ModelServing, to_contract
from .settings import ConfigManagerSettings

__all__ = ["NodeState"]


class NodeState:
    def __init__(self, settings: ConfigManagerSettings, quarantine: Quarantine) -> None:
        self.settings = settings
        self.quarantine = quarantine
        self._lock = threading.Lock()
        self.desired = DesiredState(None)
        self.installed: dict[str, list[int]] = {}
        self.problems: list[str] = []
        self.live = Live({})
        self.target = Target({})
        self.tf_reachable = False
        self.tf_error = "not contacted yet"
        self.in_sync = False
        self.last_error: str | None = None

    # -- written by the pass -----------------------------------------------------------------

    def read(
        self, fresh: DesiredState, installed: dict[str, list[int]], problems: list[str]
    ) -> DesiredState:
        """Record a read of the local directory; returns the desired state in force.

        An unusable desired document changes nothing: the last good one stays in force.
        """
        with self._lock:
            if fresh.error:
                fresh = DesiredState(self.desired.models, fresh.error, fresh.problems)
            self.desired, self.installed, self.problems = fresh, installed, problems
            return fresh

    def observed(self, live: Live, target: Target) -> None:
        with self._lock:
            rows = dict(self.live.rows)
            rows.update(live.rows)
            self.live, self.target = Live(rows), target
            self.tf_reachable, self.tf_error = True, ""

    def finish(
        self, sent: Mapping[str, ModelServing] | None, in_sync: bool, error: str | None
    ) -> None:
        with self._lock:
            keep = set(sent or {}) | set(self.target.config) | set(self.desired.models or {})
            keep |= set(self.installed)
            self.live = Live({m: r for m, r in self.live.rows.items() if m in keep})
            self.in_sync, self.last_error = in_sync, error

    def set_unreachable(self, error: str) -> None:
        with self._lock:
            self.tf_reachable, self.tf_error, self.in_sync = False, error, False

    def set_error(self, error: str) -> None:
        with self._lock:
            self.last_error = error

    # -- read by HTTP handlers and the loop ------------------------------------------------

    def ready(self, target: str) -> tuple[bool, str]:
        with self._lock:
            if not self.tf_reachable:
                return False, f"tfserving unreachable at {target}: {self.tf_error}"
            if not self.in_sync:
                return False, self.last_error or "config not applied yet"
            return True, "serving the desired config"

    def degraded_reasons(self) -> list[str]:
        reasons = []
        with self._lock:
            if not self.tf_reachable:
                reasons.append(f"tfserving unreachable: {self.tf_error}")
            elif not self.in_sync and self.last_error:
                reasons.append(self.last_error)
            if self.desired.error:
                reasons.append(self.desired.error)
        count = self.quarantine.count()
        if count:
            reasons.append(f"{count} version(s) quarantined")
        return reasons

    def status(
        self, sent: Mapping[str, ModelServing], master: dict[str, Any] | None = None
    ) -> ConfigManagerStatus:
        s = self.settings
        with self._lock:
            desired = self.desired.models or {}
            entries = self.quarantine.entries()
            names = (
                set(desired)
                | set(self.installed)
                | set(sent)
                | {e.model for e in entries}
                | {m for m, rows in self.live.rows.items() if rows}
            )
            models = {}
            for name in sorted(names):
                models[name] = ModelStatus(
                    desired=desired[name].versions if name in desired else (),
                    local=tuple(self.installed.get(name, ())),
                    labels=sent[name].label_map if name in sent else {},
                    quarantined=tuple(
                        QuarantinedVersion(e.version, e.error, e.at, e.identity)
                        for e in entries
                        if e.model == name
                    ),
                    loaded=tuple(
                        LoadedVersion(
                            r.version,
                            cast(VersionState, r.state),
                            r.error_message if r.error_code != "OK" else None,
                        )
                        for r in self.live.rows.get(name, ())
                    ),
                    note=self.target.notes.get(name, ""),
                )
            return ConfigManagerStatus(
                hostname=s.hostname,
                zone=s.zone,
                tfserving=TFServingReach(s.grpc_target, self.tf_reachable, self.tf_error or None),
                models=models,
                config=to_contract(sent),
                in_sync=self.in_sync,
                error=self.last_error,
                master=MasterLink(**master) if master else None,
            )

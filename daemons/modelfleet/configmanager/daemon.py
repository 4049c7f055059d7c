"""config_manager: keep TF Serving's model config equal to desired ∩ installed, safely.

One reconcile pass (every ``poll_interval`` seconds, at once when the local directory
changes — :mod:`.watch` —, or on ``POST /api/v1/reload``):

1. read the local desired document and the installed versions (:mod:`modelfleet.localdir`:
   only complete, verified versions count); forget quarantine entries of versions that were
   published again;
2. ask TF Serving what it has (:mod:`.observe`); versions of the config it was sent that
   ended in an error are quarantined (:mod:`.quarantine`);
3. plan the target (:mod:`.plan`) and, unless TF Serving already serves it, walk the
   availability-preserving steps (:mod:`.apply`). A walk that hits a failing version
   quarantines it and plans again in the same pass, so TF Serving is never left with a
   config naming a broken version; each new round follows a new quarantine entry, so the
   pass ends;
4. free disk (:mod:`.diskgc`).

The first pass after start re-sends the config even if TF Serving seems to serve it: what
TF Serving was last told is not known for sure after a restart of the config manager.
When TF Serving does not answer, ``/readyz`` fails and health says degraded, with the
reason; the config is re-applied as soon as it answers again. TensorFlow is never imported.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from ..contracts.node import ConfigManagerStatus
from ..localdir import DesiredState, LocalModelDir
from ..logsetup import kv
from ..node.daemon import NodeDaemon, PassOutcome
from ..tfserving.client import TFServingClient, VersionStatus
from .apply import Applier
from .configfile import ConfigFile
from .diskgc import free_disk, protected_versions
from .metrics import ConfigManagerMetrics
from .observe import Live, Observer, Unreachable
from .plan import Target, compute_target, transition_steps
from .quarantine import Quarantine, manifest_identity
from .serving import ServingConfig, restrict
from .settings import SERVICE, ConfigManagerSettings
from .state import NodeState
from .watch import LocalWatcher

__all__ = ["ConfigManager", "PassResult"]

log = logging.getLogger(__name__)

SETTLE_INTERVAL = 0.5  # seconds between passes while TF Serving is still moving


@dataclass
class PassResult:
    applied: bool
    config_changed: bool
    error: str | None = None


class ConfigManager(NodeDaemon):
    """The config_manager daemon on the node skeleton (:mod:`modelfleet.node.daemon`)."""

    service = SERVICE
    settings: ConfigManagerSettings

    def __init__(
        self, settings: ConfigManagerSettings, client: TFServingClient | None = None
    ) -> None:
        self.metrics = ConfigManagerMetrics()
        super().__init__(settings, self.metrics.registry)
        self.client = client or TFServingClient(
            settings.grpc_target, timeout=settings.rpc_timeout, connect_timeout=0.6
        )
        self.local = LocalModelDir(settings.local_dir)
        self.quarantine = Quarantine(settings.state_dir / "configmanager" / "quarantine.json")
        self.observer = Observer(self.client)
        self.config_file = ConfigFile(settings.config_file, settings.model_base)
        self.applier = Applier(
            self.client,
            self.observer,
            self.config_file,
            self.metrics,
            reload_timeout=settings.reload_timeout,
            retry_base=settings.poll_interval,
        )
        self.state = NodeState(settings, self.quarantine)
        self.loop = self.add_loop(
            "reconcile",
            self.run_pass,
            interval=self._next_pass_in,
            max_age=lambda: max(60.0, 3 * settings.poll_interval + settings.reload_timeout),
        )
        self._pass_lock = threading.Lock()
        self._stop_watch = threading.Event()
        self._resend = True  # the first pass re-sends the config (see module docstring)
        self._settling = False  # TF Serving was still moving at the end of the last pass

    # -- the skeleton's hooks ----------------------------------------------------------------

    def recover(self) -> None:
        self.local.clean_trash()
        self.applier.sent = self.config_file.read()

    def start(self) -> None:
        super().start()
        watcher = LocalWatcher(self.local, self.wake, self._stop_watch, self.settings.poll_interval)
        threading.Thread(target=watcher.run, name="watch", daemon=True).start()

    def stop(self) -> None:
        self._stop_watch.set()
        super().stop()

    def wake(self) -> None:
        self.loop.wake()

    def ready(self) -> tuple[bool, str]:
        return self.state.ready(self.settings.grpc_target)

    def _next_pass_in(self) -> float:
        """While TF Serving is still loading or unloading what the last pass sent, look again
        soon: status, the master's drift check and disk freeing follow the unload within a
        fraction of a second instead of a whole poll interval later."""
        if self._settling:
            return min(SETTLE_INTERVAL, self.settings.poll_interval)
        return self.settings.poll_interval

    def run_pass(self, force: bool) -> PassOutcome:
        self.reconcile(force)
        reasons = self.state.degraded_reasons()
        return True, "ok" if not reasons else "degraded: " + "; ".join(reasons)

    # -- the pass --------------------------------------------------------------------------

    def reconcile(self, force: bool = False) -> PassResult:
        """One pass; ``force`` re-sends the config even if TF Serving already serves it."""
        with self._pass_lock:
            try:
                result = self._reconcile(force or self._resend)
            except Unreachable as exc:
                self.state.set_unreachable(str(exc))
                self.metrics.tfserving_up.set(0)
                self.metrics.passes.labels("unreachable").inc()
                return PassResult(False, False, f"tfserving unreachable: {exc}")
            self._resend = False
            self.metrics.passes.labels("ok" if result.error is None else "error").inc()
            return result

    def _reconcile(self, force: bool) -> PassResult:
        desired = self._read_local()
        self.quarantine.forget_replaced(self._identity)
        installed = self.state.installed
        rounds = 1 + sum(len(v) for v in installed.values())
        error: str | None = None
        applied = False
        wrote_before = self.metrics.config_writes._value.get()
        for _ in range(rounds):
            live = self.observer.poll(self._models(desired, installed))
            self._quarantine(self.applier.judge.failures(live, self._sent_versions()))
            target = self._plan(desired, installed, live)
            self.state.observed(live, target)
            if self._in_sync(target, live) and not force:
                error = None
                break
            if not force and self.applier.backing_off() and self.applier.sent == target.config:
                error = self.state.last_error
                break
            current = self._live_config(live)
            steps = transition_steps(current, target.config, installed) or [target.config]
            outcome = self.applier.walk(steps, live)
            force, applied, error = False, True, outcome.error
            if outcome.live is not None:
                self.state.observed(outcome.live, target)
            if not self._quarantine(outcome.failed):
                break  # nothing new quarantined: planning again would send the same
        in_sync = error is None and self.applier.sent == self.state.target.config
        self.state.finish(self.applier.sent, in_sync, error)
        self._settling = not self.state.live.settled(self._sent_versions())
        self.metrics.tfserving_up.set(1)
        self.metrics.quarantined.set(self.quarantine.count())
        self.metrics.served.set(sum(len(s.versions) for s in (self.applier.sent or {}).values()))
        if error is None and desired.models is not None and not desired.error:
            self._free_disk(desired, installed)
        changed = self.metrics.config_writes._value.get() != wrote_before
        return PassResult(applied=applied and error is None, config_changed=changed, error=error)

    def _read_local(self) -> DesiredState:
        """The desired document in force (the last good one if the file is unusable)."""
        fresh = self.local.read_desired()
        installed, problems = self.local.scan()
        problems += fresh.problems
        if problems != self.state.problems:
            for problem in problems:
                log.warning("bad local content skipped", extra=kv(problem=problem))
        if fresh.error and fresh.error != self.state.desired.error:
            log.error(
                "desired.json unusable; keeping the current config", extra=kv(error=fresh.error)
            )
        self.metrics.local_problems.set(len(problems))
        return self.state.read(fresh, installed, problems)

    def _identity(self, model: str, version: int) -> str | None:
        manifest = self.local.installed_manifest(model, version)
        return manifest_identity(manifest) if manifest is not None else None

    def _models(self, desired: DesiredState, installed: dict[str, list[int]]) -> set[str]:
        return set(self.applier.sent or {}) | set(
            desired.models if desired.models is not None else installed
        )

    def _sent_versions(self) -> dict[str, tuple[int, ...]]:
        return {m: s.versions for m, s in (self.applier.sent or {}).items()}

    def _quarantine(self, failed: list[tuple[tuple[str, int], VersionStatus]]) -> bool:
        """Quarantine failed versions; True if any entry is new."""
        new = False
        for (model, version), row in failed:
            identity = self._identity(model, version) or ""
            if self.quarantine.add(
                model, version, identity, f"{row.error_code}: {row.error_message}"
            ):
                new = True
                log.error(
                    "version failed to load: quarantined",
                    extra=kv(model=model, version=version, error=row.error_message),
                )
        return new

    def _plan(self, desired: DesiredState, installed: dict[str, list[int]], live: Live) -> Target:
        if desired.models is None and desired.error and self.applier.sent is not None:
            # Never had a usable desired document: the config TF Serving has stays in force.
            return Target(dict(self.applier.sent))
        return compute_target(
            desired.models, installed, self.quarantine.versions(), live.available()
        )

    def _in_sync(self, target: Target, live: Live) -> bool:
        available = live.available()
        return self.applier.sent == target.config and all(
            set(s.versions) <= available.get(m, set()) for m, s in target.config.items()
        )

    def _live_config(self, live: Live) -> ServingConfig:
        """What TF Serving demonstrably serves: the config it was sent ∩ AVAILABLE."""
        return restrict(self.applier.sent or {}, live.available())

    def _free_disk(self, desired: DesiredState, installed: dict[str, list[int]]) -> None:
        assert desired.models is not None
        configs = [self.state.target.config, self.applier.sent or {}]
        protected = protected_versions(desired.models, configs)
        for _ in free_disk(self.local, installed, protected, self.observer):
            self.metrics.deleted.inc()

    def status(self) -> ConfigManagerStatus:
        """The typed status document of ``GET /api/v1/models``."""
        return self.state.status(self.applier.sent or {}, self.master_status())

"""config_manager: keep TF Serving's model config equal to desired ∩ present, safely.

One reconcile pass (every ``poll_interval`` seconds, at once when the local directory or
desired.json changes, or on ``POST /api/v1/reload``):

1. read the puller's desired.json and the complete local versions;
2. ask TF Serving (GetModelStatus) what it has; versions that ended in an error are
   quarantined (state dir) and never put back; a TF Serving that lost its models (restart)
   is noticed here;
3. compute the target config (:mod:`.plan`) and, if TF Serving does not already serve it,
   walk the availability-preserving steps: write models.config atomically (only when its
   bytes change), HandleReloadConfigRequest under a deadline, confirm with GetModelStatus;
4. free disk: delete local versions outside desired + retention, only once TF Serving
   reports them unloaded (END / NOT_FOUND), and only inside LOCAL.

When TF Serving does not answer, ``/readyz`` fails and health says degraded, with the reason;
the config is re-applied as soon as it answers again. TensorFlow is never imported here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify

from ..atomic import write_if_changed
from ..localdir import DesiredState, LocalModelDir
from ..logsetup import kv
from ..node.health import HealthFile
from ..node.inotify import DirWatcher
from ..node.registration import Registrar
from ..tfserving.client import TFServingClient, VersionStatus
from ..tfserving.config import ConfigError, ModelEntry, parse_config, render_config
from ..tfserving.errors import TFServingError
from .metrics import ConfigManagerMetrics
from .plan import Served, compute_target, transition_steps
from .quarantine import Quarantine
from .settings import SERVICE, ConfigManagerSettings

__all__ = ["ConfigManager", "PassResult"]

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    applied: bool
    config_changed: bool
    error: str | None = None


class _Unreachable(Exception):
    pass


class ConfigManager:
    """The config_manager daemon (a :class:`modelfleet.node.admin.NodeDaemon`)."""

    service = SERVICE

    def __init__(
        self, settings: ConfigManagerSettings, client: TFServingClient | None = None
    ) -> None:
        self.settings = settings
        self.client = client or TFServingClient(
            settings.grpc_target, timeout=settings.rpc_timeout, connect_timeout=0.6
        )
        self.local = LocalModelDir(settings.local_dir)
        self.metrics = ConfigManagerMetrics()
        self.registry = self.metrics.registry
        self.health = HealthFile(settings.state_dir, SERVICE)
        self.quarantine = Quarantine(settings.state_dir / "configmanager" / "quarantine.json")
        self.registrar = Registrar(
            master_url=settings.master_url,
            token=settings.cluster_token,
            hostname=settings.hostname,
            service=SERVICE,
            port=settings.advertise_port,
            zone=settings.zone,
            interval=settings.heartbeat_interval,
        )
        self._pass_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        # What we believe TF Serving runs (None: unknown, read from models.config at start).
        self.applied: Served | None = None
        self.target: Served = {}
        self.desired = DesiredState(None)
        self.present: dict[str, list[int]] = {}
        self.live: dict[str, list[VersionStatus]] = {}
        self.notes: dict[str, str] = {}
        self.problems: list[str] = []
        self.tf_reachable = False
        self.tf_error = "not contacted yet"
        self.in_sync = False
        self.last_error: str | None = None
        self._failures = 0
        self._not_before = 0.0
        self._fingerprint: Any = None

    # -- NodeDaemon --------------------------------------------------------------------------

    def start(self) -> None:
        self.local.clean_trash()
        self.applied = self._read_config_file()
        self.registrar.start()
        for name, target in (("reconcile", self._run), ("watch", self._watch)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.registrar.stop()

    def ready(self) -> tuple[bool, str]:
        with self._state_lock:
            if not self.tf_reachable:
                return (
                    False,
                    f"tfserving unreachable at {self.settings.grpc_target}: {self.tf_error}",
                )
            if not self.in_sync:
                return False, self.last_error or "config not applied yet"
            return True, "serving the desired config"

    def blueprint(self) -> Blueprint:
        bp = Blueprint("configmanager", __name__)

        @bp.get("/models")
        def models() -> Any:
            return jsonify(self.status())

        @bp.post("/reload")
        def reload() -> Any:
            result = self.reconcile(force=True)
            return jsonify(
                {
                    "applied": result.applied,
                    "config_changed": result.config_changed,
                    "error": result.error,
                }
            )

        return bp

    # -- loops ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.reconcile()
                ok = True
            except Exception as exc:  # the loop must survive anything; health shows it
                log.exception("reconcile pass crashed")
                self.last_error = f"pass crashed: {type(exc).__name__}: {exc}"
                ok = False
            self._beat(ok)
            self._wake.wait(self.settings.poll_interval)

    def _beat(self, ok: bool) -> None:
        degraded = self.degraded_reasons()
        detail = "ok" if not degraded else "degraded: " + "; ".join(degraded)
        max_age = max(60.0, 3 * self.settings.poll_interval + self.settings.reload_timeout)
        self.health.beat("reconcile", ok=ok, detail=detail, max_age=max_age)

    def degraded_reasons(self) -> list[str]:
        reasons = []
        with self._state_lock:
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

    def _watch(self) -> None:
        """Wake the reconcile loop as soon as the local directory or desired.json changes.

        inotify on LOCAL, LOCAL/.modelfleet and every model directory wakes it within
        milliseconds; the fingerprint poll behind it (every 2 s with inotify, 0.25 s
        without) catches anything inotify could not watch.
        """
        watcher = DirWatcher()
        period = min(2.0 if watcher.available else 0.25, self.settings.poll_interval)
        try:
            while not self._stop.is_set():
                self._watch_dirs(watcher)
                if watcher.available:
                    watcher.wait(period)  # returns at once on a change
                elif self._stop.wait(period):
                    break
                fingerprint = self._local_fingerprint()
                if fingerprint != self._fingerprint:
                    if self._fingerprint is not None:
                        self._wake.set()
                    self._fingerprint = fingerprint
        finally:
            watcher.close()

    def _watch_dirs(self, watcher: DirWatcher) -> None:
        if not watcher.available:
            return
        watcher.forget_missing()
        local = self.settings.local_dir
        watcher.watch(local)
        watcher.watch(self.local.desired_path.parent)
        with contextlib.suppress(OSError), os.scandir(local) as it:
            for entry in it:
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                    watcher.watch(Path(entry.path))

    def _local_fingerprint(self) -> Any:
        items = []
        try:
            with os.scandir(self.settings.local_dir) as it:
                for entry in it:
                    if not entry.name.startswith("."):
                        items.append((entry.name, entry.stat(follow_symlinks=False).st_mtime_ns))
        except OSError:
            return None
        try:
            st = self.local.desired_path.stat()
            desired = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            desired = None
        return desired, sorted(items)

    # -- the pass ------------------------------------------------------------------------------

    def reconcile(self, force: bool = False) -> PassResult:
        """One pass; ``force`` re-sends the config even if TF Serving already serves it."""
        with self._pass_lock:
            try:
                result = self._reconcile(force)
            except _Unreachable as exc:
                with self._state_lock:
                    self.tf_reachable, self.tf_error, self.in_sync = False, str(exc), False
                self.metrics.tfserving_up.set(0)
                self.metrics.passes.labels("unreachable").inc()
                return PassResult(False, False, f"tfserving unreachable: {exc}")
            self.metrics.passes.labels("ok" if result.error is None else "error").inc()
            return result

    def _reconcile(self, force: bool) -> PassResult:
        desired = self.local.read_desired()
        present, problems = self.local.scan()
        problems += desired.problems
        if problems != self.problems:
            for problem in problems:
                log.warning("bad local content skipped", extra=kv(problem=problem))
        if desired.error and desired.error != self.desired.error:
            log.error(
                "desired.json unusable; keeping the current config", extra=kv(error=desired.error)
            )
        self.metrics.local_problems.set(len(problems))
        with self._state_lock:
            self.present, self.problems = present, problems
            if not desired.error:
                self.desired = desired
            else:
                self.desired = DesiredState(self.desired.models, desired.error, desired.problems)
        # An unusable desired.json changes nothing: the last good one (or, if there never was
        # one, the config TF Serving already has) stays in force.
        desired_models = self.desired.models
        keep_applied = bool(desired.error) and desired_models is None and self.applied is not None
        changed = False
        error: str | None = None
        applied_any = False
        for _attempt in range(6):
            live = self._poll(set(self.applied or {}) | set(desired_models or present))
            self._quarantine_failures(live)
            available = {
                m: {s.version for s in rows if s.state == "AVAILABLE"} for m, rows in live.items()
            }
            if keep_applied:
                target = dict(self.applied or {})
                notes: dict[str, str] = {}
            else:
                target, notes = compute_target(
                    desired_models, present, self.quarantine.versions, available
                )
            self.target, self.notes = target, notes
            in_sync = self.applied == target and self._serves(target, available)
            if in_sync and not force:
                changed |= self._write_file(target)
                error = None
                break
            if not force and time.monotonic() < self._not_before and self.applied == target:
                error = self.last_error
                break
            current = self._live_config(available) if not in_sync else dict(self.applied or {})
            steps = transition_steps(current, target, present) or [target]
            failed, error, wrote = self._apply_steps(steps)
            changed |= wrote
            applied_any = True
            force = False
            if not failed:
                break
        with self._state_lock:
            self.tf_reachable, self.tf_error = True, ""
            self.in_sync = error is None and self.applied == self.target
            self.last_error = error
        self.metrics.tfserving_up.set(1)
        self.metrics.quarantined.set(self.quarantine.count())
        self.metrics.served.set(sum(len(v) for v, _ in (self.applied or {}).values()))
        if error is None:
            self._failures = 0
            self._free_disk()
        return PassResult(
            applied=applied_any and error is None, config_changed=changed, error=error
        )

    def _serves(self, config: Served, available: dict[str, set[int]]) -> bool:
        return all(set(versions) <= available.get(m, set()) for m, (versions, _) in config.items())

    def _live_config(self, available: dict[str, set[int]]) -> Served:
        """What TF Serving demonstrably serves: applied config ∩ AVAILABLE."""
        result: Served = {}
        for model, (versions, labels) in (self.applied or {}).items():
            up = tuple(v for v in versions if v in available.get(model, set()))
            if up:
                result[model] = (up, tuple((lb, v) for lb, v in labels if v in up))
        return result

    def _poll(self, models: set[str]) -> dict[str, list[VersionStatus]]:
        live: dict[str, list[VersionStatus]] = {}
        for model in sorted(models):
            try:
                live[model] = self.client.status(model)
            except TFServingError as exc:
                if exc.not_found:
                    live[model] = []
                elif exc.unreachable:
                    raise _Unreachable(exc.message) from None
                else:
                    raise _Unreachable(str(exc)) from None
        with self._state_lock:
            self.live.update(live)
            for gone in set(self.live) - models:
                del self.live[gone]
        return live

    def _quarantine_failures(self, live: dict[str, list[VersionStatus]]) -> list[tuple[str, int]]:
        new = []
        for model, rows in live.items():
            for row in rows:
                if row.failed and self.quarantine.add(
                    model, row.version, f"{row.error_code}: {row.error_message}"
                ):
                    new.append((model, row.version))
                    log.error(
                        "version failed to load: quarantined",
                        extra=kv(model=model, version=row.version, error=row.error_message),
                    )
        return new

    def _entries(self, config: Served) -> list[ModelEntry]:
        base = self.settings.model_base
        return [
            ModelEntry(
                name=m,
                base_path=f"{base.rstrip('/')}/{m}",
                versions=tuple(sorted(versions)),
                labels=tuple(sorted(labels)),
            )
            for m, (versions, labels) in sorted(config.items())
        ]

    def _write_file(self, config: Served) -> bool:
        text = render_config(self._entries(config))
        wrote = write_if_changed(self.settings.config_file, text.encode())
        if wrote:
            self.metrics.config_writes.inc()
            log.info("models.config written", extra=kv(path=str(self.settings.config_file)))
        return wrote

    def _apply_steps(self, steps: list[Served]) -> tuple[list[tuple[str, int]], str | None, bool]:
        """Apply each step; stop at the first that fails. Returns (failed, error, wrote)."""
        wrote = False
        for index, step in enumerate(steps, 1):
            wrote |= self._write_file(step)
            started = time.monotonic()
            log.info(
                "applying config",
                extra=kv(
                    step=f"{index}/{len(steps)}",
                    models={m: list(v) for m, (v, _) in sorted(step.items())},
                ),
            )
            reload_error = None
            try:
                self.client.reload(self._entries(step), timeout=self.settings.reload_timeout)
                self.metrics.reloads.labels("ok").inc()
            except TFServingError as exc:
                self.metrics.reloads.labels("error").inc()
                if exc.unreachable and exc.code != "DEADLINE_EXCEEDED":
                    raise _Unreachable(exc.message) from None
                reload_error = str(exc)
                log.warning("reload answered an error", extra=kv(error=reload_error))
            failed, pending = self._confirm(step, started + self.settings.reload_timeout)
            self.metrics.reload_seconds.observe(time.monotonic() - started)
            if failed:
                # The failed versions are quarantined now; TF Serving has the rest of the step.
                self.applied = {
                    m: (tuple(v for v in vs if (m, v) not in failed), lbs)
                    for m, (vs, lbs) in step.items()
                }
                return failed, f"versions failed to load: {failed}", wrote
            if pending or reload_error:
                self._failures += 1
                backoff = min(300.0, self.settings.poll_interval * 2 ** min(self._failures, 8))
                self._not_before = time.monotonic() + backoff
                self.applied = step
                return (
                    [],
                    (
                        f"config not confirmed: {reload_error or ''}"
                        f"{' still loading: ' + str(pending) if pending else ''}"
                    ),
                    wrote,
                )
            self.applied = step
        return [], None, wrote

    def _confirm(
        self, step: Served, deadline: float
    ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """Wait until every version of ``step`` is AVAILABLE or failed (quarantined)."""
        delay = 0.02
        while True:
            live = self._poll(set(step))
            self._quarantine_failures(live)
            failed, pending = [], []
            for model, (versions, _) in sorted(step.items()):
                rows = {r.version: r for r in live.get(model, [])}
                for v in versions:
                    row = rows.get(v)
                    if row is not None and row.state == "AVAILABLE":
                        continue
                    if row is not None and row.failed:
                        failed.append((model, v))
                    else:
                        pending.append((model, v))
            if failed or not pending or time.monotonic() >= deadline:
                return failed, pending
            time.sleep(delay)
            delay = min(0.25, delay * 1.5)

    def _free_disk(self) -> None:
        """Delete local versions nobody wants, once TF Serving has unloaded them."""
        desired = self.desired.models
        if desired is None or self.desired.error:
            return  # without a trustworthy desired state nothing is deleted
        protected: dict[str, set[int]] = {}
        for model, want in desired.items():
            protected.setdefault(model, set()).update(want.versions, want.keep)
        for config in (self.target, self.applied or {}):
            for model, (versions, labels) in config.items():
                protected.setdefault(model, set()).update(versions, (v for _, v in labels))
        for model, local_versions in sorted(self.present.items()):
            for version in local_versions:
                if version in protected.get(model, set()):
                    continue
                try:
                    rows = self.client.status(model, version)
                    states = {r.state for r in rows}
                except TFServingError as exc:
                    if not exc.not_found:
                        return  # cannot tell: keep everything
                    states = {"END"}
                if states - {"END"}:
                    continue  # START / LOADING / AVAILABLE / UNLOADING: never delete
                if self.local.delete_version(model, version):
                    self.metrics.deleted.inc()
                    log.info("freed local version", extra=kv(model=model, version=version))

    # -- status ---------------------------------------------------------------------------------

    def _read_config_file(self) -> Served | None:
        try:
            text = self.settings.config_file.read_text(encoding="utf-8")
            entries = parse_config(text)
        except FileNotFoundError:
            return None
        except (OSError, ConfigError) as exc:
            log.warning("existing models.config unreadable", extra=kv(error=str(exc)))
            return None
        return {e.name: (e.versions, e.labels) for e in entries if e.policy == "specific"}

    def status(self) -> dict[str, Any]:
        with self._state_lock:
            desired = self.desired.models or {}
            names = (
                set(desired)
                | set(self.present)
                | set(self.applied or {})
                | set(self.quarantine.models())
                | {m for m, rows in self.live.items() if rows}
            )
            models = {}
            for name in sorted(names):
                applied: tuple[tuple[int, ...], tuple[tuple[str, int], ...]] = (
                    self.applied or {}
                ).get(name, ((), ()))
                models[name] = {
                    "desired": list(desired[name].versions) if name in desired else [],
                    "local": list(self.present.get(name, [])),
                    "labels": dict(applied[1]),
                    "quarantined": [
                        {"version": e["version"], "error": e["error"]}
                        for e in self.quarantine.entries(name)
                    ],
                    "loaded": [
                        {
                            "version": r.version,
                            "state": r.state,
                            "error": r.error_message if r.error_code != "OK" else None,
                        }
                        for r in self.live.get(name, [])
                    ],
                }
                if name in self.notes:
                    models[name]["note"] = self.notes[name]
            return {
                "service": SERVICE,
                "hostname": self.settings.hostname,
                "zone": self.settings.zone,
                "tfserving": {
                    "target": self.settings.grpc_target,
                    "reachable": self.tf_reachable,
                    "error": self.tf_error or None,
                },
                "models": models,
            }

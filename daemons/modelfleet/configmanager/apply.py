"""The apply machine: send configs to TF Serving one step at a time and confirm each.

For every step (see :mod:`.plan`): write models.config, send the same config with
HandleReloadConfigRequest under the reload deadline, then poll GetModelStatus until every
version of the step is AVAILABLE, or one failed, or the deadline passed.

- a label is only ever sent pointing to a version TF Serving reports AVAILABLE (TF Serving
  refuses the whole reload otherwise); a label whose version is not up yet keeps its
  previous version, or is left out until the next step;
- a failed version ends the walk at once and is returned to the caller, who quarantines it
  and plans again, so TF Serving is re-sent a config without it in the same pass: its live
  config never keeps naming a broken version;
- a step that is not confirmed (still loading at the deadline, or the reload answered an
  error) backs off exponentially before the same config is sent again.

``sent`` is TF Serving's live config as far as the config manager knows: the last config
it was sent, which is also what models.config holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..logsetup import kv
from ..tfserving.client import TFServingClient, VersionStatus
from ..tfserving.errors import TFServingError
from .configfile import ConfigFile
from .metrics import ConfigManagerMetrics
from .observe import FailureJudge, Live, Observer, Unreachable
from .serving import ModelServing, ServingConfig, to_entries

__all__ = ["Applier", "Outcome"]

log = logging.getLogger(__name__)

Failed = list[tuple[tuple[str, int], VersionStatus]]
MAX_BACKOFF = 300.0


@dataclass
class Outcome:
    """How a walk ended: ``error`` is None when every step was confirmed."""

    failed: Failed = field(default_factory=list)
    error: str | None = None
    live: Live | None = None


def _versions(config: Mapping[str, ModelServing]) -> dict[str, tuple[int, ...]]:
    return {m: s.versions for m, s in config.items()}


class Applier:
    def __init__(
        self,
        client: TFServingClient,
        observer: Observer,
        config_file: ConfigFile,
        metrics: ConfigManagerMetrics,
        *,
        reload_timeout: float,
        retry_base: float,
    ) -> None:
        self.client = client
        self.observer = observer
        self.file = config_file
        self.metrics = metrics
        self.judge = FailureJudge()
        self.reload_timeout = reload_timeout
        self.retry_base = retry_base
        self.sent: ServingConfig | None = None
        self._failures = 0
        self._not_before = 0.0

    def backing_off(self) -> bool:
        return time.monotonic() < self._not_before

    def walk(self, steps: list[ServingConfig], live: Live) -> Outcome:
        """Apply ``steps`` in order; stop at the first that fails or is not confirmed."""
        for index, wanted in enumerate(steps, 1):
            step = self._guard_labels(wanted, live)
            log.info(
                "applying config",
                extra=kv(step=f"{index}/{len(steps)}", models=_versions(step)),
            )
            started = time.monotonic()
            error = self._send(step, live)
            failed, pending, live = self._confirm(step, started + self.reload_timeout)
            self.metrics.reload_seconds.observe(time.monotonic() - started)
            if failed:
                return Outcome(failed, f"versions failed to load: {[k for k, _ in failed]}", live)
            if pending or error:
                self._back_off()
                detail = f"{error or ''}{' still loading: ' + str(pending) if pending else ''}"
                return Outcome([], f"config not confirmed: {detail.strip()}", live)
        self._failures = 0
        self._not_before = 0.0
        return Outcome([], None, live)

    def _send(self, step: ServingConfig, live: Live) -> str | None:
        """Write models.config and send the step; returns TF Serving's error, if any."""
        if self.file.write(step):
            self.metrics.config_writes.inc()
        previous = self.sent or {}
        try:
            self.client.reload(to_entries(step, self.file.model_base), timeout=self.reload_timeout)
            self.metrics.reloads.labels("ok").inc()
            error = None
        except TFServingError as exc:
            self.metrics.reloads.labels("error").inc()
            if exc.unreachable and exc.code != "DEADLINE_EXCEEDED":
                raise Unreachable(exc.message) from None
            error = str(exc)
            log.warning("reload answered an error", extra=kv(error=error))
        self.judge.sent(_versions(previous), _versions(step), live)
        self.sent = step
        return error

    def _confirm(
        self, step: ServingConfig, deadline: float
    ) -> tuple[Failed, list[tuple[str, int]], Live]:
        """Wait until every version of ``step`` is AVAILABLE or failed, or the deadline."""
        delay = 0.02
        while True:
            live = self.observer.poll(step)
            late = time.monotonic() >= deadline
            failed = self.judge.failures(live, _versions(step), deadline_passed=late)
            available = live.available()
            pending = [
                (m, v)
                for m, s in sorted(step.items())
                for v in s.versions
                if v not in available.get(m, set())
            ]
            if failed or not pending or late:
                return failed, [p for p in pending if p not in {k for k, _ in failed}], live
            time.sleep(delay)
            delay = min(0.25, delay * 1.5)

    def _guard_labels(self, step: ServingConfig, live: Live) -> ServingConfig:
        """Never point a label at a version TF Serving does not report AVAILABLE."""
        available = live.available()
        previous = self.sent or {}
        guarded: ServingConfig = {}
        for model, serving in step.items():
            up = available.get(model, set())
            old = previous[model].label_map if model in previous else {}
            labels = {}
            for label, version in serving.labels:
                if version in up:
                    labels[label] = version
                elif old.get(label) in up and old[label] in serving.versions:
                    labels[label] = old[label]
            if labels != serving.label_map:
                log.info(
                    "label deferred until its version is AVAILABLE",
                    extra=kv(model=model, wanted=serving.label_map, sent=labels),
                )
            guarded[model] = ModelServing.of(serving.versions, labels)
        return guarded

    def _back_off(self) -> None:
        self._failures += 1
        delay = min(MAX_BACKOFF, self.retry_base * 2 ** min(self._failures, 8))
        self._not_before = time.monotonic() + delay

"""The health gates of one serving node, waited for on the node itself (rollouts, undrains).

A rollout starts ``modelfleet tfserving wait-ready`` as an asynchronous job on every host of a
batch and then polls the jobs: one short launch per host instead of a controller fork held per
host through three retry loops, so a batch of hundreds of hosts waits for its gates in parallel
whatever the fork count.

The gates, in order, under one deadline (the playbooks size it from the cold-load setting):

1. ``tfserving``: TF Serving answers GetModelStatus (it has finished its start-up loads);
2. ``ready``: the puller and the config manager answer ``/readyz``;
3. ``models``: the config manager reaches TF Serving and every desired version is AVAILABLE
   there (its ``GET /api/v1/models``, read through :class:`~modelfleet.contracts.node.ModelStatus`).

Each gate is a function returning ``None`` once it passes, else one line saying why not; the
seconds spent in each are reported so a rollout can tell model loads apart from the rest.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Gate", "GateResult", "http_ready", "models_available", "wait_ready"]

# A gate: None once it passes, else why not (one line).
Gate = Callable[[], "str | None"]


@dataclass(frozen=True)
class GateResult:
    """How a wait for a node's gates ended: ``seconds`` per gate reached, in order."""

    ok: bool
    waited_s: float
    seconds: dict[str, float] = field(default_factory=dict)
    failed: str | None = None
    reason: str | None = None

    def describe(self) -> str:
        spent = ", ".join(f"{name} {s:.1f}s" for name, s in self.seconds.items())
        if self.ok:
            return f"passed every gate in {self.waited_s:.1f}s ({spent})"
        return f"gate {self.failed} not passed after {self.waited_s:.1f}s: {self.reason} ({spent})"

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "waited_s": round(self.waited_s, 2),
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "failed": self.failed,
            "reason": self.reason,
        }


def wait_ready(
    gates: Sequence[tuple[str, Gate]],
    *,
    timeout: float,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> GateResult:
    """Wait for each gate in turn until it passes, all within ``timeout`` seconds.

    A gate that raises counts as not passed (its exception is the reason), so a daemon that
    is still starting never ends the wait early; the last reason is reported at the deadline.
    """
    if timeout <= 0 or interval <= 0:
        raise ValueError("timeout and interval must be positive")
    start = clock()
    deadline = start + timeout
    seconds: dict[str, float] = {}
    for name, gate in gates:
        began = clock()
        while True:
            try:
                why = gate()
            except Exception as exc:  # any failure means "not yet"
                why = f"{type(exc).__name__}: {exc}"
            now = clock()
            seconds[name] = now - began
            if why is None:
                break
            if now >= deadline:
                return GateResult(False, now - start, seconds, name, why)
            sleep(min(interval, max(deadline - now, 0.0)))
    return GateResult(True, clock() - start, seconds)


def _get(url: str, *, token: str | None, timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url)  # noqa: S310 - http(s) URLs checked by the caller
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_ready(name: str, url: str, *, timeout: float = 2.0) -> Gate:
    """A gate passed when ``url`` (a daemon's ``/readyz``) answers 2xx."""

    def gate() -> str | None:
        try:
            status, body = _get(url, token=None, timeout=timeout)
        except (urllib.error.URLError, OSError) as exc:
            return f"{name} did not answer /readyz ({url}: {exc})"
        if 200 <= status < 300:
            return None
        detail = body.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
        return f"{name} did not answer /readyz ({url}: HTTP {status} {detail})"

    return gate


def models_available(url: str, token: Callable[[], str], *, timeout: float = 5.0) -> Gate:
    """A gate passed when the config manager at ``url`` (``/api/v1/models``) reaches TF
    Serving and serves every desired version; the token is read at each try (it may be
    issued while the node starts)."""
    from ..contracts import node, schema

    def gate() -> str | None:
        try:
            status, body = _get(url, token=token(), timeout=timeout)
        except (urllib.error.URLError, OSError) as exc:
            return f"config manager unreachable ({url}: {exc})"
        if status != 200:
            return f"config manager answered HTTP {status} ({url})"
        try:
            answer = json.loads(body)
        except ValueError:
            return f"config manager answered something else than JSON ({url})"
        reach = answer.get("tfserving") if isinstance(answer, dict) else None
        if not isinstance(reach, dict) or not reach.get("reachable"):
            why = reach.get("error") if isinstance(reach, dict) else None
            return f"config manager does not reach TF Serving ({why or 'no tfserving field'})"
        models = answer.get("models")
        if not isinstance(models, dict):
            return "config manager answered without a models object"
        pending: list[str] = []
        for name in sorted(models):
            try:
                info = schema.from_json(node.ModelStatus, models[name], f"models.{name}")
            except schema.ContractError as exc:
                return f"config manager answer breaks its contract: {exc}"
            pending.extend(f"{name}/{v}" for v in info.pending())
        if pending:
            return "not AVAILABLE in TF Serving yet: " + ", ".join(pending)
        return None

    return gate

"""Read TF Serving's request count from its Prometheus page, and wait for it to stop moving.

A drained host may stop only once no caller sends it anything: its DNS records are gone,
every client has re-resolved (connections age out with ``max_connection_age``) and the calls
in flight have finished. TF Serving says so itself: ``:tensorflow:serving:request_count``
(every Predict/Classify/Regress and REST call, by model and status; the config manager's
GetModelStatus and reloads do not count) stops increasing. :func:`wait_idle` watches it on
the node's metrics page (``--monitoring_config_file``, REST port) until it has not moved for
``quiet`` seconds, or gives up at a deadline that drains size from the DNS TTL and the
connection age.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["REQUEST_COUNT", "IdleResult", "MetricsError", "request_count", "scrape", "wait_idle"]

REQUEST_COUNT = ":tensorflow:serving:request_count"
_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\d+)?$"
)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


class MetricsError(RuntimeError):
    """The metrics page could not be read (server down, monitoring not enabled)."""


def _labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _LABEL.match(text, pos)
        if not match:
            break
        labels[match[1]] = match[2].replace('\\"', '"').replace("\\\\", "\\")
        pos = match.end()
    return labels


def request_count(page: str, *, model: str | None = None, status: str | None = None) -> int:
    """Sum of ``:tensorflow:serving:request_count`` on a Prometheus page (0 if absent)."""
    total = 0.0
    for line in page.splitlines():
        if not line.startswith(REQUEST_COUNT):
            continue
        match = _SAMPLE.match(line.strip())
        if not match or match["name"] != REQUEST_COUNT:
            continue
        labels = _labels(match["labels"] or "")
        if model is not None and labels.get("model_name") != model:
            continue
        if status is not None and labels.get("status") != status:
            continue
        try:
            total += float(match["value"])
        except ValueError:
            continue
    return int(total)


def scrape(url: str, timeout: float = 5.0) -> str:
    """GET a Prometheus page; :class:`MetricsError` with one line on any failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise MetricsError(f"{url}: {exc}") from None


@dataclass(frozen=True)
class IdleResult:
    """How a wait for zero request rate ended."""

    idle: bool
    waited_s: float
    count: int
    moved: int  # requests counted while waiting
    last_rate: float  # requests/s over the last interval
    error: str = ""

    def describe(self) -> str:
        if self.idle:
            return (
                f"idle: request count steady at {self.count} "
                f"({self.moved} requests while waiting {self.waited_s:.1f}s)"
            )
        return (
            f"NOT idle after {self.waited_s:.1f}s: {self.last_rate:.1f} requests/s, "
            f"{self.moved} requests while waiting{'; ' + self.error if self.error else ''}"
        )


def wait_idle(
    read: Callable[[], int],
    *,
    quiet: float,
    timeout: float,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> IdleResult:
    """Poll ``read()`` (a request count) until it has not changed for ``quiet`` seconds.

    Gives up at ``timeout`` (not idle). A read that fails is retried until the deadline; the
    wait never succeeds on a server it cannot read (that would stop a server blindly).
    """
    if quiet <= 0 or timeout <= 0 or interval <= 0:
        raise ValueError("quiet, timeout and interval must be positive")
    started = clock()
    deadline = started + timeout
    first: int | None = None
    last: int | None = None
    last_change = started
    last_at = started
    rate = 0.0
    error = ""
    while True:
        now = clock()
        try:
            count = read()
            error = ""
        except MetricsError as exc:
            error = str(exc)
            count = None  # type: ignore[assignment]
        if count is not None:
            if first is None:
                first = count
            if last is None or count != last:
                if last is not None and now > last_at:
                    rate = (count - last) / (now - last_at)
                last_change = now
            else:
                rate = 0.0
            last, last_at = count, now
            if now - last_change >= quiet:
                return IdleResult(True, now - started, count, count - first, 0.0)
        if now >= deadline:
            return IdleResult(
                False,
                now - started,
                last or 0,
                (last or 0) - (first or 0),
                rate,
                error or ("" if last is not None else "metrics never read"),
            )
        sleep(min(interval, max(0.0, deadline - now)))

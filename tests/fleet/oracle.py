"""The oracle: what every node must serve, and what a converged node looks like.

Stated here independently of the code under test, from docs/contracts.md:

- a model serves its desired ``versions``, else its newest published version; a retired
  model serves nothing;
- a version that fails to load is quarantined and never served; the node serves the good
  desired versions, or — when none is good — falls back: it keeps serving what is up (the
  good versions it served before), else the newest good installed version;
- a label points at its version when that version is served, else at the newest served one.

A node has converged for a model when TF Serving has settled (nothing START / LOADING /
UNLOADING) on exactly that set, the config manager is in sync and its config (= what TF
Serving was sent) equals it with the expected labels, every desired corrupt version is in
its quarantine, the puller's view of the disk is the disk, and the disk holds what is served
plus at most the retention's one spare version (nothing at all for a retired model).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fleet.harness import NodeView

__all__ = ["Expectation", "expect", "node_problems"]

RETENTION = 1  # the puller's default: one spare version kept for a fast rollback


@dataclass(frozen=True)
class Expectation:
    model: str
    target: tuple[int, ...]  # desired serving set
    good: tuple[int, ...]  # target minus corrupt: served exactly, when not empty
    labels: Mapping[str, int] = field(default_factory=dict)
    published: tuple[int, ...] = ()
    corrupt: frozenset[int] = frozenset()
    retired: bool = False

    @property
    def fallback(self) -> bool:
        return bool(self.target) and not self.good

    def labels_for(self, serving: list[int]) -> dict[str, int]:
        if not serving:
            return {}
        return {k: (v if v in serving else max(serving)) for k, v in self.labels.items()}


def expect(model: str, entry: Mapping[str, Any] | None, corrupt: set[int]) -> Expectation:
    entry = entry or {}
    published = tuple(sorted(entry.get("published") or ()))
    retired = bool(entry.get("retired"))
    if retired:
        target: tuple[int, ...] = ()
    elif entry.get("versions"):
        target = tuple(sorted(entry["versions"]))
    else:
        target = published[-1:]
    return Expectation(
        model=model,
        target=target,
        good=tuple(v for v in target if v not in corrupt),
        labels=dict(entry.get("labels") or {}),
        published=published,
        corrupt=frozenset(corrupt),
        retired=retired,
    )


def node_problems(view: NodeView, exp: Expectation) -> list[str]:
    """Why ``view`` is not (yet) converged for ``exp.model``; [] when it is."""
    m, p = exp.model, []
    if view.tf_error:
        return [f"tfserving: {view.tf_error}"]
    serving = view.available(m)
    if view.unsettled(m):
        p.append(f"TF Serving not settled: {view.unsettled(m)}")
    if not exp.target:
        if serving:
            p.append(f"serves {serving}, should serve nothing")
    elif exp.good:
        if serving != list(exp.good):
            p.append(f"serves {serving}, should serve {list(exp.good)}")
    elif set(serving) & exp.corrupt or not set(serving) <= set(exp.published):
        p.append(f"fallback serves {serving}: only good published versions may be served")
    elif not serving and set(view.installed.get(m, [])) - exp.corrupt:
        p.append(f"serves nothing although good versions are installed: {view.installed.get(m)}")
    p += _config_manager(view, exp, serving)
    p += _puller_and_disk(view, exp, serving)
    return p


def _config_manager(view: NodeView, exp: Expectation, serving: list[int]) -> list[str]:
    m, cm, p = exp.model, view.cm, []
    if cm is None:
        return [f"config manager: {view.cm_error}"]
    if not cm.get("in_sync"):
        p.append(f"config manager not in sync: {cm.get('error')}")
    sent = (cm.get("config") or {}).get(m)
    if not serving:
        if sent is not None and exp.target and exp.good:
            p.append(f"config names {sent} while nothing is served")
        if sent is not None and not exp.target:
            p.append(f"config still names {sent} for a model that should serve nothing")
    elif sent is None or sent["versions"] != serving:
        p.append(f"config manager sent {sent}, TF Serving serves {serving}")
    elif sent["labels"] != exp.labels_for(serving):
        p.append(f"labels sent {sent['labels']}, expected {exp.labels_for(serving)}")
    quarantined = {
        q["version"] for q in ((cm.get("models") or {}).get(m) or {}).get("quarantined", [])
    }
    missing = set(exp.target) & exp.corrupt - quarantined
    if missing:
        p.append(f"corrupt desired versions {sorted(missing)} not quarantined")
    wrongly = quarantined & set(exp.good)
    if wrongly:
        p.append(f"good versions {sorted(wrongly)} quarantined")
    return p


def _puller_and_disk(view: NodeView, exp: Expectation, serving: list[int]) -> list[str]:
    m, p = exp.model, []
    installed = view.installed.get(m, [])
    if view.puller is None:
        p.append(f"puller: {view.puller_error}")
    else:
        if not (view.puller.get("last_sync") or {}).get("ok"):
            p.append(f"puller's last sync failed: {view.puller.get('last_sync')}")
        local = (view.puller.get("local") or {}).get(m, [])
        if sorted(local) != installed:
            p.append(f"puller reports {local} installed, the disk holds {installed}")
    if not set(serving) <= set(installed):
        p.append(f"serves {serving} but only {installed} is installed")
    if not set(exp.target) <= set(installed):
        p.append(f"desired {list(exp.target)} not all installed: {installed}")
    spare = set(installed) - set(exp.target) - set(serving)
    if len(spare) > RETENTION:
        p.append(f"disk not freed: {sorted(spare)} kept beyond the retention")
    if exp.retired and installed:
        p.append(f"retired model still on disk: {installed}")
    if view.not_installed:
        p.append(f"not installed directories: {view.not_installed}")
    return p

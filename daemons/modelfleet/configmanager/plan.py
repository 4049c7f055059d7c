"""Pure planning: what TF Serving should serve, and the steps to get there without a gap.

``compute_target`` turns desired ∩ present (minus quarantined versions) into a config,
falling back to the newest good version when nothing desired is usable. ``transition_steps``
orders the change so that serving never has a hole (DESIGN, "upgrades keep serving"):

1. add the new versions next to the old ones (labels unchanged) and wait for AVAILABLE;
2. move the labels to the new versions (both still loaded);
3. drop the old versions and the models that left.

TF Serving only accepts a label on an AVAILABLE version, and a request for a label or a
version must never find it missing, hence three reloads rather than one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..localdir import DesiredModel

__all__ = ["Served", "compute_target", "transition_steps"]

# model -> (versions, labels)
Served = dict[str, tuple[tuple[int, ...], tuple[tuple[str, int], ...]]]


def compute_target(
    desired: Mapping[str, DesiredModel] | None,
    present: Mapping[str, list[int]],
    quarantined: Callable[[str], set[int]],
    available: Mapping[str, set[int]],
) -> tuple[Served, dict[str, str]]:
    """The config to serve, and a note per model that is on a fallback."""
    target: Served = {}
    notes: dict[str, str] = {}
    if desired is None:
        # No desired.json from the puller yet: serve the newest good local version of each.
        for model, versions in present.items():
            good = sorted(set(versions) - quarantined(model))
            if good:
                target[model] = ((good[-1],), ())
        return target, notes
    for model, want in desired.items():
        local = set(present.get(model, ()))
        bad = quarantined(model)
        good_local = local - bad
        versions = sorted(v for v in want.versions if v in good_local)
        if not versions:
            current = sorted(set(available.get(model, ())) & good_local)
            if current:
                versions = current
            elif good_local:
                versions = [max(good_local)]
            if want.versions:
                missing = [v for v in want.versions if v not in good_local]
                notes[model] = (
                    f"desired {list(want.versions)} not servable "
                    f"({', '.join(_why(v, local, bad) for v in missing)}); "
                    f"serving {versions or 'nothing'}"
                )
        if not versions:
            continue
        labels = []
        for label, version in want.labels:
            labels.append((label, version if version in versions else max(versions)))
        target[model] = (tuple(versions), tuple(sorted(labels)))
    return target, notes


def _why(version: int, local: set[int], bad: set[int]) -> str:
    if version in bad:
        return f"{version} quarantined"
    if version not in local:
        return f"{version} not on disk yet"
    return f"{version} unusable"


def transition_steps(
    current: Served, target: Served, present: Mapping[str, list[int]]
) -> list[Served]:
    """Configs to apply in order (each different from the one before) to reach ``target``."""
    step1: Served = {}
    for model in sorted(set(current) | set(target)):
        on_disk = set(present.get(model, ()))
        old = set(current[model][0]) & on_disk if model in current else set()
        new = set(target[model][0]) if model in target else set()
        versions = tuple(sorted(old | new))
        if not versions:
            continue
        old_labels = current[model][1] if model in current else ()
        labels = tuple((lb, v) for lb, v in old_labels if v in old)
        step1[model] = (versions, labels)
    step2: Served = {
        model: (versions, target[model][1] if model in target else labels)
        for model, (versions, labels) in step1.items()
    }
    steps: list[Served] = []
    previous = current
    for step in (step1, step2, target):
        if step != previous:
            steps.append(step)
            previous = step
    return steps

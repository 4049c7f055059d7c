"""Pure planning: what TF Serving should serve, and the steps to get there without a gap.

:func:`compute_target` turns desired ∩ installed (minus quarantined versions) into a config,
falling back to what is up, or the newest good installed version, when nothing desired is
servable. :func:`transition_steps` orders a change so that serving never has a hole:

1. add the new versions next to the old ones (labels unchanged) and wait for AVAILABLE;
2. move the labels to the new versions (both still loaded);
3. drop the old versions and the models that left.

TF Serving checks labels before it loads anything and refuses a label on a version that is
not AVAILABLE, and a request for a label or a version must never find it missing: hence
three reloads rather than one. Step 1 also never drops a version TF Serving was serving,
so no version is ever taken out and put back while TF Serving is still unloading it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..localdir import DesiredModel
from .serving import ModelServing, ServingConfig

__all__ = ["Target", "compute_target", "transition_steps"]


@dataclass(frozen=True)
class Target:
    """The config to serve, and a note per model that is on a fallback (shown in status)."""

    config: ServingConfig
    notes: dict[str, str] = field(default_factory=dict)


def compute_target(
    desired: Mapping[str, DesiredModel] | None,
    installed: Mapping[str, Sequence[int]],
    quarantined: Mapping[str, set[int]],
    available: Mapping[str, set[int]],
) -> Target:
    """What to serve now (see the module docstring)."""
    if desired is None:
        # No desired document from the puller yet: the newest good installed version of each.
        config: ServingConfig = {}
        for model, on_disk in installed.items():
            newest = sorted(set(on_disk) - quarantined.get(model, set()))[-1:]
            if newest:
                config[model] = ModelServing(tuple(newest))
        return Target(config)
    config, notes = {}, {}
    for model, want in desired.items():
        local = set(installed.get(model, ()))
        bad = quarantined.get(model, set())
        good: set[int] = local - bad
        versions: list[int] = sorted(v for v in want.versions if v in good)
        if not versions:
            versions = sorted(set(available.get(model, set())) & good) or sorted(good)[-1:]
            if want.versions:
                missing = ", ".join(_why(v, local, bad) for v in want.versions if v not in good)
                notes[model] = (
                    f"desired {list(want.versions)} not servable ({missing}); "
                    f"serving {versions or 'nothing'}"
                )
        if not versions:
            continue
        labels = {label: (v if v in versions else max(versions)) for label, v in want.labels}
        config[model] = ModelServing.of(versions, labels)
    return Target(config, notes)


def _why(version: int, local: set[int], bad: set[int]) -> str:
    if version in bad:
        return f"{version} quarantined"
    if version not in local:
        return f"{version} not installed yet"
    return f"{version} unusable"


def transition_steps(
    current: Mapping[str, ModelServing],
    target: Mapping[str, ModelServing],
    installed: Mapping[str, Sequence[int]],
) -> list[ServingConfig]:
    """Configs to apply in order (each different from the one before) to reach ``target``."""
    grow: ServingConfig = {}
    for model in sorted(set(current) | set(target)):
        on_disk = set(installed.get(model, ()))
        old = set(current[model].versions) & on_disk if model in current else set()
        new = set(target[model].versions) if model in target else set()
        if not old | new:
            continue
        old_labels = current[model].labels if model in current else ()
        grow[model] = ModelServing(
            tuple(sorted(old | new)), tuple((lb, v) for lb, v in old_labels if v in old)
        )
    relabel: ServingConfig = {
        model: ModelServing(s.versions, target[model].labels if model in target else s.labels)
        for model, s in grow.items()
    }
    steps: list[ServingConfig] = []
    previous: Mapping[str, ModelServing] = current
    for step in (grow, relabel, dict(target)):
        if step != previous:
            steps.append(step)
            previous = step
    return steps

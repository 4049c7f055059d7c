"""Turn the remote desired state into what this node should hold, and diff it with disk.

Pure functions, no I/O: the daemon feeds them the remote document (or the fallback
catalog) and the local scan, and gets back small records — the versions to serve per
model and the ``add`` ops still missing — plus the local desired.json for the config
manager. Keeping them pure makes the reconcile rules easy to test exhaustively.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..desired import DesiredState, served_versions
from ..localdir import DesiredModel

__all__ = [
    "AddOp",
    "ModelTarget",
    "diff",
    "local_desired_models",
    "targets_from_catalog",
    "targets_from_desired",
]


@dataclass(frozen=True)
class ModelTarget:
    """What one model should look like on this node."""

    versions: tuple[int, ...]
    labels: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class AddOp:
    model: str
    version: int


def targets_from_desired(state: DesiredState) -> tuple[dict[str, ModelTarget], list[str]]:
    """Targets from the checked remote document (:func:`modelfleet.desired.read_remote`).

    Retired models and models with nothing to serve are left out, which tells the config
    manager to unload them. Labels pointing outside the served set are dropped and reported.
    """
    targets: dict[str, ModelTarget] = {}
    problems: list[str] = []
    for name, entry in sorted(state.models.items()):
        versions = served_versions(entry)
        if not versions:
            continue
        labels = {}
        for label, version in sorted(entry.labels.items()):
            if version in versions:
                labels[label] = version
            else:
                problems.append(f"model {name}: label {label}={version} is not a served version")
        targets[name] = ModelTarget(tuple(versions), labels)
    return targets, problems


def targets_from_catalog(catalog: dict[str, list[int]]) -> dict[str, ModelTarget]:
    """No desired.json: serve the newest complete version of every model."""
    return {m: ModelTarget((max(vs),)) for m, vs in sorted(catalog.items()) if vs}


def diff(targets: dict[str, ModelTarget], present: dict[str, list[int]]) -> list[AddOp]:
    """Versions to download: wanted and not on disk, newest first within a model."""
    ops: list[AddOp] = []
    for model, target in sorted(targets.items()):
        have = set(present.get(model, ()))
        ops.extend(AddOp(model, v) for v in sorted(target.versions, reverse=True) if v not in have)
    return ops


def local_desired_models(
    targets: dict[str, ModelTarget], present: dict[str, list[int]], retention: int
) -> dict[str, DesiredModel]:
    """The ``models`` of the local desired document (:class:`~modelfleet.localdir.LocalDesired`).

    ``keep`` holds the newest ``retention`` installed versions that are not served, so a
    rollback finds its version already on disk; everything else of the model may be freed
    by the config manager.
    """
    out: dict[str, DesiredModel] = {}
    for model, target in sorted(targets.items()):
        served = set(target.versions)
        spare = sorted((v for v in present.get(model, ()) if v not in served), reverse=True)
        out[model] = DesiredModel(
            versions=tuple(sorted(served)),
            labels=tuple(sorted(target.labels.items())),
            keep=tuple(sorted(spare[:retention])) if retention > 0 else (),
        )
    return out

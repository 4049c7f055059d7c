"""The typed config the config manager plans, sends to TF Serving and writes to models.config.

A :data:`ServingConfig` maps each model to a :class:`ModelServing`: the versions TF Serving
should serve (always through the ``specific`` policy) and its version labels. It replaces
the ``(versions, labels)`` tuples of earlier code, so every step of the planner and of the
apply machine says what it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..contracts.node import ModelServingConfig
from ..tfserving.config import ModelEntry

__all__ = ["ModelServing", "ServingConfig", "from_entries", "to_contract", "to_entries"]


@dataclass(frozen=True)
class ModelServing:
    """One model in TF Serving's config: ``versions`` ascending, ``labels`` sorted pairs."""

    versions: tuple[int, ...]
    labels: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def of(versions: Iterable[int], labels: Mapping[str, int] | None = None) -> ModelServing:
        return ModelServing(tuple(sorted(set(versions))), tuple(sorted((labels or {}).items())))

    @property
    def label_map(self) -> dict[str, int]:
        return dict(self.labels)

    def keep_only(self, versions: Iterable[int]) -> ModelServing | None:
        """This model restricted to ``versions`` (labels pointing elsewhere dropped); None if
        nothing is left."""
        wanted = set(versions)
        kept = tuple(v for v in self.versions if v in wanted)
        if not kept:
            return None
        return ModelServing(kept, tuple((lb, v) for lb, v in self.labels if v in kept))


ServingConfig = dict[str, ModelServing]


def restrict(config: Mapping[str, ModelServing], versions: Mapping[str, set[int]]) -> ServingConfig:
    """``config`` keeping, per model, only the versions in ``versions[model]``."""
    result: ServingConfig = {}
    for model, serving in config.items():
        kept = serving.keep_only(versions.get(model, set()))
        if kept is not None:
            result[model] = kept
    return result


def to_entries(config: Mapping[str, ModelServing], model_base: str) -> list[ModelEntry]:
    """models.config entries; ``base_path`` is ``<model_base>/<model>`` (TF Serving's view)."""
    base = model_base.rstrip("/")
    return [
        ModelEntry(name=m, base_path=f"{base}/{m}", versions=s.versions, labels=s.labels)
        for m, s in sorted(config.items())
    ]


def from_entries(entries: Iterable[ModelEntry]) -> ServingConfig:
    """Back from models.config; only ``specific`` entries (the only ones we ever write)."""
    return {
        e.name: ModelServing(tuple(sorted(e.versions)), tuple(sorted(e.labels)))
        for e in entries
        if e.policy == "specific"
    }


def to_contract(config: Mapping[str, ModelServing]) -> dict[str, ModelServingConfig]:
    return {m: ModelServingConfig(s.versions, s.label_map) for m, s in sorted(config.items())}

"""The remote desired state, ``<remote>/_modelfleet/desired.json``, as typed data.

One declaration (:class:`DesiredState` of :class:`ModelEntry`) is read by the puller, edited
by the master and the CLI, and published in the OpenAPI document. The serving rule is
written once, in :func:`served_versions`: ``versions`` when set, else the newest published
version, nothing when retired.

Reading is lenient per model (a bad entry is dropped and reported, the rest still serves);
encoding is strict (a document that breaks the contract is never written).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..contracts.fields import Label, ModelName, Version
from ..contracts.schema import ContractError, from_json, to_json
from ..names import InvalidName, shown, validate_model_name

__all__ = [
    "HISTORY_LIMIT",
    "SCHEMA",
    "DesiredState",
    "InvalidDesired",
    "ModelEntry",
    "encode_desired",
    "parse_desired",
    "served_versions",
]

SCHEMA = 1
HISTORY_LIMIT = 20  # previous serving sets kept for rollback


class InvalidDesired(ValueError):
    """A desired-state document or model entry that does not follow the contract."""


def _versions(values: Any) -> tuple[int, ...]:
    return tuple(sorted(set(values)))


@dataclass(frozen=True)
class ModelEntry:
    """One model's catalog and desired state.

    ``published``: complete versions (manifest written), maintained by publish/adopt and
    delete-version. ``versions``: what to serve; empty = follow the newest published.
    ``labels``: label → version, every labelled version served. ``retired``: serve nothing.
    ``pinned``: informational, serving follows ``versions``. ``history``: previous serving
    sets, newest last, for rollback.
    """

    published: tuple[Version, ...] = ()
    versions: tuple[Version, ...] = ()
    labels: Mapping[Label, Version] = field(default_factory=dict)
    retired: bool = False
    pinned: bool = False
    history: tuple[tuple[Version, ...], ...] = ()

    def __post_init__(self) -> None:
        # One spelling of every entry: sorted, unique, history bounded.
        object.__setattr__(self, "published", _versions(self.published))
        object.__setattr__(self, "versions", _versions(self.versions))
        object.__setattr__(self, "labels", dict(sorted(self.labels.items())))
        history = tuple(_versions(h) for h in self.history if h)[-HISTORY_LIMIT:]
        object.__setattr__(self, "history", history)

    @property
    def served(self) -> tuple[int, ...]:
        return served_versions(self)

    def problems(self) -> list[str]:
        """What makes this entry unfit to be written (labels outside the served set)."""
        served = set(self.served)
        return [
            f"label {label} points at {version}, which is not served"
            for label, version in self.labels.items()
            if not self.retired and version not in served
        ]


def served_versions(entry: ModelEntry) -> tuple[int, ...]:
    """What nodes serve for ``entry``: ``versions``, else the newest published; nothing when
    retired. The one statement of this rule (puller, master, CLI, triage use it)."""
    if entry.retired:
        return ()
    if entry.versions:
        return entry.versions
    return (max(entry.published),) if entry.published else ()


@dataclass(frozen=True)
class DesiredState:
    """``_modelfleet/desired.json``: the catalog and desired state of every model."""

    schema: Literal[1] = 1
    updated_at: str = ""
    updated_by: str = ""
    models: Mapping[ModelName, ModelEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", dict(sorted(self.models.items())))

    def entry(self, model: str) -> ModelEntry | None:
        return self.models.get(model)

    def with_entry(self, model: str, entry: ModelEntry) -> DesiredState:
        return replace(self, models={**self.models, model: entry})


def _entry_from_json(name: str, raw: Any) -> ModelEntry:
    try:
        validate_model_name(name)
    except InvalidName as exc:
        raise InvalidDesired(str(exc)) from None
    if isinstance(raw, dict):
        # Written by older versions: null meant "absent" for these fields.
        raw = {k: v for k, v in raw.items() if v is not None}
    try:
        entry: ModelEntry = from_json(ModelEntry, raw, f"model {name}")
    except ContractError as exc:
        raise InvalidDesired(str(exc)) from None
    return entry


def parse_desired(data: bytes) -> tuple[DesiredState, list[str]]:
    """Parse a document leniently: a bad model entry is dropped and reported, not fatal.

    Raises :class:`InvalidDesired` when the document as a whole is unusable.
    """
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidDesired(f"desired.json is not JSON: {shown(str(exc), 120)}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InvalidDesired("desired.json must be an object with schema 1")
    raw_models = doc.get("models")
    if not isinstance(raw_models, dict):
        raise InvalidDesired("desired.json must have a models object")
    models: dict[str, ModelEntry] = {}
    problems: list[str] = []
    for name, raw in raw_models.items():
        try:
            models[name] = _entry_from_json(name, raw)
        except InvalidDesired as exc:
            problems.append(str(exc))
    updated_at, updated_by = doc.get("updated_at"), doc.get("updated_by")
    state = DesiredState(
        updated_at=updated_at if isinstance(updated_at, str) else "",
        updated_by=updated_by if isinstance(updated_by, str) else "",
        models=models,
    )
    return state, problems


def encode_desired(state: DesiredState) -> bytes:
    """The bytes to store; raises :class:`InvalidDesired` for a state that breaks the contract
    (nothing is written then)."""
    data = to_json(state)
    try:
        from_json(DesiredState, data)  # every name and version by the same rules as a reader
    except ContractError as exc:
        raise InvalidDesired(str(exc)) from None
    for name, entry in state.models.items():
        for problem in entry.problems():
            raise InvalidDesired(f"model {name}: {problem}")
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

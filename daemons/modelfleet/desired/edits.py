"""Pure edits of the desired state: one :class:`Edit` record, one :func:`apply`.

The master's API, the CLI's ``--direct`` break-glass path and ``modelfleet publish`` all
describe a change as an :class:`Edit` and apply it here, so a rule (what a promote does to
labels and history, when a delete is refused) exists once. Nothing here does I/O; an edit
that does not fit the current state raises :class:`EditError` with the HTTP status that
says why: 404 for a model that was never published (a typo never becomes state), 409 for an
edit that conflicts with the current state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ..names import parse_version, validate_label, validate_model_name
from .document import DesiredState, ModelEntry, served_versions

__all__ = ["OPS", "Edit", "EditConflict", "EditError", "Op", "UnknownModel", "apply"]

Op = Literal[
    "promote",
    "rollback",
    "pin",
    "unpin",
    "label",
    "unlabel",
    "retire",
    "unretire",
    "publish",
    "forget_version",
]
OPS: tuple[Op, ...] = (
    "promote",
    "rollback",
    "pin",
    "unpin",
    "label",
    "unlabel",
    "retire",
    "unretire",
    "publish",
    "forget_version",
)
_NEEDS_VERSION = ("promote", "publish", "forget_version", "label")
_ALLOWED_WHEN_RETIRED = ("retire", "unretire", "publish", "forget_version")


class EditError(ValueError):
    """An edit that does not fit the current state; ``status`` is its HTTP status."""

    status = 409
    reason = "invalid_for_current_state"


class UnknownModel(EditError):
    status = 404
    reason = "unknown_model"


class EditConflict(EditError):
    status = 409
    reason = "invalid_for_current_state"


@dataclass(frozen=True)
class Edit:
    """One change of one model, as an operator asked for it (validated on construction)."""

    op: Op
    model: str
    version: int | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown edit {self.op!r}")
        validate_model_name(self.model)
        if self.version is not None:
            parse_version(self.version)
        elif self.op in _NEEDS_VERSION:
            raise ValueError(f"{self.op} needs a version")
        if self.op in ("label", "unlabel"):
            validate_label(self.label)

    def describe(self) -> str:
        """``promote ranker 7``: for messages and the audit log."""
        parts = [self.op, self.model, self.label, self.version]
        return " ".join(str(p) for p in parts if p is not None)


def _require_published(entry: ModelEntry, model: str, version: int) -> None:
    if version not in entry.published:
        raise EditConflict(
            f"version {version} of {model} is not published (complete versions: "
            f"{', '.join(map(str, entry.published)) or 'none'})"
        )


def _serve(entry: ModelEntry, versions: tuple[int, ...] | list[int]) -> ModelEntry:
    """Serve exactly ``versions``; the previous serving set goes to history, labels that no
    longer point at a served version are dropped."""
    current = served_versions(entry)
    new = tuple(sorted(set(versions)))
    history = entry.history
    if current and current != new:
        history = (*history, current)
    labels = {k: v for k, v in entry.labels.items() if v in new}
    return replace(entry, versions=new, labels=labels, history=history)


def apply(state: DesiredState, edit: Edit) -> DesiredState:
    """The state after ``edit``; raises :class:`UnknownModel` or :class:`EditConflict`."""
    model = edit.model
    entry = state.entry(model)
    if entry is None:
        if edit.op != "publish":
            raise UnknownModel(
                f"no model {model!r} in the catalog: publish it first (modelfleet publish, or "
                "modelfleet publish --adopt for a version uploaded by other tools)"
            )
        entry = ModelEntry()
    if entry.retired and edit.op not in _ALLOWED_WHEN_RETIRED:
        raise EditConflict(f"model {model} is retired; un-retire it first (retire --undo)")
    return state.with_entry(model, _explicit_if_labelled(_EDITS[edit.op](entry, edit)))


def _explicit_if_labelled(entry: ModelEntry) -> ModelEntry:
    """A labelled model serves an explicit set: the versions it serves now and the labelled
    ones. Following "the newest published" under a label would move what is served away
    from the label at the next publish and break the document's rule (labels point at
    served versions), so that no later write could succeed."""
    if entry.retired or entry.versions or not entry.labels:
        return entry
    explicit = {*served_versions(entry), *entry.labels.values()} & set(entry.published)
    return replace(entry, versions=tuple(sorted(explicit)))


def _promote(entry: ModelEntry, edit: Edit) -> ModelEntry:
    assert edit.version is not None
    _require_published(entry, edit.model, edit.version)
    return replace(_serve(entry, [edit.version]), labels={"stable": edit.version})


def _rollback(entry: ModelEntry, edit: Edit) -> ModelEntry:
    if not entry.history:
        raise EditConflict(f"model {edit.model} has no previous versions to roll back to")
    previous = entry.history[-1]
    missing = [v for v in previous if v not in entry.published]
    if missing:
        raise EditConflict(
            f"cannot roll back {edit.model}: versions {missing} are no longer published"
        )
    labels = {k: v for k, v in entry.labels.items() if v in previous}
    labels["stable"] = max(previous)
    return replace(entry, versions=previous, labels=labels, history=entry.history[:-1])


def _pin(entry: ModelEntry, edit: Edit) -> ModelEntry:
    if edit.version is not None:
        _require_published(entry, edit.model, edit.version)
        entry = _serve(entry, [edit.version])
    elif not entry.versions:
        current = served_versions(entry)
        if not current:
            raise EditConflict(f"model {edit.model} has no published version to pin")
        entry = replace(entry, versions=current)
    return replace(entry, pinned=True)


def _unpin(entry: ModelEntry, edit: Edit) -> ModelEntry:
    return replace(entry, pinned=False)


def _label(entry: ModelEntry, edit: Edit) -> ModelEntry:
    assert edit.version is not None and edit.label is not None
    _require_published(entry, edit.model, edit.version)
    served = served_versions(entry)
    if edit.version not in served:
        if entry.pinned:
            raise EditConflict(
                f"model {edit.model} is pinned to {list(served)}; unpin it before labelling "
                f"{edit.version}"
            )
        entry = _serve(entry, [*served, edit.version])  # canary next to stable
    return replace(entry, labels={**entry.labels, edit.label: edit.version})


def _unlabel(entry: ModelEntry, edit: Edit) -> ModelEntry:
    assert edit.label is not None
    if edit.label not in entry.labels:
        raise EditConflict(f"model {edit.model} has no label {edit.label!r}")
    return replace(entry, labels={k: v for k, v in entry.labels.items() if k != edit.label})


def _retire(entry: ModelEntry, edit: Edit) -> ModelEntry:
    return replace(entry, retired=True)


def _unretire(entry: ModelEntry, edit: Edit) -> ModelEntry:
    return replace(entry, retired=False)


def _publish(entry: ModelEntry, edit: Edit) -> ModelEntry:
    assert edit.version is not None
    return replace(entry, published=(*entry.published, edit.version))


def _forget_version(entry: ModelEntry, edit: Edit) -> ModelEntry:
    """Drop a version from the catalog (delete-version), refused while nodes must serve it."""
    version = edit.version
    assert version is not None
    if version in entry.versions or version in entry.labels.values():
        raise EditConflict(
            f"version {version} of {edit.model} is still desired (versions/labels); promote "
            "another version first"
        )
    newest = max(entry.published, default=None)
    if not entry.versions and version == newest and not entry.retired:
        raise EditConflict(
            f"version {version} is the newest published version of {edit.model}, which nodes "
            "follow; promote another version first"
        )
    return replace(
        entry,
        published=tuple(v for v in entry.published if v != version),
        history=tuple(h for h in entry.history if version not in h),
    )


_EDITS = {
    "promote": _promote,
    "rollback": _rollback,
    "pin": _pin,
    "unpin": _unpin,
    "label": _label,
    "unlabel": _unlabel,
    "retire": _retire,
    "unretire": _unretire,
    "publish": _publish,
    "forget_version": _forget_version,
}

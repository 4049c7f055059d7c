"""Reading and writing ``_modelfleet/desired.json`` in the bucket: the one place that does.

Every write carries the generation it was computed from (``if_generation_match``; 0 = the
document must not exist yet), so two writers never lose an update: the loser gets
:class:`~modelfleet.store.PreconditionFailed` and nothing changes. :func:`edit_remote` is
the whole operation the master, ``modelfleet promote --direct`` and ``modelfleet publish``
share: read with its generation, apply one pure :class:`~.edits.Edit`, write once (or not
at all when nothing changed).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ..logsetup import kv
from ..store.base import NotFound, PreconditionFailed, RemoteStore
from ..store.manifest import MANIFEST_NAME
from .document import DesiredState, encode_desired, parse_desired
from .edits import Edit, EditError, apply

__all__ = [
    "DESIRED_KEY",
    "EditResult",
    "GenerationMismatch",
    "RemoteDesired",
    "edit_remote",
    "read_remote",
    "write_remote",
]

log = logging.getLogger(__name__)

DESIRED_KEY = "_modelfleet/desired.json"


class GenerationMismatch(EditError):
    """The caller asked for a generation (``--if-generation``) that is no longer current."""

    status = 409
    reason = "precondition_failed"

    def __init__(self, current: int, wanted: int) -> None:
        super().__init__(
            f"desired state is at generation {current}, not {wanted}: re-read and retry"
        )
        self.current = current


@dataclass(frozen=True)
class RemoteDesired:
    """What is in the bucket: the state (None when there is no document), its generation
    (0 = none) and the model entries that were dropped as invalid."""

    state: DesiredState | None
    generation: int
    problems: tuple[str, ...] = ()

    @property
    def state_or_empty(self) -> DesiredState:
        return self.state if self.state is not None else DesiredState()


@dataclass(frozen=True)
class EditResult:
    state: DesiredState
    generation: int
    changed: bool
    adopted: tuple[int, ...] = field(default_factory=tuple)


def read_remote(store: RemoteStore) -> RemoteDesired:
    """The document with its generation; raises InvalidDesired when it is unusable as a
    whole, StoreError when the bucket fails."""
    try:
        data, generation = store.read(DESIRED_KEY)
    except NotFound:
        return RemoteDesired(None, 0)
    state, problems = parse_desired(data)
    for problem in problems:
        log.warning("invalid model entry in desired.json skipped", extra=kv(error=problem))
    return RemoteDesired(state, generation, tuple(problems))


def write_remote(
    store: RemoteStore, state: DesiredState, *, if_generation_match: int, updated_by: str
) -> int:
    """Write ``state`` if the bucket is still at ``if_generation_match``; the new generation.

    Raises PreconditionFailed on a lost race and InvalidDesired for a state that breaks the
    contract (nothing is written then).
    """
    stamped = DesiredState(
        updated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        updated_by=updated_by,
        models=state.models,
    )
    data = encode_desired(stamped)
    return store.write(DESIRED_KEY, data, if_generation_match=if_generation_match)


def _adopt_complete(store: RemoteStore, state: DesiredState, edit: Edit) -> tuple[int, ...]:
    """A version the edit names that is complete in the bucket (manifest present) but missing
    from the catalog — uploaded by other tools — is adopted first (one stat)."""
    if edit.version is None or edit.op in ("publish", "forget_version"):
        return ()
    entry = state.entry(edit.model)
    if entry is not None and edit.version in entry.published:
        return ()
    if store.stat(f"{edit.model}/{edit.version}/{MANIFEST_NAME}") is None:
        return ()
    return (edit.version,)


def edit_remote(
    store: RemoteStore,
    edit: Edit,
    *,
    updated_by: str,
    if_generation: int | None = None,
    attempts: int = 1,
) -> EditResult:
    """Read, apply ``edit``, write once under the generation precondition.

    With ``attempts`` > 1 a lost race is retried on a fresh read (for edits that commute,
    such as publish); with 1 it raises PreconditionFailed and nothing changed. Raises
    EditError (UnknownModel 404, EditConflict / GenerationMismatch 409), InvalidDesired and
    StoreError.
    """
    for attempt in range(attempts):
        current = read_remote(store)
        if if_generation is not None and if_generation != current.generation:
            raise GenerationMismatch(current.generation, if_generation)
        state = current.state_or_empty
        adopted = _adopt_complete(store, state, edit)
        for version in adopted:
            state = apply(state, Edit("publish", edit.model, version))
        new = apply(state, edit)
        if new == current.state:
            return EditResult(new, current.generation, changed=False)
        try:
            generation = write_remote(
                store, new, if_generation_match=current.generation, updated_by=updated_by
            )
        except PreconditionFailed:
            if attempt + 1 >= attempts:
                raise
            log.info("desired.json changed under us, retrying", extra=kv(attempt=attempt + 1))
            time.sleep(min(0.05 * 2**attempt, 1.0))
            continue
        log.info(
            "desired state changed",
            extra=kv(edit=edit.describe(), generation=generation, by=updated_by),
        )
        return EditResult(new, generation, changed=True, adopted=adopted)
    raise AssertionError("unreachable")  # pragma: no cover

"""The desired-state domain: what every node should serve, and the only ways to change it.

- :mod:`.document`: the typed remote document (``_modelfleet/desired.json``) and the one
  serving rule, :func:`served_versions`;
- :mod:`.edits`: pure edits (:class:`Edit`, :func:`apply`) that refuse an unknown model
  (404) or an edit that conflicts with the state (409);
- :mod:`.remote`: read and write the document in the bucket under the generation
  precondition, and :func:`edit_remote`, the read-apply-write-once operation shared by the
  master, ``modelfleet promote|rollback|pin --direct`` and ``modelfleet publish``.
"""

from .document import (
    HISTORY_LIMIT,
    DesiredState,
    InvalidDesired,
    ModelEntry,
    encode_desired,
    parse_desired,
    served_versions,
)
from .edits import OPS, Edit, EditConflict, EditError, UnknownModel, apply
from .remote import (
    DESIRED_KEY,
    EditResult,
    GenerationMismatch,
    RemoteDesired,
    edit_remote,
    read_remote,
    write_remote,
)

__all__ = [
    "DESIRED_KEY",
    "HISTORY_LIMIT",
    "OPS",
    "DesiredState",
    "Edit",
    "EditConflict",
    "EditError",
    "EditResult",
    "GenerationMismatch",
    "InvalidDesired",
    "ModelEntry",
    "RemoteDesired",
    "UnknownModel",
    "apply",
    "edit_remote",
    "encode_desired",
    "parse_desired",
    "read_remote",
    "served_versions",
    "write_remote",
]

"""What the audit log records of a request, and the two entries of every state change.

A state change (a view marked ``@audited``) is recorded twice: its intent (``result:
"started"``: who, what, the validated arguments, from where), written by
:func:`begin_change` right before the change is applied, and its outcome (``ok`` or
``error``, with the validated arguments) after. Why the intent first: a change must never be
applied without an audit entry, and an entry written after a change that then fails to write
(a full disk) could only be made good by undoing the change — a write that needs the very
space the disk no longer has. So: intent written and fsynced, or the change is refused with
507 and nothing is applied; then the change (its own state written durably, or nothing);
then the outcome. An intent without an outcome says the master stopped or its disk filled
mid-change — exactly what an auditor needs to see. Refusals (any 4xx/5xx) are recorded once.
"""

from __future__ import annotations

import logging
import time

from flask import current_app, g, request

from ..contracts.cluster import AuditEntry, RequestSummary
from ..logsetup import kv
from .api import ApiError, bounded

__all__ = ["begin_change", "record_outcome", "request_entry"]

log = logging.getLogger(__name__)


def request_entry(status: int, result: str) -> AuditEntry:
    """The audit entry of the current request (authenticated identity, validated arguments,
    a bounded summary of the body — never the body)."""
    from .auth import identify, peer_address

    view = current_app.view_functions.get(request.endpoint or "")
    action = getattr(view, "audit_action", None) or f"refused:{request.endpoint or 'unmatched'}"
    role = getattr(g, "role", None)
    who = getattr(g, "who", None)
    if who is None:
        role, who = identify()
    args = dict(getattr(g, "audit_args", {}))
    summary = getattr(g, "request_summary", None)
    if summary is None and (request.content_length or request.content_type):
        summary = RequestSummary(
            bytes=request.content_length or 0,
            content_type=bounded(request.content_type or "", 80),
        )
    target = str(args.get("model") or args.get("zone") or args.get("node") or "")
    if args.get("model") and args.get("version"):
        target = f"{args['model']}/{args['version']}"
    return AuditEntry(
        at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        who=who,
        role=role,
        action=action,
        method=bounded(request.method, 10),
        path=bounded(request.path, 200),
        status=status,
        result=result,  # type: ignore[arg-type]
        model=args.get("model"),
        target=target,
        args={k: v if not isinstance(v, str) else bounded(v, 128) for k, v in args.items()},
        request=summary,
        error=bounded(getattr(g, "audit_error", ""), 300),
        remote_addr=peer_address(),
        claimed_user=getattr(g, "claimed_user", None),
    )


def begin_change() -> None:
    """Write the intent entry of the change about to be applied (the view calls it once its
    arguments are validated, right before the change); 507 when it cannot be written."""
    if getattr(g, "change_begun", False):
        return
    audit = current_app.extensions["modelfleet"].audit
    try:
        audit.append(request_entry(0, "started"))
    except OSError as exc:
        log.error("audit log not writable: change refused", extra=kv(error=str(exc)))
        raise ApiError(
            507,
            f"the audit log cannot be written ({exc.strerror or exc}): nothing changed",
            reason="audit_not_written",
        ) from None
    g.change_begun = True


def record_outcome(status: int) -> None:
    """Write the outcome (or a refusal); a failure is logged — the answer stands, because
    the change it reports is already durable and its intent is on record."""
    audit = current_app.extensions["modelfleet"].audit
    try:
        audit.append(request_entry(status, "ok" if status < 400 else "error"))
    except OSError as exc:
        log.error("audit entry not written", extra=kv(error=str(exc), status=status))

"""``_modelfleet/desired.json``: the catalog and desired state of the whole fleet.

One small document that every puller polls (its generation is the only thing an idle node
reads), and that the master and the CLI rewrite with a generation precondition. Writers
use :func:`update_desired`, which re-reads and retries when another writer won the race, so
no update is ever lost and no writer ever blocks another.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from ..logsetup import kv
from ..names import InvalidName, parse_version, validate_label, validate_model_name
from .base import NotFound, PreconditionFailed, RemoteStore

__all__ = [
    "DESIRED_KEY",
    "InvalidDesired",
    "check_model_entry",
    "empty_desired",
    "read_desired",
    "served_versions",
    "update_desired",
    "write_desired",
]

log = logging.getLogger(__name__)

DESIRED_KEY = "_modelfleet/desired.json"


class InvalidDesired(ValueError):
    """A desired-state document or model entry that does not follow the contract."""


def empty_desired() -> dict[str, Any]:
    return {"schema": 1, "updated_at": "", "updated_by": "", "models": {}}


def _versions(value: Any, what: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidDesired(f"{what} must be a list of versions")
    try:
        return sorted({parse_version(v) for v in value})
    except InvalidName as exc:
        raise InvalidDesired(f"{what}: {exc}") from None


def check_model_entry(name: str, entry: Any) -> dict[str, Any]:
    """Normalise one model entry; raises :class:`InvalidDesired` naming the problem."""
    try:
        validate_model_name(name)
    except InvalidName as exc:
        raise InvalidDesired(str(exc)) from None
    if not isinstance(entry, dict):
        raise InvalidDesired(f"model {name}: entry must be an object")
    published = _versions(entry.get("published"), f"model {name} published")
    versions = _versions(entry.get("versions"), f"model {name} versions")
    labels_raw = entry.get("labels") or {}
    if not isinstance(labels_raw, dict):
        raise InvalidDesired(f"model {name}: labels must be an object")
    labels: dict[str, int] = {}
    for label, version in labels_raw.items():
        try:
            labels[validate_label(label)] = parse_version(version)
        except InvalidName as exc:
            raise InvalidDesired(f"model {name} labels: {exc}") from None
    history_raw = entry.get("history") or []
    if not isinstance(history_raw, list):
        raise InvalidDesired(f"model {name}: history must be a list of version lists")
    history = [_versions(h, f"model {name} history") for h in history_raw]
    for key in ("retired", "pinned"):
        if not isinstance(entry.get(key, False), bool):
            raise InvalidDesired(f"model {name}: {key} must be true or false")
    clean = dict(entry)
    clean.update(
        published=published,
        versions=versions,
        labels=labels,
        retired=bool(entry.get("retired", False)),
        pinned=bool(entry.get("pinned", False)),
        history=history,
    )
    return clean


def served_versions(entry: dict[str, Any]) -> list[int]:
    """What a node should serve for a checked model entry: ``versions`` or the newest published."""
    if entry.get("retired"):
        return []
    if entry.get("versions"):
        return list(entry["versions"])
    published = entry.get("published") or []
    return [max(published)] if published else []


def parse_desired(data: bytes) -> tuple[dict[str, Any], list[str]]:
    """Parse a document leniently: bad model entries are dropped and reported, not fatal."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidDesired(f"desired.json is not JSON: {exc}") from None
    if (
        not isinstance(doc, dict)
        or doc.get("schema") != 1
        or not isinstance(doc.get("models"), dict)
    ):
        raise InvalidDesired("desired.json must be an object with schema 1 and a models object")
    problems = []
    models = {}
    for name, entry in doc["models"].items():
        try:
            models[name] = check_model_entry(name, entry)
        except InvalidDesired as exc:
            problems.append(str(exc))
    doc["models"] = models
    return doc, problems


def read_desired(store: RemoteStore) -> tuple[dict[str, Any] | None, int]:
    """The document and its generation; ``(None, 0)`` when there is none yet.

    Invalid model entries are dropped (and logged); a document that is not valid JSON at all
    raises :class:`InvalidDesired`.
    """
    try:
        data, generation = store.read(DESIRED_KEY)
    except NotFound:
        return None, 0
    doc, problems = parse_desired(data)
    for problem in problems:
        log.warning("invalid model entry in desired.json skipped", extra=kv(error=problem))
    return doc, generation


def write_desired(
    store: RemoteStore, doc: dict[str, Any], *, if_generation_match: int, updated_by: str = ""
) -> int:
    """Write the document if it is still at ``if_generation_match`` (0 = must not exist).

    Returns the new generation; raises :class:`PreconditionFailed` on a lost race and
    :class:`InvalidDesired` for a document that breaks the contract (nothing is written).
    """
    out = dict(doc)
    out["schema"] = 1
    models = out.get("models")
    if not isinstance(models, dict):
        raise InvalidDesired("desired.json needs a models object")
    out["models"] = {name: check_model_entry(name, entry) for name, entry in sorted(models.items())}
    for name, entry in out["models"].items():
        served = set(served_versions(entry))
        for label, version in entry["labels"].items():
            if not entry["retired"] and version not in served:
                raise InvalidDesired(
                    f"model {name}: label {label} points at {version}, which is not served"
                )
    out["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if updated_by:
        out["updated_by"] = updated_by
    data = (json.dumps(out, indent=2, sort_keys=True) + "\n").encode()
    return store.write(DESIRED_KEY, data, if_generation_match=if_generation_match)


def update_desired(
    store: RemoteStore,
    mutate: Callable[[dict[str, Any]], None],
    *,
    updated_by: str,
    attempts: int = 10,
) -> tuple[dict[str, Any], int]:
    """Read-modify-write with the generation precondition, retried on a lost race.

    ``mutate`` edits the document in place and may be called several times (once per
    attempt, each time on a fresh read), so it must be a pure function of the document.
    """
    last: PreconditionFailed | None = None
    for attempt in range(attempts):
        doc, generation = read_desired(store)
        doc = doc or empty_desired()
        mutate(doc)
        try:
            new_generation = write_desired(
                store, doc, if_generation_match=generation, updated_by=updated_by
            )
            return doc, new_generation
        except PreconditionFailed as exc:
            last = exc
            log.info("desired.json changed under us, retrying", extra=kv(attempt=attempt + 1))
            time.sleep(min(0.05 * 2**attempt, 1.0))
    assert last is not None
    raise last

"""Pure edits of the desired-state document (docs/contracts.md, ``_modelfleet/desired.json``).

Each function takes the current model entry and returns the new one, or raises
:class:`DesiredError` (a ValueError) with a message for the operator. Nothing here does I/O:
the views read the doc with its generation, apply one edit, and write it back with the
generation precondition.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["HISTORY_LIMIT", "DesiredError", "apply", "effective_versions", "model_entry"]

HISTORY_LIMIT = 20


class DesiredError(ValueError):
    """An edit that makes no sense for the current state (e.g. nothing to roll back to)."""


def model_entry(doc: dict[str, Any], model: str) -> dict[str, Any]:
    raw = doc.get("models", {}).get(model) or {}
    entry = {
        "published": sorted(int(v) for v in raw.get("published") or []),
        "versions": sorted(int(v) for v in raw.get("versions") or []),
        "labels": {str(k): int(v) for k, v in (raw.get("labels") or {}).items()},
        "retired": bool(raw.get("retired", False)),
        "pinned": bool(raw.get("pinned", False)),
        "history": [sorted(int(v) for v in h) for h in raw.get("history") or []],
    }
    return entry


def effective_versions(entry: dict[str, Any]) -> list[int]:
    """What nodes serve: ``versions``, else the newest published; nothing when retired."""
    if entry["retired"]:
        return []
    if entry["versions"]:
        return list(entry["versions"])
    return [max(entry["published"])] if entry["published"] else []


def _set_versions(entry: dict[str, Any], versions: list[int]) -> None:
    current = effective_versions(entry)
    if current and current != versions:
        entry["history"] = [*entry["history"], current][-HISTORY_LIMIT:]
    entry["versions"] = sorted(set(versions))
    entry["labels"] = {k: v for k, v in entry["labels"].items() if v in entry["versions"]}


def _require_published(entry: dict[str, Any], model: str, version: int) -> None:
    if version not in entry["published"]:
        raise DesiredError(
            f"version {version} of {model} is not published (complete versions: "
            f"{entry['published'] or 'none'})"
        )


def apply(doc: dict[str, Any], model: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """Return a new doc with ``op`` applied to ``model``; raises :class:`DesiredError`."""
    doc = copy.deepcopy(doc)
    entry = model_entry(doc, model)
    if op != "retire" and entry["retired"] and op not in ("delete_version",):
        raise DesiredError(f"model {model} is retired; un-retire it first")
    if op == "promote":
        version = args["version"]
        _require_published(entry, model, version)
        _set_versions(entry, [version])
        entry["labels"] = {"stable": version}
    elif op == "rollback":
        if not entry["history"]:
            raise DesiredError(f"model {model} has no previous versions to roll back to")
        previous = entry["history"][-1]
        entry["history"] = entry["history"][:-1]
        missing = [v for v in previous if v not in entry["published"]]
        if missing:
            raise DesiredError(
                f"cannot roll back {model}: versions {missing} are no longer published"
            )
        entry["versions"] = sorted(previous)
        entry["labels"] = {k: v for k, v in entry["labels"].items() if v in previous}
        entry["labels"]["stable"] = max(previous)
    elif op == "pin":
        if args.get("pinned", True):
            version = args.get("version")
            if version is not None:
                _require_published(entry, model, version)
                _set_versions(entry, [version])
            elif not entry["versions"]:
                current = effective_versions(entry)
                if not current:
                    raise DesiredError(f"model {model} has no published version to pin")
                entry["versions"] = current
            entry["pinned"] = True
        else:
            entry["pinned"] = False
    elif op == "label":
        label, version = args["label"], args.get("version")
        if version is None:
            if label not in entry["labels"]:
                raise DesiredError(f"model {model} has no label {label!r}")
            del entry["labels"][label]
        else:
            _require_published(entry, model, version)
            served = effective_versions(entry)
            if version not in served:
                if entry["pinned"]:
                    raise DesiredError(
                        f"model {model} is pinned to {served}; unpin it before labelling {version}"
                    )
                # Serving the labelled version too (canary next to stable).
                _set_versions(entry, [*served, version])
            entry["labels"][label] = version
    elif op == "retire":
        entry["retired"] = bool(args.get("retired", True))
    elif op == "delete_version":
        version = args["version"]
        if version in entry["versions"] or version in entry["labels"].values():
            raise DesiredError(
                f"version {version} of {model} is still desired (versions/labels); promote "
                "another version first"
            )
        newest = max(entry["published"], default=None)
        if not entry["versions"] and version == newest and not entry["retired"]:
            raise DesiredError(
                f"version {version} is the newest published version of {model}, which "
                "nodes follow; promote another version first"
            )
        entry["published"] = [v for v in entry["published"] if v != version]
        entry["history"] = [h for h in entry["history"] if version not in h]
    else:  # pragma: no cover - programming error
        raise ValueError(f"unknown op {op}")
    doc.setdefault("models", {})[model] = entry
    return doc

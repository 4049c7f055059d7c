"""Keep each role's defaults, meta/argument_specs.yml and README variables table in step.

``defaults/main.yml`` is the source: the comment lines just above a variable are its
description; "One of: a, b." gives its choices, "Type: list." its type when the default is a
template (otherwise the type is the default's). ``--write`` regenerates the ``main`` entry point
of ``meta/argument_specs.yml`` (other entry points are kept) and the README table between the
``<!-- BEGIN VARIABLES -->`` / ``<!-- END VARIABLES -->`` markers; without it the script exits
1 when a file is out of date (tests/ansible/test_lint.py runs it that way).

    python tests/ansible/role_docs.py [--write] [ROLE...]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
BEGIN, END = "<!-- BEGIN VARIABLES -->", "<!-- END VARIABLES -->"
TYPE_RE = re.compile(r"\s*Type: (\w+)\.\s*$")
CHOICES_RE = re.compile(r"\s*One of: ([^.]+)\.")


def parse_defaults(role: Path) -> list[dict[str, Any]]:
    """Return one record per top-level variable of defaults/main.yml, in file order."""
    text = (role / "defaults" / "main.yml").read_text()
    values = yaml.safe_load(text) or {}
    records: list[dict[str, Any]] = []
    comment: list[str] = []
    for line in text.splitlines():
        if line.startswith("# ----") or line.strip() in ("---", ""):
            comment = [] if line.strip() == "" or line.startswith("# ----") else comment
            continue
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            continue
        match = re.match(r"^([a-z][a-z0-9_]*):", line)
        if not match:
            continue
        name = match.group(1)
        desc = " ".join(comment).strip()
        comment = []
        value = values[name]
        vtype = {bool: "bool", int: "int", float: "float", list: "list", dict: "dict"}.get(
            type(value), "str"
        )
        hinted = TYPE_RE.search(desc)
        if hinted:
            vtype = hinted.group(1)
            desc = TYPE_RE.sub("", desc).strip()
        choices = None
        found = CHOICES_RE.search(desc)
        if found:
            choices = [c.strip() for c in found.group(1).split(",")]
        if not desc:
            raise SystemExit(f"{role.name}: {name} has no comment in defaults/main.yml")
        records.append(
            {"name": name, "description": desc, "type": vtype, "default": value, "choices": choices}
        )
    return records


def argument_spec(records: list[dict[str, Any]], role: str, existing: dict[str, Any]) -> str:
    main = existing.get("argument_specs", {}).get("main", {})
    options: dict[str, Any] = {}
    for rec in records:
        opt: dict[str, Any] = {"description": rec["description"], "type": rec["type"]}
        if rec["type"] in ("list",):
            opt["elements"] = _elements(rec["default"])
        opt["default"] = rec["default"]
        if rec["choices"]:
            opt["choices"] = _typed(rec["choices"], rec["type"])
        options[rec["name"]] = opt
    specs = dict(existing.get("argument_specs", {}))
    specs["main"] = {
        "short_description": main.get("short_description", f"The {role} role."),
        "description": main.get("description", [f"The {role} role."]),
        "options": options,
    }
    body = yaml.dump(
        {"argument_specs": specs},
        Dumper=_IndentedDumper,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
    return "---\n# Generated from defaults/main.yml by tests/ansible/role_docs.py --write\n" + body


class _IndentedDumper(yaml.SafeDumper):
    """Indent list items under their key, as yamllint (ansible-lint) expects."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _elements(default: Any) -> str:
    if isinstance(default, list) and default:
        first = default[0]
        if isinstance(first, dict):
            return "dict"
        if isinstance(first, int):
            return "int"
    return "str"


def _typed(choices: list[str], vtype: str) -> list[Any]:
    return [int(c) for c in choices] if vtype == "int" else choices


def readme_table(records: list[dict[str, Any]]) -> str:
    rows = ["| Variable | Default | Type | Description |", "|---|---|---|---|"]
    for rec in records:
        default = yaml.safe_dump(rec["default"], default_flow_style=True, width=10_000).strip()
        default = default.removesuffix("\n...").removesuffix("...").strip()
        default = default.replace("|", "\\|").replace("\n", " ")
        desc = rec["description"].replace("|", "\\|")
        rows.append(f"| `{rec['name']}` | `{default}` | {rec['type']} | {desc} |")
    return "\n".join(rows)


def sync(role: Path, write: bool) -> list[str]:
    stale: list[str] = []
    records = parse_defaults(role)
    spec_path = role / "meta" / "argument_specs.yml"
    existing = yaml.safe_load(spec_path.read_text()) if spec_path.exists() else {}
    spec = argument_spec(records, role.name, existing or {})
    if not spec_path.exists() or spec_path.read_text() != spec:
        stale.append(str(spec_path.relative_to(ROOT)))
        if write:
            spec_path.write_text(spec)
    readme = role / "README.md"
    text = readme.read_text() if readme.exists() else f"# {role.name}\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n## Role Variables\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{readme_table(records)}\n{END}{tail}"
    if new != text or not readme.exists():
        stale.append(str(readme.relative_to(ROOT)))
        if write:
            readme.write_text(new)
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("roles", nargs="*")
    args = parser.parse_args()
    roles = [ROLES / r for r in args.roles] or sorted(
        p for p in ROLES.iterdir() if (p / "defaults" / "main.yml").exists()
    )
    stale = [s for role in roles for s in sync(role, args.write)]
    if stale and not args.write:
        print("out of date (run tests/ansible/role_docs.py --write):", *stale, sep="\n  ")
        return 1
    for s in stale:
        print("wrote", s)
    return 0


if __name__ == "__main__":
    sys.exit(main())

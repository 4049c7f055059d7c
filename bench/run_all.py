"""Run every benchmark under bench/ and print one table; write bench/results.json.

Each ``bench/<name>.py`` exposes ``run(quick: bool = False) -> list[dict]``; a record holds
``name, value, unit, baseline, ratio, goal, pass``. The baseline is measured in the same run
(machines here are noisy), so the ratio is the figure to read, not the absolute value.

    python -m bench.run_all [--quick] [--only pull,fanout]   (from the repository root)

Exit code: 0 when every benchmark ran (whatever pass says), 1 when one crashed. Goals are
reported, not enforced: a slow CI machine must not fail the build on a timing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ORDER = [
    "pull",
    "remote_requests",
    "footprint",
    "reload",
    "fanout",
    "propagation",
    "preemption",
    "rollout",
]


def discover() -> list[Path]:
    found = {p.stem: p for p in HERE.glob("*.py") if p.stem not in ("run_all", "__init__")}
    names = [n for n in ORDER if n in found] + sorted(n for n in found if n not in ORDER)
    return [found[n] for n in names]


def load(path: Path) -> Any:
    return importlib.import_module(f"bench.{path.stem}")


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "-" if value is None else str(value)


def print_table(records: list[dict[str, Any]]) -> None:
    cols = ["name", "value", "unit", "baseline", "ratio", "goal", "pass"]
    rows = [[fmt(r.get(c)) for c in cols] for r in records]
    widths = [
        max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(cols)
    ]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    only = {n for n in args.only.split(",") if n}
    records: list[dict[str, Any]] = []
    crashed = []
    for path in discover():
        if only and path.stem not in only:
            continue
        started = time.monotonic()
        try:
            module = load(path)
            if not hasattr(module, "run"):
                continue  # a helper module (node simulator, fault proxy), not a benchmark
            print(f"== bench/{path.name}", flush=True)
            got = module.run(quick=args.quick)
        except Exception:
            traceback.print_exc()
            crashed.append(path.stem)
            records.append(
                {
                    "name": path.stem,
                    "value": None,
                    "unit": "",
                    "baseline": None,
                    "ratio": None,
                    "goal": "ran",
                    "pass": False,
                    "error": "crashed",
                }
            )
            continue
        for record in got:
            record.setdefault("bench", path.stem)
        records.extend(got)
        print(f"   {len(got)} figure(s) in {time.monotonic() - started:.1f}s", flush=True)
    print()
    print_table(records)
    args.output.write_text(json.dumps(records, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())

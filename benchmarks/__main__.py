"""Run every benchmark module and print one table of MedHaven against its baseline, as ratios.

Each ``benchmarks/bench_*.py`` exposes ``run(scale: float) -> list[Result]``.
``python -m benchmarks [--scale S] [--only NAME]``; ``--scale`` shrinks or
grows the data sizes (1.0 is the size the issues name).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.result import Result


def _modules(only: str | None) -> list[str]:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    return [n for n in names if only is None or only in n]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the comparison table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--scale", type=float, default=1.0, help="data-size multiplier")
    parser.add_argument("--only", default=None, help="run only modules whose name contains this")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = parser.parse_args(argv)
    results: list[Result] = []
    for name in _modules(args.only):
        module = importlib.import_module(f"benchmarks.{name}")
        results.extend(module.run(args.scale))
    if args.json:
        for r in results:
            sys.stdout.write(json.dumps(r.as_dict()) + "\n")
        return 0
    table = Table(
        title="MedHaven benchmarks (ratio = MedHaven / baseline: for times < 1 is faster, "
        "for rates such as MB/s or persons/min > 1 is faster)"
    )
    for col in ("benchmark", "MedHaven", "baseline", "baseline value", "ratio", "goal", "note"):
        table.add_column(col)
    for r in results:
        table.add_row(
            r.name,
            f"{r.medhaven:.4g} {r.unit}",
            r.baseline_name,
            f"{r.baseline:.4g} {r.unit}" if r.baseline is not None else "-",
            f"{r.ratio:.2f}" if r.ratio is not None else "-",
            r.goal,
            r.note,
        )
    Console(width=200).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

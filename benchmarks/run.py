"""Run every benchmark (benchmarks/bench_*.py) and print figures against same-run baselines.

`scripts/bench` runs this; `scripts/bench gate` runs only bench_gate.py. Each benchmark's
`main()` returns rows with the measured value, the baseline measured in the same run, their
ratio and whether the goal was met. The table is also written to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
import platform
import sys
import time
from typing import Any

HERE = Path(__file__).parent


def discover(selected: list[str]) -> list[str]:
    names = sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))
    unknown = set(selected) - set(names)
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return [name for name in names if not selected or name in selected]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    for name in discover(args.names):
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        started = time.perf_counter()
        rows.extend(module.main())
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)

    print("\nbenchmark | metric | value | baseline | ratio | goal | met")
    for row in rows:
        print(
            f"{row['benchmark']} | {row['metric']} | {row['value']:.4g} | "
            f"{row['baseline']:.4g} | {row['ratio']:.3f} | {row['goal']} | "
            f"{'yes' if row['met'] else 'NO'}"
        )
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.json").write_text(
        json.dumps(
            {
                "python": sys.version,
                "machine": platform.machine(),
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "rows": rows,
            },
            indent=2,
        )
    )
    return 0 if all(row["met"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

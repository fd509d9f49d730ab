"""The command line: `python benchmarks/bench.py [options]`."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .common import BIG_SIZE, DEFAULT_SIZES, NOW, SEED, TIMEZONE, BenchError, log
from .data import data_dir_for
from .report import engine_version, machine, strip_figures
from .runner import bench_size, child_main, self_check

DESCRIPTION = "Benchmark of the data engine: ingest, figure set, plain pandas, DuckDB over raw parquet."


def parse_sizes(text_value: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text_value.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes {text_value!r}: expected numbers such as 1000000,10000000") from None
    if not sizes or min(sizes) < 1000:
        raise argparse.ArgumentTypeError("--sizes: every size must be at least 1000 events")
    return sizes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1], Path(argv[2]))
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--sizes", type=parse_sizes, default=list(DEFAULT_SIZES), help="events per run, comma-separated"
    )
    parser.add_argument(
        "--with-100m", action="store_true", help="also run 100,000,000 events (slow; pandas skipped without ~30 GB)"
    )
    parser.add_argument("--runs", type=int, default=7, help="timed warm runs per measurement (median reported)")
    parser.add_argument("--warmups", type=int, default=2, help="untimed runs before the timed ones")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds after which a slow measurement stops")
    parser.add_argument("--accounts", type=int, default=50, help="accounts in the generated exports")
    parser.add_argument(
        "--keep", action=argparse.BooleanOptionalAction, default=True, help="keep generated exports for reuse"
    )
    parser.add_argument("--fresh", action="store_true", help="regenerate the exports even when present")
    parser.add_argument(
        "--self-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first check the three implementations agree on small messy exports",
    )
    parser.add_argument(
        "--raw", action=argparse.BooleanOptionalAction, default=True, help="run DuckDB over the raw parquet (slow)"
    )
    parser.add_argument(
        "--diag", action=argparse.BooleanOptionalAction, default=True, help="time the read-phase breakdown (slow)"
    )
    parser.add_argument("--json", type=Path, help="also write every measurement (without the figures) to this file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmups < 0:
        parser.error("--runs must be at least 1 and --warmups at least 0")
    sizes = args.sizes + ([BIG_SIZE] if args.with_100m and BIG_SIZE not in args.sizes else [])

    print(f"Token Analytics Center benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(machine())
    print(engine_version())
    print(f"now = {NOW}, zone = {TIMEZONE}, seed = {SEED}, {args.accounts} accounts; times are medians of warm runs")
    failures: list[str] = []
    record: dict[str, Any] = {"machine": machine(), "now": NOW, "seed": SEED, "sizes": {}}
    if args.self_check:
        try:
            failures += [f"self-check: figures disagree: {p}" for p in self_check(args)]
        except BenchError as exc:
            log(f"self-check: {exc}")
            failures.append(f"self-check: {exc}")
    for size in sizes:
        try:
            results, verdicts, problems = bench_size(size, args)
        except BenchError as exc:
            log(f"{size:,} events: {exc}")
            failures.append(f"{size:,}: {exc}")
            continue
        failures += [f"{size:,}: figures disagree: {p}" for p in problems]
        record["sizes"][str(size)] = {"results": strip_figures(results), "targets": verdicts, "problems": problems}
        if args.json:
            args.json.write_text(json.dumps(record, indent=2, default=str))
        if not args.keep:
            shutil.rmtree(data_dir_for(size, args.accounts), ignore_errors=True)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0

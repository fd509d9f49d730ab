"""The full and the incremental ingest of two checkouts, alternating on the same exports. Not a test.

    python benchmarks/bench_ingest_ab.py --baseline /path/to/other/checkout --exports DIR [--rounds 3] [--json FILE]

Each round runs, for the baseline and for this checkout (in alternating order, so a load that
changes during the run falls on both), the benchmark's own `ingest` and `incr` parts
(benchmarks/engine_bench/ingest.py) with that checkout's `benchmarks/bench.py --child`, so each
side imports its own engine: a fresh cache of every file under DIR (hard links, so the
incremental part can add the next day's file), then three refreshes that find nothing new and
the next day's 1%. Once per round, the `diag` part times decoding the parquet and a bare copy
of the events into a DuckDB file: the floor of the read phase. Prints one line per part with
the load average and the CPU seconds of the part's process, and the medians per side at the end. Generate DIR with
`python -m token_analytics generate --out DIR --events N --accounts 50 --seed 20261129
--now 2026-11-29T10:00:00+08:00` (the benchmark's parameters).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def load_average() -> float:
    return os.getloadavg()[0]


def run_part(tree: Path, part: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """One part of the engine benchmark in a fresh interpreter of `tree`'s code; its result dict."""
    spec = {**spec, "work": str(work), "result": str(work / f"{part}.result.json")}
    spec_path = work / f"{part}.spec.json"
    spec_path.write_text(json.dumps(spec))
    command = [sys.executable, str(tree / "benchmarks" / "bench.py"), "--child", part, str(spec_path)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the part's process (every thread, interpreter start included): on a loaded machine the
    # wall clock follows the other processes, the CPU time far less
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {**json.loads(Path(spec["result"]).read_text()), "part_cpu_s": cpu}


def link_exports(exports: Path, farm: Path) -> None:
    for src in sorted(exports.rglob("*.parquet")):
        dst = farm / src.relative_to(exports)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(src, dst)


def one_side(tree: Path, exports: Path, scratch: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="side-", dir=scratch))
    try:
        farm = work / "exports"
        link_exports(exports, farm)
        load_before = load_average()
        full = run_part(tree, "ingest", {"data_dir": str(farm)}, work)
        incr = run_part(tree, "incr", {"data_dir": str(farm), "farm": str(farm)}, work)
        return {
            "load": [load_before, load_average()],
            "wall_s": full["wall_s"],
            "cpu_s": full["part_cpu_s"],
            "events": full["events"],
            "events_per_s": full["events"] / full["wall_s"],
            "peak_mb": full["peak_mb_self"],
            "phases": full["engine_phases"],
            "usage_daily_rows": full["usage_daily_rows"],
            "usage_hourly_rows": full["usage_hourly_rows"],
            "cache_mb": full["cache_mb"],
            "incr_s": incr["wall_s"],
            "incr_cpu_s": incr["part_cpu_s"],
            "incr_full": incr["full"],
            "incr_phases": incr["engine_phases"],
            "noop_s": incr["noop_s"],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def diag(exports: Path, scratch: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="diag-", dir=scratch))
    try:
        load_before = load_average()
        result = run_part(ROOT, "diag", {"data_dir": str(exports)}, work)
        return {"load": [load_before, load_average()], **{k: result[k] for k in ("scan_s", "copy_s", "copy_hashed_s")}}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def line(name: str, r: dict[str, Any]) -> str:
    phases = ", ".join(f"{k} {v:.2f}" for k, v in r["phases"].items())
    return (
        f"{name:9} load {r['load'][0]:.1f}-{r['load'][1]:.1f}  full {r['wall_s']:6.2f} s, "
        f"process {r['cpu_s']:.1f} CPU s "
        f"({r['events_per_s'] / 1e6:.2f}M events/s, peak {r['peak_mb']:.0f} MB: {phases})  "
        f"next day {r['incr_s']:.2f} s (its process {r['incr_cpu_s']:.1f} CPU s), "
        f"nothing new {r['noop_s'] * 1000:.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of this repository")
    parser.add_argument("--exports", type=Path, required=True, help="an export folder (see the module docstring)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    args = parser.parse_args(argv)
    if not (args.baseline / "benchmarks" / "bench.py").is_file():
        parser.error(f"--baseline {args.baseline}: not a checkout of this repository (no benchmarks/bench.py)")
    if not (args.exports / "usage_events").is_dir():
        parser.error(f"--exports {args.exports}: no usage_events folder")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    sides = {"baseline": args.baseline.resolve(), "this": ROOT}
    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}: baseline {sides['baseline']}, this {ROOT}, exports {args.exports}")
    record: dict[str, list[dict[str, Any]]] = {"baseline": [], "this": [], "diag": []}
    with tempfile.TemporaryDirectory(prefix="ingest-ab-") as scratch:
        for round_no in range(args.rounds):
            for name in ("baseline", "this") if round_no % 2 == 0 else ("this", "baseline"):
                result = one_side(sides[name], args.exports, Path(scratch))
                record[name].append(result)
                print(line(name, result), flush=True)
            d = diag(args.exports, Path(scratch))
            record["diag"].append(d)
            print(
                f"{'diag':9} load {d['load'][0]:.1f}-{d['load'][1]:.1f}  decode {d['scan_s']:.2f} s, "
                f"bare copy {d['copy_s']:.2f} s, bare copy with the two id hashes {d['copy_hashed_s']:.2f} s",
                flush=True,
            )
    base = statistics.median(r["wall_s"] for r in record["baseline"])
    this = statistics.median(r["wall_s"] for r in record["this"])
    copy = statistics.median(d["copy_hashed_s"] for d in record["diag"])
    print(f"median full ingest: baseline {base:.2f} s, this {this:.2f} s ({base / this:.2f}x); bare copy {copy:.2f} s")
    base_cpu = statistics.median(r["cpu_s"] for r in record["baseline"])
    this_cpu = statistics.median(r["cpu_s"] for r in record["this"])
    print(f"median CPU of the full-ingest process: baseline {base_cpu:.1f} s, this {this_cpu:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

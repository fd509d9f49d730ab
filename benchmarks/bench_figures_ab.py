"""The /analysis figure set of two checkouts, alternating on the same cache. Not a test.

    python benchmarks/bench_figures_ab.py --baseline /path/to/other/checkout --exports DIR [--rounds 4] [--runs 31]

Each checkout is first given its own cache of DIR (an ingest in a fresh interpreter of that checkout's code; the
clock is the benchmark's, 2026-11-29T10:00+08:00). Each round then runs, for the baseline and for this checkout in
alternating order (a load that changes during the run falls on both), one interpreter that times
`analysis_figures` for the largest and the median account (by calls) at 10:00 (on the hour: an empty partial hour)
and at 09:37 (37 minutes read from the events): the median of --runs sets after 3 warm-ups, wall ms and the CPU ms
of the process (every thread), with the load average before and after. At the end: the median per side over the
rounds, the ratio, and whether both sides gave the same figures (their JSON compared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-29T10:00:00+08:00"
INSTANTS = {"10:00": "2026-11-29T10:00:00+08:00", "09:37": "2026-11-29T09:37:00+08:00"}

# Run in a fresh interpreter with the checkout first on sys.path: each side imports its own engine.
CHILD = r"""
import json, os, statistics, sys, time
from datetime import datetime
code, exports, cache, runs, instants = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
sys.path.insert(0, code)
os.chdir(code)
os.environ.update(ANALYTICS_DATA_DIR=exports, ANALYTICS_CACHE_DB=cache, ANALYTICS_APP_DB=cache + ".app",
                  ANALYTICS_TIMEZONE="Asia/Shanghai", ANALYTICS_NOW=sys.argv[6])
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
store = Store.open(load_settings())
ranking = store.cursor().execute(
    "select account_id, sum(calls) from usage_daily group by 1 order by 2 desc, 1").fetchall()
out = {}
if runs:
    for label, account in (("largest", ranking[0][0]), ("median", ranking[len(ranking) // 2][0])):
        for at, text in instants.items():
            now = datetime.fromisoformat(text)
            for _ in range(3):
                analysis_figures(store, account, now, "saas")
            cpu, wall = [], []
            for _ in range(runs):
                c, w = time.process_time(), time.perf_counter()
                analysis_figures(store, account, now, "saas")
                cpu.append(time.process_time() - c)
                wall.append(time.perf_counter() - w)
            figures = analysis_figures(store, account, now, "saas")
            out[f"{label} {at}"] = {
                "account": account,
                "wall_ms": statistics.median(wall) * 1000,
                "cpu_ms": statistics.median(cpu) * 1000,
                # a checkout from before the typed figure values returns a dict: not compared
                "figures": figures.to_json() if hasattr(figures, "to_json") else None,
            }
store.close()
print(json.dumps(out, default=str))
"""


def run_side(code: Path, exports: Path, cache: Path, runs: int) -> dict[str, Any]:
    args = [sys.executable, "-c", CHILD, str(code), str(exports), str(cache), str(runs), json.dumps(INSTANTS), NOW]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{code}: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout")
    parser.add_argument("--exports", type=Path, required=True, help="an export folder")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--runs", type=int, default=31)
    options = parser.parse_args(argv)
    sides = {"baseline": options.baseline.resolve(), "this": ROOT}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as work:
        caches = {name: Path(work) / f"{name}.duckdb" for name in sides}
        for name, code in sides.items():
            print(f"{name}: ingesting {options.exports} with {code} (load {os.getloadavg()[0]:.1f})", flush=True)
            run_side(code, options.exports, caches[name], 0)
        for round_no in range(options.rounds):
            order = list(sides) if round_no % 2 == 0 else list(reversed(sides))
            for name in order:
                before = os.getloadavg()[0]
                found = run_side(sides[name], options.exports, caches[name], options.runs)
                results[name].append(found)
                load = f"load {before:.1f}-{os.getloadavg()[0]:.1f}"
                for key, value in found.items():
                    print(
                        f"round {round_no + 1} {name:8} {key:13} {value['account']}: "
                        f"wall {value['wall_ms']:6.1f} ms  cpu {value['cpu_ms']:6.1f} ms  {load}",
                        flush=True,
                    )
    print("medians over the rounds (wall ms, CPU ms in brackets):")
    for key in results["this"][0]:
        medians = {
            name: (
                statistics.median(found[key]["wall_ms"] for found in results[name]),
                statistics.median(found[key]["cpu_ms"] for found in results[name]),
            )
            for name in sides
        }
        (bw, bc), (tw, tc) = medians["baseline"], medians["this"]
        ratio = f"ratio {bw / tw:4.2f}x ({bc / tc:4.2f}x)"
        print(f"  {key:13} baseline {bw:6.1f} ({bc:5.1f})  this {tw:6.1f} ({tc:5.1f})  {ratio}")
    pairs = [(results["baseline"][0][key]["figures"], results["this"][0][key]["figures"]) for key in results["this"][0]]
    if any(before is None for before, _ in pairs):
        # a checkout from before the typed figure values returns a dict of another shape: nothing to compare
        print("figures not compared: the baseline returns them in an older form (compare `report` output instead)")
        return 0
    same = all(before == after for before, after in pairs)
    print("figures identical on both sides:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

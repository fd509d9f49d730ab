"""Cost of `rollup --engine spark` on this machine next to the DuckDB ingest (issue 12). Not a test.

    python benchmarks/bench_spark.py [--events 1000000] [--accounts 50] [--master local[*]] [--exports DIR]

Generates sample exports once per size (benchmarks/.data/spark-<events>/, git-ignored) unless --exports
is given, then in one run, on the same files and clock: the DuckDB ingest of a fresh cache (what the
dashboard and `rollup --engine duckdb` do first), the Spark session start, a first Spark rollup into an
empty folder, and a second one that finds nothing new. Prints seconds, events per second and the cost
scaled to 10M events (linear: both engines scan the events a fixed number of times), plus the load
average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from token_analytics.engine import spark_rollup  # noqa: E402
from token_analytics.engine.sample import generate  # noqa: E402
from token_analytics.engine.store import Store  # noqa: E402
from token_analytics.settings import load_settings  # noqa: E402

NOW = "2026-11-29T10:00:00+08:00"
TIMEZONE = "Asia/Shanghai"
SEED = 20261129


def exports_for(events: int, accounts: int) -> Path:
    out = ROOT / "benchmarks" / ".data" / f"spark-{events}-accounts-{accounts}"
    marker = out / "generated.txt"
    if not marker.is_file():
        shutil.rmtree(out, ignore_errors=True)
        print(f"generating {events:,} events into {out.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
        generate(out, accounts=accounts, events=events, seed=SEED, now=datetime.fromisoformat(NOW))
        marker.write_text("complete\n")
    return out


JVM_PID: list[int] = []  # the Spark driver's JVM, once started (its CPU time is read from /proc)


def cpu_seconds() -> float:
    """CPU time of this process (DuckDB's threads included) plus the Spark JVM's: a figure the load barely moves."""
    total = time.process_time()
    for pid in JVM_PID:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def timed(label: str, results: list[tuple[str, float, float]], fn):  # noqa: ANN001, ANN202
    started, cpu = time.perf_counter(), cpu_seconds()
    value = fn()
    if not JVM_PID and hasattr(value, "sparkContext"):
        JVM_PID.append(int(value.sparkContext._jvm.java.lang.ProcessHandle.current().pid()))
        cpu = None
    spent = cpu_seconds() - cpu if cpu is not None else float("nan")
    results.append((label, time.perf_counter() - started, spent))
    print(f"  {label}: {results[-1][1]:.1f} s, {spent:.1f} CPU s (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--exports", help="an existing export folder instead of generated sample exports")
    args = parser.parse_args()
    exports = Path(args.exports) if args.exports else exports_for(args.events, args.accounts)
    results: list[tuple[str, float, float]] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as scratch:
        work = Path(scratch)
        settings = load_settings(
            {
                "ANALYTICS_DATA_DIR": str(exports),
                "ANALYTICS_TIMEZONE": TIMEZONE,
                "ANALYTICS_NOW": NOW,
                "ANALYTICS_APP_DB": str(work / "app.duckdb"),
                "ANALYTICS_CACHE_DB": str(work / "cache.duckdb"),
            }
        )
        store = timed("duckdb ingest (fresh cache)", results, lambda: Store.open(settings))
        events = store.cursor().execute("select count(*) from raw_events").fetchall()[0][0]
        store.close()
        spark = timed("spark session start", results, lambda: spark_rollup.session(args.master))
        now = datetime.fromisoformat(NOW)
        out = str(work / "derived")
        timed(
            "spark rollup (empty folder)",
            results,
            lambda: spark_rollup.rollup(str(exports), out, timezone=TIMEZONE, now=now, spark=spark),
        )
        timed(
            "spark rollup (nothing new)",
            results,
            lambda: spark_rollup.rollup(str(exports), out, timezone=TIMEZONE, now=now, spark=spark),
        )
        spark.stop()
    load_after = os.getloadavg()
    duckdb_s, duckdb_cpu = results[0][1], results[0][2]
    print(f"\n{events:,} accepted events, {os.cpu_count()} cores, master {args.master}")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min)\n")
    print("| step | seconds | CPU seconds | per 10M events (wall / CPU) | vs DuckDB ingest (wall / CPU) |")
    print("|---|---:|---:|---:|---:|")
    scale = 10_000_000 / events if events else 0.0
    for label, seconds, cpu in results:
        print(
            f"| {label} | {seconds:.1f} | {cpu:.1f} | {seconds * scale:.0f} s / {cpu * scale:.0f} s "
            f"| {seconds / duckdb_s:.1f}x / {cpu / duckdb_cpu:.1f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Cost of `rollup --engine spark` on this machine next to the DuckDB ingest. Not a test.

    python benchmarks/bench_spark.py [--events 1000000] [--accounts 50] [--master local[*]] [--exports DIR]
        [--before REF [--again]] [--fresh] [--conf KEY=VALUE ...] [--java-options="-XX:..."] [--deliveries N]

Generates sample exports once per size (benchmarks/.data/spark-<events>/, git-ignored) unless --exports
is given, then in one run, on the same files and clock: the DuckDB ingest of a fresh cache (what the
dashboard and `rollup --engine duckdb` do first), the Spark session start, a plain Spark job doing the core
of the work (the yardstick), a first Spark rollup into an empty folder, a second one that finds nothing new,
and a third after a new file with 1% more events arrives (removed afterwards). Prints wall seconds, CPU
seconds (this process plus the Spark JVM, read from /proc: the steady measure on a shared machine), the
load average at each step, events per second, and each step's CPU against the plain job's and DuckDB's.
With --before REF (a git commit), the same three rollups follow with that commit's engine/spark_rollup.py, in
the same JVM and on the same files: a before/after at one load (the before runs last, on a warm JIT); --again
then runs this commit's three once more, as warm as the before's (after, before, after: the order's share shows).
With --fresh nothing shares a JVM: the plain job (with Java's default options, then the rollup's if other), this
commit's rollups and --before's each run in a process and JVM of their own, so none pays or skips another's
warm-up; the table then has one session start per JVM. --conf (a session setting) and --java-options (the
driver JVM's; default: what `rollup --engine spark` starts for this folder, by its event files' size) apply to
this commit's rollups. --deliveries N: after the 1% rerun, N more 1% files arrive one at a time, each brought in
by a rollup in the same session (what `rollup --engine spark --every` does day after day; the files stay until
the last, then go). With --fresh and reruns, one more JVM runs any job's first query (one event file summed by
account and written): what a rerun as a spark-submit of its own pays before its own work.
Two runs at once on the same size share one export folder: the 1% file one adds shows up in the other's
runs (a "nothing new" run that is not). Give each its own --exports, or run them one after the other.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
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


JVM: list = []  # the driver JVM's gateway view, once started (its own counters of GC, JIT and code generation)


def jvm_counters() -> tuple[float, float, int, float]:
    """The JVM's GC seconds, JIT compiler seconds (elapsed in its threads), Spark's generated-class compiles and
    their seconds (Janino; the histogram keeps its last 1028 samples, so exact for a few hundred compiles)."""
    if not JVM:
        return 0.0, 0.0, 0, 0.0
    beans = JVM[0].java.lang.management.ManagementFactory
    gc = sum(bean.getCollectionTime() for bean in beans.getGarbageCollectorMXBeans()) / 1000
    jit = beans.getCompilationMXBean().getTotalCompilationTime() / 1000
    histogram = JVM[0].org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()
    compile_seconds = sum(histogram.getSnapshot().getValues()) / 1000
    return gc, jit, histogram.getCount(), compile_seconds


def timed(label: str, results: list[tuple[str, float, float]], fn):  # noqa: ANN001, ANN202
    started, cpu, counters = time.perf_counter(), cpu_seconds(), jvm_counters()
    value = fn()
    if not JVM_PID and hasattr(value, "sparkContext"):
        JVM_PID.append(int(value.sparkContext._jvm.java.lang.ProcessHandle.current().pid()))
        JVM.append(value.sparkContext._jvm)
        cpu = None
    spent = cpu_seconds() - cpu if cpu is not None else float("nan")
    results.append((label, time.perf_counter() - started, spent, os.getloadavg()[0]))
    gc, jit, compiles, compiling = (after - before for after, before in zip(jvm_counters(), counters, strict=True))
    print(
        f"  {label}: {results[-1][1]:.1f} s, {spent:.1f} CPU s (load {os.getloadavg()[0]:.1f}); "
        f"JVM: GC {gc:.1f} s, JIT compiler threads {jit:.1f} s, {compiles} generated classes compiled "
        f"in {compiling:.1f} s",
        file=sys.stderr,
    )
    return value


def plain_job(spark, events_dir: Path, out: str) -> None:  # noqa: ANN001
    """What a Spark user would write for the core of the work: read, one row per event id (the last file's),
    daily sums per account, member and service in the zone, write parquet. The yardstick for the rollup."""
    from pyspark.sql import functions as F

    events = spark.read.option("recursiveFileLookup", "true").parquet(str(events_dir))
    order = F.struct(F.col("_metadata.file_path"), F.col("_metadata.row_index"))
    content = F.struct("account_id", "user_id", "service", "occurred_at", "tokens")
    won = events.groupBy("event_id").agg(F.max_by(content, order).alias("w")).select("w.*")
    local_day = F.to_date(F.from_utc_timestamp("occurred_at", TIMEZONE))
    daily = won.groupBy("account_id", "user_id", "service", local_day.alias("day")).agg(
        F.sum("tokens").alias("tokens"), F.count(F.lit(1)).alias("calls")
    )
    daily.write.mode("overwrite").partitionBy("day").parquet(out)


FIRST_QUERY = "any job's first query in a fresh JVM (one event file summed by account, written)"


def first_query(spark, events_dir: Path, out: str) -> None:  # noqa: ANN001
    """The least a job run as its own spark-submit pays before its own work: one event file (the smallest) read,
    summed by account and written, as a fresh JVM's first query (Spark's planner, readers and writers loaded and
    compiled). The floor under a rerun in a JVM of its own."""
    smallest = min(events_dir.rglob("*.parquet"), key=lambda path: path.stat().st_size)
    spark.read.parquet(str(smallest)).groupBy("account_id").sum("tokens").write.mode("overwrite").parquet(out)


def add_new_events(exports: Path, share: float, number: int = 0) -> Path:
    """A new events file with `share` of the events again under new ids (the next export's delivery; `number`
    tells deliveries apart: each has its own file and ids)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = sorted((exports / "usage_events").rglob("*.parquet"))
    table = pq.read_table(files[-1])
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    table = table.slice(0, min(table.num_rows, max(1, int(total * share))))
    prefix = f"bench-new-{number}-" if number else "bench-new-"
    ids = pc.binary_join_element_wise(pa_string(prefix), table.column("event_id"), pa_string(""))
    path = files[-1].with_name(f"zz-bench-new-{number}.parquet" if number else "zz-bench-new.parquet")
    pq.write_table(table.set_column(table.schema.get_field_index("event_id"), "event_id", ids), path)
    return path


def module_at(ref: str):  # noqa: ANN201
    """engine/spark_rollup.py as it was at a git commit, loaded beside the current one."""
    source = subprocess.run(
        ["git", "show", f"{ref}:token_analytics/engine/spark_rollup.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="bench-before-")) / "spark_rollup_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("spark_rollup_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def rollups(  # noqa: PLR0913
    label: str,
    engine,
    exports: Path,
    out: str,
    spark,
    results: list,
    reruns: bool,
    keep: Path | None = None,  # noqa: ANN001
    deliveries: int = 0,
) -> None:
    """Into an empty folder; again with nothing new; again after a new file with 1% more events, then after each of
    `deliveries` more (the new files removed at the end).
    `keep`: a copy of the folder as the first rollup left it goes there (for a rerun in another JVM)."""
    now = datetime.fromisoformat(NOW)

    def run():  # noqa: ANN202
        return engine.rollup(str(exports), out, timezone=TIMEZONE, now=now, spark=spark)

    timed(f"{label} (empty folder)", results, run)
    if keep is not None:
        shutil.copytree(out, keep / "derived")
    if not reruns:
        return
    timed(f"{label} (nothing new)", results, run)
    added = [add_new_events(exports, 0.01)]
    try:  # `rollup --every` day after day: each delivery stays (a file gone would mean a full run), all in one session
        timed(f"{label} (1% new events)", results, run)
        for number in range(1, deliveries + 1):
            added.append(add_new_events(exports, 0.01, number))
            timed(f"{label} (1% new events, delivery {number + 1} in the session)", results, run)
    finally:
        for path in added:
            path.unlink()


def rerun(label: str, engine, exports: Path, out: str, spark, results: list) -> None:  # noqa: ANN001
    """The rollup after a new file with 1% more events arrives (removed afterwards)."""
    added = add_new_events(exports, 0.01)
    try:
        timed(
            label,
            results,
            lambda: engine.rollup(str(exports), out, timezone=TIMEZONE, now=datetime.fromisoformat(NOW), spark=spark),
        )
    finally:
        added.unlink()


def pa_string(text: str):  # noqa: ANN201
    import pyarrow as pa

    return pa.scalar(text, pa.string())


def measure(args: argparse.Namespace, exports: Path, only: str | None) -> tuple[int, str, list]:
    """The steps in this process and one JVM: all of them, or (`only`) the plain job or the rollups alone."""
    results: list[tuple[str, float, float, float]] = []
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
        conf = dict(item.split("=", 1) for item in args.conf)
        spark = timed(
            "spark session start",
            results,
            lambda: spark_rollup.session(args.master, java_options=java_options(args, exports), conf=conf),
        )
        runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
        print(f"  JVM options: {' '.join(runtime.getInputArguments())}", file=sys.stderr)
        spark_rollup.size_partitions(spark)  # the plain job gets the rollup's shuffle width: a fair yardstick
        partitions = spark.conf.get("spark.sql.shuffle.partitions")
        if only == "first":
            timed(
                FIRST_QUERY,
                results,
                lambda: first_query(spark, exports / "usage_events", str(work / "first")),
            )
        if only in (None, "plain"):
            timed(
                "plain job (read, dedup, daily sums, write)",
                results,
                lambda: plain_job(spark, exports / "usage_events", str(work / "plain")),
            )
        keep = Path(args.keep) if args.keep else None
        if only in (None, "rollup"):
            derived = str(work / "derived")
            reruns = not args.no_reruns
            rollups("spark rollup", spark_rollup, exports, derived, spark, results, reruns, keep, args.deliveries)
        if only == "rerun":  # the folder a first rollup left, brought up to date in a JVM of its own
            assert keep is not None
            label = "spark rollup (1% new events, a JVM of its own)"
            rerun(label, spark_rollup, exports, str(keep / "derived"), spark, results)
        if only in (None, "before") and args.before:
            before = module_at(args.before)
            label = f"rollup at {args.before}"
            rollups(label, before, exports, str(work / "before"), spark, results, not args.no_reruns)
            if args.again and only is None:  # the JVM is as warm for this one as for the before: the order shows
                rollups("spark rollup again", spark_rollup, exports, str(work / "again"), spark, results, True)
        spark.stop()
    return events, partitions, results


def java_options(args: argparse.Namespace, exports: Path) -> str:
    """--java-options, else what the rollup itself starts its JVM with for this folder (by the event files' size)."""
    return spark_rollup.java_options_for(str(exports)) if args.java_options is None else args.java_options


def fresh(args: argparse.Namespace, exports: Path) -> tuple[int, str, list]:
    """Each of the plain job, the rollups (and --before's) in its own process and JVM: none warms another.

    The plain job runs twice: as a Spark user would start it (Java's and Spark's defaults), and with the
    rollup's Java options; --conf and --java-options apply to this commit's rollups only (--before's runs with
    the Java options its own rollup chose for the folder, or Java's own before it chose any).
    """
    options = java_options(args, exports)
    steps = [
        ("plain", "", [], "plain job, Java's defaults"),
    ]
    if options.strip():  # the rollup's differ from Java's own (a small export): the plain job with them too
        steps.append(("plain", options, [], "plain job, the rollup's Java options"))
    steps += [("rollup", options, args.conf, "")]
    if not args.no_reruns:  # the rerun alone, and the floor under it: any job's first query in a fresh JVM
        steps += [("rerun", options, args.conf, "1% rerun"), ("first", options, [], "first query")]
    if args.before:  # the before as it ran: its own choice of Java options for this folder (none before it had one)
        chosen = getattr(module_at(args.before), "java_options_for", lambda _: "")(str(exports))
        steps += [("before", chosen, [], "")]
    keep = tempfile.mkdtemp(prefix="bench-spark-keep-")
    combined: list = []
    events, partitions = 0, ""
    for only, java, conf, name in steps:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, __file__, "--only", only, "--json", out.name, "--exports", str(exports)]
            command += ["--master", args.master, f"--java-options={java}"]  # with `=`: options start with a dash
            command += [f"--conf={item}" for item in conf]
            command += ["--keep", keep] if only in ("rollup", "rerun") else []
            command += ["--before", args.before] if args.before else []
            command += ["--no-reruns"] if args.no_reruns else []
            command += ["--deliveries", str(args.deliveries)]
            print(f"fresh JVM: {name or only}, Java options {java!r}, settings {conf}", file=sys.stderr, flush=True)
            subprocess.run(command, check=True)
            found = json.loads(Path(out.name).read_text())
        events, partitions = found["events"], found["partitions"]
        for label, seconds, cpu, load in found["results"]:
            if label.startswith("duckdb") and combined:
                continue
            if label == "spark session start":
                label = f"spark session start (for the {name or only} JVM)"
            elif label.startswith("plain job"):
                label = f"{name} (read, dedup, daily sums, write)"
            combined.append((label, seconds, cpu, load))
    shutil.rmtree(keep, ignore_errors=True)
    return events, partitions, combined


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--exports", help="an existing export folder instead of generated sample exports")
    parser.add_argument("--no-reruns", action="store_true", help="only the first rollup (large sizes)")
    parser.add_argument(
        "--deliveries",
        type=int,
        default=0,
        metavar="N",
        help="after the 1%% rerun, N more 1%% deliveries in the same session (as rollup --every runs day after day)",
    )
    parser.add_argument("--before", metavar="REF", help="also run this git commit's rollup, last, in the same JVM")
    parser.add_argument("--again", action="store_true", help="with --before: this commit's rollups once more, after it")
    parser.add_argument(
        "--fresh", action="store_true", help="the plain job, the rollups and --before's each in a JVM of its own"
    )
    parser.add_argument(
        "--java-options", help="the driver JVM's options (default: the rollup's for this folder, by its size)"
    )
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="a session setting")
    parser.add_argument("--only", choices=["plain", "rollup", "rerun", "before", "first"], help=argparse.SUPPRESS)
    parser.add_argument("--keep", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    exports = Path(args.exports) if args.exports else exports_for(args.events, args.accounts)
    load_before = os.getloadavg()
    if args.fresh:
        events, partitions, results = fresh(args, exports)
    else:
        events, partitions, results = measure(args, exports, args.only)
    if args.json:
        Path(args.json).write_text(json.dumps({"events": events, "partitions": partitions, "results": results}))
        return 0
    load_after = os.getloadavg()
    duckdb_cpu = results[0][2]
    plain = [cpu for label, _, cpu, _ in results if label.startswith("plain job")]
    plain_cpu = plain[0] if plain else float("nan")
    print(
        f"\n{events:,} accepted events, {os.cpu_count()} cores, master {args.master}, {partitions} shuffle partitions, "
        f"{'each step in a fresh JVM' if args.fresh else 'one JVM'}, settings {args.conf or 'the defaults'}, "
        f"Java options {java_options(args, exports)!r}"
    )
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min)\n")
    print(
        "| step | seconds | CPU seconds (JVM + Python) | load | events/s (wall) | vs plain job (CPU) "
        "| vs DuckDB ingest (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, seconds, cpu, load in results:
        if math.isnan(cpu):  # a session start: its JVM did not exist when it began; its CPU is in no step
            print(f"| {label} | {seconds:.1f} | — | {load:.1f} | — | — | — |")
            continue
        rate = "—" if label == FIRST_QUERY else f"{events / seconds:,.0f}"  # it reads one file, not the events
        print(
            f"| {label} | {seconds:.1f} | {cpu:.1f} | {load:.1f} | {rate} "
            f"| {cpu / plain_cpu:.2f}x | {cpu / duckdb_cpu:.1f}x |"
        )
    spent = {label: cpu for label, _, cpu, _ in results}
    for label in spent:
        full = spent.get(label.split(" (1% new events")[0] + " (empty folder)")
        if "(1% new events" in label and full:  # a rerun alone in its process has no full run beside it
            print(f"\n{label}: {spent[label] / full:.0%} of the same engine's full run (CPU)")
        full_run = spent.get("spark rollup (empty folder)")
        if label == FIRST_QUERY and full_run:
            print(f"\n{label}: {spent[label] / full_run:.0%} of the full run (CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

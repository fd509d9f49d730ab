"""Constants, errors, logging and timing helpers shared by every part of the benchmark."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from token_analytics.settings import RECENT_ENTRIES  # noqa: E402  (the checkout, put on the path above)

DATA_ROOT = ROOT / "benchmarks" / ".data"
# Each part runs as `python benchmarks/bench.py --child PART SPEC` (see run_part).
BENCH_SCRIPT = ROOT / "benchmarks" / "bench.py"
NOW = "2026-11-29T10:00:00+08:00"
TIMEZONE = "Asia/Shanghai"
SEED = 20261129
DEFAULT_SIZES = (1_000_000, 10_000_000)
BIG_SIZE = 100_000_000
# The incremental ingest adds the next day's export: this fraction of the events.
INCREMENT_FRACTION = 0.01
SELF_CHECK_EVENTS = 50_000
SELF_CHECK_QUARANTINED = 61  # what part_mess writes: 60 bad events and one CONSUME of the wrong sign
RECENT_LIMIT = RECENT_ENTRIES
LEADERBOARD_LIMIT = 10
SERVICES = ("agent", "operator", "assistant")
TXN_TYPES = ("CONSUME", "RECHARGE", "BONUS", "REFUND", "ADJUSTMENT")
KINDS = ("accounts", "members", "usage_events", "transactions")
# The modules the measured code paths run (Store.open, ingest, analysis_figures, generate).
ENGINE_MODULES = (
    "engine/store",
    "engine/ingest",
    "engine/figures",
    "engine/periods",
    "settings",
    "engine/schema",
    "appdb",
    "db/appfile",
    "db/connection",
    "db/queries",
    "billing/orders",
    "billing/ledger_entries",
    "billing/adjustments",
    "billing/plan_requests",
    "engine/sample",
)

# Targets of issues 2 and 11: ingest rate and memory at 10M events; the figure set (biggest and a small
# account), the incremental ingest and the no-op refresh at every size, 100M included.
TARGET_SIZE = 10_000_000
TARGET_FIGURES_MS = 20.0
TARGET_PANDAS_RATIO = 50.0
TARGET_INGEST_EPS = 2_000_000.0
TARGET_PEAK_MB = 1000.0
TARGET_INCR_SHARE = 0.05  # 1% new events cost at most 5% of a full ingest
TARGET_NOOP_S = 0.5  # a refresh that finds nothing new
# Peak memory of the pandas part per event (measured: 2.9 GB at 10M events); it is skipped when the
# machine has not got that much available (100M events would need about 30 GB).
PANDAS_BYTES_PER_EVENT = 300


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- timing helpers ----------------------------------------------------------------------------------------------


def timed_runs(fn: Callable[[], Any], runs: int, warmups: int, budget_s: float) -> dict[str, Any]:
    """Median of warm runs; slow functions warm up once and stop after `budget_s` once they have three runs."""
    started = time.perf_counter()
    for _ in range(warmups):
        fn()
        if time.perf_counter() - started > budget_s / 5:
            break
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < runs:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 3 and time.perf_counter() - started > budget_s:
            break
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(times)}


def peak_mb() -> float | None:
    """This process's own peak RSS (VmHWM of its address space), in MB.

    Not getrusage: on Linux a child's ru_maxrss also carries the peak of the address space it
    replaced at exec, which for a vfork/posix_spawn child is the parent's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


def run_part(part: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one part in a fresh interpreter; its own peak RSS comes from wait4."""
    spec = {**spec, "work": str(work), "result": str(work / f"{part}.result.json")}
    spec_path = work / f"{part}.spec.json"
    spec_path.write_text(json.dumps(spec))
    Path(spec["result"]).unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(BENCH_SCRIPT), "--child", part, str(spec_path)])
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode < 0:
        raise BenchError(f"part {part!r} was killed by signal {-proc.returncode} (out of memory?)")
    if proc.returncode != 0:
        raise BenchError(f"part {part!r} failed (exit {proc.returncode}); see its messages above")
    result = json.loads(Path(spec["result"]).read_text())
    # the child's own VmHWM; wait4's ru_maxrss (KiB) only when /proc is missing (it can include the parent's peak)
    result["peak_mb"] = result.pop("peak_mb_self", None) or usage.ru_maxrss * 1024 / 1e6
    result["part_s"] = time.perf_counter() - started
    return result

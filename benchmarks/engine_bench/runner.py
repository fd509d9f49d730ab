"""Each part in its own child process (its own peak memory), and every part for one size."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .baselines import part_baseline, part_pandas, part_raw
from .common import (
    DATA_ROOT,
    PANDAS_BYTES_PER_EVENT,
    SELF_CHECK_EVENTS,
    SELF_CHECK_QUARANTINED,
    BenchError,
    log,
    peak_mb,
    run_part,
)
from .data import ensure_data, link_farm, part_generate, part_mess
from .figures import part_engine
from .ingest import part_diag, part_incr, part_ingest
from .report import check_figures, engine_digest, engine_version, load_average, memory_available_mb, report

PARTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "generate": part_generate,
    "baseline": part_baseline,
    "ingest": part_ingest,
    "engine": part_engine,
    "pandas": part_pandas,
    "raw": part_raw,
    "diag": part_diag,
    "incr": part_incr,
    "mess": part_mess,
}


def child_main(part: str, spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    try:
        result = PARTS[part](spec)
    except BenchError as exc:
        print(f"bench {part}: {exc}", file=sys.stderr)
        return 2
    result["peak_mb_self"] = peak_mb()
    Path(spec["result"]).write_text(json.dumps(result, default=str))
    return 0


def self_check(args: argparse.Namespace) -> list[str]:
    """Before timing anything: on small messy exports the three implementations must give the same figures."""
    log(f"self-check on messy exports ({SELF_CHECK_EVENTS:,} events plus overlapping and bad rows)")
    results = run_all(SELF_CHECK_EVENTS, args, self_check=True)
    problems = check_figures(results, skip=("raw parquet plain",))
    # the variant without de-duplication must be wrong here, or the messy files did not test anything
    if not check_figures(results, skip=("pandas", "raw parquet dedup")):
        problems.append("the raw variant without de-duplication agrees on overlapping exports: the check is void")
    leaders = results["engine"]["views"]["largest"]["figures"]["leaderboard"]
    if not any(row["display_name"] == "Renamed Member" for row in leaders):
        problems.append("the renamed member (a later members file) is not on the largest account's leaderboard")
    quarantined = results["ingest"]["quarantined"]
    if quarantined != SELF_CHECK_QUARANTINED:
        problems.append(f"ingest quarantined {quarantined} rows, the messy files hold {SELF_CHECK_QUARANTINED}")
    if problems:
        print("self-check on messy exports: FIGURES DISAGREE:\n  " + "\n  ".join(problems))
    else:
        print(
            f"self-check on messy exports ({SELF_CHECK_EVENTS:,} events + overlapping files: exact duplicates, "
            f"conflicts that win and that lose, moved events, {quarantined} quarantined rows, a renamed member): "
            "figures agree (engine = pandas = raw parquet de-duplicated; without de-duplication they differ)"
        )
    return problems


def run_all(size: int, args: argparse.Namespace, self_check: bool = False) -> dict[str, Any]:
    """Every part for one size; the self-check runs each view once on a messy copy and skips the diagnostics."""
    data_dir, data = ensure_data(size, args.accounts, args.fresh)
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"run-{size}-", dir=DATA_ROOT))
    farm = work / "exports"  # hard links to the exports: files can be added without touching the originals
    spec: dict[str, Any] = {
        "data_dir": str(farm),
        "runs": 1 if self_check else args.runs,
        "warmups": 0 if self_check else args.warmups,
        "budget": args.budget,
    }
    results: dict[str, Any] = {"load_before": load_average(), "data": data, "engine_version": engine_version()}
    digest = engine_digest()
    try:
        link_farm(data_dir, farm)
        if self_check:
            run_part("mess", {"farm": str(farm)}, work)
        log(f"{size:,} events: baseline")
        results["baseline"] = run_part("baseline", spec, work)
        log(f"{size:,} events: ingest into a fresh cache")
        results["ingest"] = run_part("ingest", spec, work)
        log(f"{size:,} events: engine figure set")
        results["engine"] = run_part("engine", spec, work)
        accounts = {label: v["account"] for label, v in results["engine"]["views"].items()}
        need = size * PANDAS_BYTES_PER_EVENT / 1e6
        available = memory_available_mb()
        if available is not None and need > 0.8 * available:
            log(f"{size:,} events: pandas skipped (needs about {need:,.0f} MB, {available:,.0f} MB available)")
        else:
            log(f"{size:,} events: pandas baseline")
            results["pandas"] = run_part("pandas", {**spec, "accounts": accounts}, work)
        if getattr(args, "raw", True):
            log(f"{size:,} events: DuckDB over the raw parquet")
            results["raw"] = run_part("raw", {**spec, "accounts": accounts}, work)
        if not self_check and getattr(args, "diag", True):
            log(f"{size:,} events: ingest breakdown")
            results["diag"] = run_part("diag", spec, work)
        if not self_check:
            log(f"{size:,} events: incremental ingest")
            results["incr"] = run_part("incr", {**spec, "farm": str(farm)}, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["load_after"] = load_average()
    if engine_digest() != digest:
        results["engine_changed"] = True
        log(f"{size:,} events: the engine's sources changed during the run; the numbers mix two versions")
    return results


def bench_size(size: int, args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    results = run_all(size, args)
    problems = check_figures(results)
    verdicts = report(size, results["data"], results, problems)
    return results, verdicts, problems

"""The printed tables, the targets the engine must meet, and what was measured on which machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import (
    ENGINE_MODULES,
    ROOT,
    TARGET_FIGURES_MS,
    TARGET_INCR_SHARE,
    TARGET_INGEST_EPS,
    TARGET_NOOP_S,
    TARGET_PANDAS_RATIO,
    TARGET_PEAK_MB,
    TARGET_SIZE,
)
from .figures import differences

# --- report -------------------------------------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(value: float, reference: float) -> str:
    if reference <= 0 or value <= 0:
        return "-"
    ratio, word = (value / reference, "slower") if value >= reference else (reference / value, "faster")
    return f"{ratio:,.0f}x {word}" if ratio >= 10 else f"{ratio:.1f}x {word}"


def print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    header = ("part", "time", "vs engine", "peak MB", "notes")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))


def check_figures(results: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """The pandas and raw-parquet figures must equal the engine's, account by account."""
    problems: list[str] = []
    engine = results["engine"]["views"]
    others = []
    if "pandas" in results:
        others += [(f"pandas, {label}", label, view) for label, view in results["pandas"]["views"].items()]
    if "raw" in results:
        others += [(f"raw parquet {key}", key.split("/")[-1], view) for key, view in results["raw"]["views"].items()]
    for name, label, view in others:
        if any(name.startswith(prefix) for prefix in skip):
            continue
        diff = differences(engine[label]["figures"], view["figures"])
        if diff:
            problems.append(f"{name} ({view['account']}): " + "; ".join(diff[:5]))
    return problems


def report(size: int, data: dict[str, Any], results: dict[str, Any], problems: list[str]) -> list[dict[str, Any]]:
    """Print the table of one size and the targets; return the target verdicts."""
    eng = results["engine"]["views"]
    ing = results["ingest"]
    rows: list[tuple[str, str, str, str, str]] = []
    for label in ("largest", "median", "smallest"):
        if label not in eng:
            continue
        v = eng[label]
        rows.append(
            (
                f"engine figure set, {label}",
                fmt_time(v["median_s"]),
                "1x (reference)",
                f"{results['engine']['peak_mb']:.0f}",
                f"{v['account']}, {v['events']:,} events, {v['runs']} runs, min {fmt_time(v['min_s'])}",
            )
        )
    if "pandas" in results:
        pan = results["pandas"]
        for label in ("largest", "median"):
            v = pan["views"][label]
            rows.append(
                (
                    f"pandas per view, {label}",
                    fmt_time(v["median_s"]),
                    fmt_ratio(v["median_s"], eng[label]["median_s"]),
                    f"{pan['peak_mb']:.0f}",
                    f"{v['runs']} runs (data already loaded)",
                )
            )
        rows.append(
            (
                "pandas load (once)",
                fmt_time(pan["load_s"]),
                fmt_ratio(pan["load_s"], ing["wall_s"]) + " than ingest",
                f"{pan['peak_mb']:.0f}",
                "read all files, validate, de-duplicate",
            )
        )
    if "raw" in results:
        raw = results["raw"]
        for key, what in (("dedup", "de-duplicated"), ("plain", "no de-dup")):
            for label in ("largest", "median"):
                v = raw["views"][f"{key}/{label}"]
                rows.append(
                    (
                        f"DuckDB raw parquet ({what}), {label}",
                        fmt_time(v["median_s"]),
                        fmt_ratio(v["median_s"], eng[label]["median_s"]),
                        f"{raw['peak_mb']:.0f}",
                        f"{v['runs']} runs",
                    )
                )
    eps = ing["events"] / ing["wall_s"]
    rows.append(
        (
            "ingest (fresh cache)",
            fmt_time(ing["wall_s"]),
            "-",
            f"{ing['peak_mb']:.0f}",
            f"{eps / 1e6:.2f}M events/s; {phase_text(ing.get('engine_phases', {}))}; cache {ing['cache_mb']:.0f} MB, "
            f"usage_daily {ing['usage_daily_rows']:,} rows, usage_hourly {ing.get('usage_hourly_rows', 0):,} rows",
        )
    )
    if "incr" in results:
        inc = results["incr"]
        rows.append(
            (
                f"ingest +{inc['events']:,} events (next day)",
                fmt_time(inc["wall_s"]),
                f"{inc['wall_s'] / ing['wall_s']:.1%} of a full ingest",
                f"{inc['peak_mb']:.0f}",
                f"{inc['files_read']} new file, {'full derivation' if inc['full'] else 'touched slices only'}: "
                + phase_text(inc["engine_phases"]),
            )
        )
        rows.append(
            (
                "refresh, nothing new",
                fmt_time(inc["noop_s"]),
                "-",
                "-",
                "Store.ingest when no export file changed (median of 3)",
            )
        )
    rows.append(
        (
            "reopen, nothing changed",
            fmt_time(results["engine"]["reopen_s"]),
            "-",
            "-",
            "Store.open when no export file changed",
        )
    )
    print()
    print(
        f"== {size:,} events ({data['accounts']} accounts, {data['members']} members, "
        f"{data['transactions']:,} transactions, {data['files']} files) =="
    )
    print_table(rows)
    print(f"engine: {results['engine_version']}")
    if results.get("engine_changed"):
        print("WARNING: the engine's sources changed while this size ran; its numbers mix two versions. Run again.")
    if "incr" in results and (results["incr"]["files_read"] != 1 or results["incr"]["full"]):
        print("WARNING: the incremental ingest re-read or re-derived everything (did the engine change?)")
    print(
        f"machine: {results['load_before']} before, {results['load_after']} after this size"
        " (well above 0 before means other work competed for the CPU)"
    )
    print(f"process floor (python + duckdb + pandas + pyarrow imported): {results['baseline']['peak_mb']:.0f} MB")
    if "diag" in results:
        d = results["diag"]
        print(
            f"read phase breakdown: parquet decode of all event columns {d['scan_s']:.2f} s; plain copy into a DuckDB "
            f"file {d['copy_s']:.2f} s; the same copy with the two identity hashes instead of the id "
            f"{d['copy_hashed_s']:.2f} s"
        )
    breakdown = results["engine"].get("breakdown_ms") or {}
    if breakdown:
        print("engine queries, largest account: " + ", ".join(f"{k} {v:.1f} ms" for k, v in breakdown.items()))
    if problems:
        print("FIGURES DISAGREE:")
        for problem in problems:
            print(f"  {problem}")
    else:
        checked = ["pandas"] * ("pandas" in results) + ["raw parquet"] * ("raw" in results)
        print(f"figures agree: engine = {' = '.join(checked) or '(nothing to compare)'}, largest and median account")

    verdicts = targets(size, results)
    note = "" if size == TARGET_SIZE else f" (the targets are defined at {TARGET_SIZE:,} events)"
    print(f"targets{note}:")
    for v in verdicts:
        print(f"  {'PASS' if v['met'] else 'MISS'}  {v['text']}")
    return verdicts


def phase_text(phases: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items() if seconds >= 0.005) or "-"


def targets(size: int, results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of issues 2 and 11 that this size measures, each met or missed with its margin."""
    eng = results["engine"]["views"]
    out = []
    for label, v in eng.items():
        ms = v["median_s"] * 1000
        out.append(
            {
                "name": f"figure set < 20 ms, {label} account",
                "met": ms < TARGET_FIGURES_MS,
                "text": f"figure set, {label} account ({v['events']:,} events): {ms:.1f} ms vs < "
                f"{TARGET_FIGURES_MS:.0f} ms: " + margin(ms, TARGET_FIGURES_MS, lower_is_better=True, unit=" ms"),
            }
        )
    if "pandas" in results:
        ratio = min(results["pandas"]["views"][k]["median_s"] / eng[k]["median_s"] for k in results["pandas"]["views"])
        out.append(
            {
                "name": ">= 50x faster than pandas",
                "met": ratio >= TARGET_PANDAS_RATIO,
                "text": f"pandas per page view takes {ratio:.1f}x the engine's time (smaller of largest/median) vs >= "
                f"{TARGET_PANDAS_RATIO:.0f}x: " + margin(ratio, TARGET_PANDAS_RATIO, lower_is_better=False),
            }
        )
    ing = results["ingest"]
    eps = ing["events"] / ing["wall_s"]
    if size == TARGET_SIZE:
        out.append(
            {
                "name": "ingest >= 2M events/s",
                "met": eps >= TARGET_INGEST_EPS,
                "text": f"ingest {eps / 1e6:.2f}M events/s vs >= {TARGET_INGEST_EPS / 1e6:.0f}M: "
                + margin(eps, TARGET_INGEST_EPS, lower_is_better=False),
            }
        )
    peaks = {"ingest": ing["peak_mb"], "engine (serving)": results["engine"]["peak_mb"]}
    worst_name, worst = max(peaks.items(), key=lambda kv: kv[1])
    out.append(
        {
            "name": "peak memory < 1 GB",
            "met": worst < TARGET_PEAK_MB,
            "text": f"peak memory {worst:.0f} MB ({worst_name}; "
            + ", ".join(f"{k} {v:.0f} MB" for k, v in peaks.items())
            + f") vs < {TARGET_PEAK_MB:.0f} MB: "
            + margin(worst, TARGET_PEAK_MB, lower_is_better=True, unit=" MB"),
        }
    )
    if "incr" in results:
        inc = results["incr"]
        share = inc["wall_s"] / ing["wall_s"]
        out.append(
            {
                "name": "1% new events <= 5% of a full ingest",
                "met": share <= TARGET_INCR_SHARE,
                "text": f"{inc['events']:,} new events (1%) took {fmt_time(inc['wall_s'])}, {share:.1%} of a full "
                f"ingest vs <= {TARGET_INCR_SHARE:.0%}: "
                + margin(share * 100, TARGET_INCR_SHARE * 100 + 1e-9, lower_is_better=True, unit=" points"),
            }
        )
        out.append(
            {
                "name": "refresh with nothing new <= 0.5 s",
                "met": inc["noop_s"] <= TARGET_NOOP_S,
                "text": f"refresh with nothing new {fmt_time(inc['noop_s'])} vs <= {TARGET_NOOP_S} s: "
                + margin(inc["noop_s"], TARGET_NOOP_S + 1e-9, lower_is_better=True, unit=" s"),
            }
        )
    return out


def margin(value: float, target: float, lower_is_better: bool, unit: str = "") -> str:
    if lower_is_better:
        if value < target:
            return f"met, {(1 - value / target) * 100:.0f}% under the limit"
        return f"missed by {value - target:,.1f}{unit} ({value / target:.2f}x the limit)"
    if value >= target:
        return f"met, {value / target:.2f}x the target"
    return f"missed, {value / target * 100:.0f}% of the target (needs {target / value:.2f}x)"


# --- main ---------------------------------------------------------------------------------------------------------


def machine() -> str:
    """One line about the machine and the library versions (without importing the libraries here)."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    total = None
    try:
        total = int(Path("/proc/meminfo").read_text().split()[1]) * 1024 / 1e9
    except (OSError, ValueError, IndexError):
        pass
    versions = []
    for name in ("duckdb", "pandas", "pyarrow"):
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            versions.append(f"{name} ?")
    ram = f", {total:.0f} GB RAM" if total else ""
    return f"{os.cpu_count()} cores ({cpu}){ram}; Python {sys.version.split()[0]}, {', '.join(versions)}"


def engine_digest() -> str:
    """A digest of the sources this benchmark exercises (the data engine and queries/*.sql): what was measured."""
    import hashlib

    digest = hashlib.sha256()
    modules = [ROOT / "token_analytics" / f"{name}.py" for name in ENGINE_MODULES]
    for path in sorted([*modules, *(ROOT / "queries").glob("*.sql")]):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def engine_version() -> str:
    """The commit, whether the engine has uncommitted changes, and the digest of its sources."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "token_analytics", "queries"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", ""
    return f"commit {commit}{' + uncommitted engine changes' if dirty else ''}, engine sources {engine_digest()}"


def load_average() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def memory_available_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1000.0
    except OSError:
        return None
    return None


def strip_figures(value: Any) -> Any:
    """The results without the (bulky) figure dicts."""
    if isinstance(value, dict):
        return {k: strip_figures(v) for k, v in value.items() if k != "figures"}
    return value

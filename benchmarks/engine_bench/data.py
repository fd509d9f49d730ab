"""Sample exports for the benchmark: generated once per size, a clean and a messy variant."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .common import DATA_ROOT, KINDS, NOW, ROOT, SEED, TIMEZONE, BenchError, log, run_part

# --- data ---------------------------------------------------------------------------------------------------------


def data_dir_for(size: int, accounts: int) -> Path:
    return DATA_ROOT / f"events-{size}-accounts-{accounts}-seed-{SEED}"


def ensure_data(size: int, accounts: int, fresh: bool) -> tuple[Path, dict[str, Any]]:
    """Generate the exports of one size once (in a child); reuse them when the marker says they are complete."""
    out = data_dir_for(size, accounts)
    marker = out / "generated.json"
    wanted = {"events": size, "accounts": accounts, "seed": SEED, "now": NOW}
    if not fresh and marker.is_file():
        try:
            info = json.loads(marker.read_text())
        except ValueError:
            info = {}
        if info.get("params") == wanted:
            log(f"reusing {out.relative_to(ROOT)} ({size:,} events)")
            return out, info["summary"]
    log(f"generating {size:,} events for {accounts} accounts into {out.relative_to(ROOT)} ...")
    marker.unlink(missing_ok=True)
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="generate-", dir=DATA_ROOT))
    try:
        summary = run_part("generate", {"out": str(out), "events": size, "accounts": accounts}, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    marker.write_text(json.dumps({"params": wanted, "summary": summary}, indent=2))
    log(f"generated {summary['events']:,} events in {summary['generate_s']:.1f} s")
    return out, summary


def export_files(data_dir: Path, kind: str) -> list[Path]:
    """The export files of one kind, in the order the engine ranks them (relative path ascending)."""
    folder = data_dir / kind
    files = [p for p in folder.rglob("*.parquet") if p.is_file()] if folder.is_dir() else []
    return sorted(files, key=lambda p: p.relative_to(data_dir).as_posix())


def link_farm(data_dir: Path, target: Path) -> None:
    """A copy of the export tree made of hard links (symlinks as a fallback), so files can be added to it."""
    for kind in KINDS:
        for src in export_files(data_dir, kind):
            dst = target / src.relative_to(data_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                os.symlink(src, dst)


def settings_env(data_dir: Path, work: Path) -> dict[str, str]:
    return {
        "ANALYTICS_MODE": "saas",
        "ANALYTICS_DATA_DIR": str(data_dir),
        "ANALYTICS_TIMEZONE": TIMEZONE,
        "ANALYTICS_NOW": NOW,
        "ANALYTICS_APP_DB": str(work / "app.duckdb"),
        "ANALYTICS_CACHE_DB": str(work / "cache.duckdb"),
    }


# --- child parts ----------------------------------------------------------------------------------------------------


def part_generate(spec: dict[str, Any]) -> dict[str, Any]:
    from token_analytics.engine.sample import generate

    last = [0.0]

    def progress(message: str) -> None:
        if time.perf_counter() - last[0] > 5:
            last[0] = time.perf_counter()
            log(f"  generate: {message}")

    started = time.perf_counter()
    summary = generate(
        Path(spec["out"]),
        accounts=spec["accounts"],
        events=spec["events"],
        seed=SEED,
        now=datetime.fromisoformat(NOW),
        progress=progress,
    )
    return {**json.loads(json.dumps(summary, default=str)), "generate_s": time.perf_counter() - started}


def part_mess(spec: dict[str, Any]) -> dict[str, Any]:
    """Make the self-check's exports messy: overlapping files with exact duplicates, conflicts that win and
    conflicts that lose, an event moved to another account, quarantined rows, a renamed member."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    farm = Path(spec["farm"])

    def replace(table: pa.Table, name: str, values: Any) -> pa.Table:
        column = table.column(name)
        return table.set_column(table.schema.get_field_index(name), name, pa.array(values, column.type))

    events = export_files(farm, "usage_events")
    late_src = pq.read_table(events[-1])
    if late_src.num_rows < 800:
        raise BenchError("the self-check needs at least 800 events in the last export file")
    exact = late_src.slice(0, 300)
    changed = late_src.slice(300, 300)
    changed = replace(changed, "tokens", pc.add(changed.column("tokens"), 7))
    moved = late_src.slice(600, 100)
    moved = replace(moved, "account_id", ["acct-bench-moved"] * moved.num_rows)
    bad = late_src.slice(700, 60)
    tokens = bad.column("tokens").to_pylist()
    services = bad.column("service").to_pylist()
    ids = bad.column("event_id").to_pylist()
    for i in range(20):
        tokens[i] = -1  # negative tokens
        services[20 + i] = "unknown"  # unknown service
        ids[40 + i] = ""  # missing event_id
    bad = replace(replace(replace(bad, "tokens", tokens), "service", services), "event_id", ids)
    pq.write_table(pa.concat_tables([exact, changed, moved, bad]), events[-1].with_name("part-9000-overlap.parquet"))
    # an overlapping file that sorts before the first part of its folder: its conflicting rows must lose
    early_src = pq.read_table(events[0]).slice(0, 300)
    early = replace(early_src, "tokens", pc.multiply(early_src.column("tokens"), 3))
    pq.write_table(early, events[0].with_name("part-0000-a-early.parquet"))

    txns = export_files(farm, "transactions")
    ledger = pq.read_table(txns[-1])
    latest = ledger.slice(max(0, ledger.num_rows - 40), 40)
    amounts = [a - 5 if a < 0 else a + 5 for a in latest.column("amount").to_pylist()]
    latest = replace(latest, "amount", amounts)
    wrong_sign = replace(ledger.slice(0, 1), "txn_id", ["txn-bench-wrong-sign"])
    wrong_sign = replace(replace(wrong_sign, "type", ["CONSUME"]), "amount", [5])
    pq.write_table(pa.concat_tables([latest, wrong_sign]), txns[-1].with_name("part-9000-overlap.parquet"))

    members = pq.read_table(export_files(farm, "members")[-1])
    renamed = replace(members.slice(0, 3), "display_name", ["Renamed Member"] * 3)
    pq.write_table(renamed, farm / "members" / "zz-overlap.parquet")  # sorts after members.parquet: it wins
    return {"files": 4}

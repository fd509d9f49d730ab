"""Benchmark of /token-history's queries on one account with a large ledger. Not a test.

    python benchmarks/bench_ledger.py [--entries 1000000] [--runs 5]

Writes a hand-built export (one account, `--entries` transactions over two years, 20
members, all five types and three methods) to a temporary folder, ingests it, then times
what the page does per run: totals of the filtered set, the first, a middle and the last
page (50 rows, running balance over the whole unfiltered ledger), for several filters, and
the CSV export of a filtered set and of everything. Prints a table (median of the runs);
no asserts, no targets.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from token_analytics.engine import ledger, ledger_csv  # noqa: E402
from token_analytics.engine.ledger import LedgerFilter  # noqa: E402
from token_analytics.engine.store import Store  # noqa: E402
from token_analytics.settings import load_settings  # noqa: E402

ACCOUNT = "acct-bench"
NOW = "2026-11-29T10:00:00+08:00"
START = datetime(2024, 12, 1, tzinfo=UTC)
END = datetime(2026, 11, 29, tzinfo=UTC)
MEMBERS = [f"user-bench-{n:02d}" for n in range(1, 21)]


def write_export(root: Path, entries: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    start_us, end_us = int(START.timestamp() * 1e6), int(END.timestamp() * 1e6)
    types = rng.choice(ledger.TYPES, size=entries, p=[0.9, 0.04, 0.02, 0.02, 0.02])
    amounts = rng.integers(1, 50_000, size=entries)
    amounts = np.where(types == "CONSUME", -amounts, amounts * 20)
    amounts = np.where((types == "ADJUSTMENT") & (rng.random(entries) < 0.5), -amounts // 20, amounts)
    methods = np.where(types == "RECHARGE", rng.choice(ledger.METHODS, size=entries), None)
    users = np.where(types == "CONSUME", rng.choice(MEMBERS, size=entries), None)
    table = pa.table(
        {
            "txn_id": [f"txn-bench-{n:08d}" for n in range(entries)],
            "account_id": pa.array([ACCOUNT] * entries),
            "user_id": pa.array(users.tolist(), pa.string()),
            "type": pa.array(types.tolist(), pa.string()),
            "amount": pa.array(amounts, pa.int64()),
            "created_at": pa.array(np.sort(rng.integers(start_us, end_us, size=entries)), pa.timestamp("us", tz="UTC")),
            "payment_method": pa.array(methods.tolist(), pa.string()),
            "description": pa.array(np.where(types == "CONSUME", "Service usage", "=SUM(1)").tolist(), pa.string()),
        }
    )
    for kind in ("transactions", "accounts", "members", "usage_events"):
        (root / kind).mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "transactions" / "ledger.parquet")
    pq.write_table(
        pa.table(
            {
                "account_id": [ACCOUNT],
                "account_name": ["Bench"],
                "owner_name": ["Bench Owner"],
                "plan": ["pro"],
                "created_at": pa.array([START], pa.timestamp("us", tz="UTC")),
            }
        ),
        root / "accounts" / "accounts.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "user_id": MEMBERS,
                "account_id": [ACCOUNT] * len(MEMBERS),
                "display_name": [m.title() for m in MEMBERS],
                "email": [f"{m}@example.com" for m in MEMBERS],
            }
        ),
        root / "members" / "members.parquet",
    )


def median_ms(work: Callable[[], object], runs: int) -> float:
    work()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        write_export(root / "export", args.entries)
        settings = load_settings(
            {
                "ANALYTICS_DATA_DIR": str(root / "export"),
                "ANALYTICS_APP_DB": str(root / "app.duckdb"),
                "ANALYTICS_NOW": NOW,
                "ANALYTICS_TIMEZONE": "Asia/Shanghai",
            }
        )
        store = Store.open(settings)
        print(f"built and ingested {args.entries:,} entries in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        filters = {
            "no filter": LedgerFilter(),
            "type CONSUME": LedgerFilter(types=("CONSUME",)),
            "types RECHARGE+BONUS": LedgerFilter(types=("RECHARGE", "BONUS")),
            "one month": LedgerFilter(start_day=date(2026, 10, 1), end_day=date(2026, 10, 31)),
            "member": LedgerFilter(user_id=MEMBERS[3]),
            "method ALIPAY": LedgerFilter(payment_method="ALIPAY"),
        }
        rows: list[tuple[str, int, float, float, float, float]] = []
        for name, flt in filters.items():
            count = ledger.totals(store, ACCOUNT, flt).count
            last = ledger.page_count(count) - 1
            rows.append(
                (
                    name,
                    count,
                    median_ms(lambda flt=flt: ledger.totals(store, ACCOUNT, flt), args.runs),
                    median_ms(lambda flt=flt: ledger.page(store, ACCOUNT, flt, 0), args.runs),
                    median_ms(lambda flt=flt, p=last // 2: ledger.page(store, ACCOUNT, flt, p), args.runs),
                    median_ms(lambda flt=flt, p=last: ledger.page(store, ACCOUNT, flt, p), args.runs),
                )
            )
        print(f"\n/token-history on one account with {args.entries:,} ledger entries (median of {args.runs} runs, ms)")
        print(f"{'filter':<22} {'rows':>9} {'totals':>8} {'first':>8} {'middle':>8} {'last':>8}")
        for name, count, *times in rows:
            print(f"{name:<22} {count:>9,} " + " ".join(f"{ms:>8.1f}" for ms in times))

        print(f"\n{'CSV export':<22} {'rows':>9} {'ms':>8} {'MB':>8}")
        for name in ("one month", "type CONSUME", "no filter"):
            flt = filters[name]
            data = ledger_csv.ledger_csv(store, ACCOUNT, flt)
            ms = median_ms(lambda flt=flt: ledger_csv.ledger_csv(store, ACCOUNT, flt), max(1, args.runs // 2))
            lines = data.count(b"\n") - 1  # minus the header
            print(f"{name:<22} {lines:>9,} {ms:>8.0f} {len(data) / 1e6:>8.1f}")
        store.close()


if __name__ == "__main__":
    main()

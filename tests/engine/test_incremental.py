"""Incremental derivation: after any sequence of added, changed and removed export
files, every derived table equals the one a full ingest of the same folder builds, row by row.

CI runs a fixed-seed profile (about 30 s); `TAC_HYPOTHESIS=thorough` runs many more examples.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests import builders as b
from token_analytics.engine import ingest as ingest_module

settings.register_profile(
    "ci",
    max_examples=8,
    stateful_step_count=8,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", max_examples=300, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE = settings.get_profile(os.environ.get("TAC_HYPOTHESIS", "ci"))

# America/New_York: the instants straddle the fall-back night (1 Nov 2026) and month and day edges.
ZONE = "America/New_York"
# the hourly rollup keeps local days from 1 Nov on (35 days before 6 Dec): 31 Oct's events only roll up by day
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
BASE = datetime(2026, 11, 1, 3, 30, tzinfo=UTC)
INSTANTS = [BASE + timedelta(minutes=m) for m in (0, 29, 30, 95, 150, 1440, 1470)] + [
    datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 12, 1, 4, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 12, 1, 5, 0, tzinfo=UTC),
]
EVENT_FILES = [
    "usage_events/a.parquet",
    "usage_events/b.parquet",
    "usage_events/month=2026-11/c.parquet",
    "usage_events/month=2026-12/d.parquet",
]
TXN_FILES = ["transactions/t1.parquet", "transactions/t2.parquet"]

event_rows = st.lists(
    st.fixed_dictionaries(
        {
            "event_id": st.sampled_from([f"e{i}" for i in range(8)]),  # few ids: many duplicates
            "account_id": st.sampled_from(["acct-1", "acct-2"]),
            "user_id": st.sampled_from(["u1", "u2", None]),
            "service": st.sampled_from(["agent", "operator", "assistant", "robot"]),  # robot: quarantined
            "occurred_at": st.sampled_from(INSTANTS),
            "tokens": st.integers(min_value=-1, max_value=50),  # -1: quarantined
            "input_tokens": st.none() | st.integers(min_value=0, max_value=9),
            "output_tokens": st.none() | st.integers(min_value=0, max_value=9),
            "model": st.sampled_from(["m-a", "m-b", None]),
        }
    ),
    min_size=0,
    max_size=6,
)
txn_rows = st.lists(
    st.builds(
        b.tx,
        st.sampled_from(["t1", "t2", "t3"]),
        st.sampled_from(["acct-1", "acct-2"]),
        st.sampled_from(["RECHARGE", "BONUS"]),
        st.integers(min_value=1, max_value=9),
        st.sampled_from(INSTANTS),
    ),
    max_size=3,
)

# Every derived table, with file ids replaced by paths (a full ingest numbers files differently).
TABLES = {
    "usage_hourly": "select * from usage_hourly",
    "usage_daily": "select * from usage_daily",
    "usage_totals": "select * from usage_totals",
    "account_months": "select * from account_months",
    "account_month_keys": "select * from account_month_keys",
    "event_losers": """
        select f.path, l.row_no, l.id_hash, l.id_hash2, l.is_conflict from event_losers l join files f using (file_id)
    """,
    "transaction_losers": """
        select f.path, l.txn_id, l.is_conflict from transaction_losers l join files f using (file_id)
    """,
    "transactions": "select * from transactions",
    "accounts": "select * from accounts",
    "members": "select * from members",
    "files": "select kind, path, status, error, rows_read, accepted, quarantined, latest_at from files",
    "quarantine": "select f.path, q.reason, q.rows from quarantine q join files f using (file_id)",
}


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in TABLES.items()}


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    return con


class ExportFolder(RuleBasedStateMachine):
    """Files come, change and go; one cache follows them incrementally."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="tac-inc-"))
        self.con = connect()
        self.clock = itertools.count(1)
        self.steps = 0

    def touch(self, rel: str) -> None:
        # a distinct mtime for every write, so a rewrite of the same size is seen as a change
        os.utime(self.root / rel, ns=(0, next(self.clock) * 1_000_000_000))

    @rule(rel=st.sampled_from(EVENT_FILES), rows=event_rows)
    def write_events(self, rel: str, rows: list[dict]) -> None:
        b.events(self.root, rel, rows)
        self.touch(rel)

    @rule(rel=st.sampled_from(TXN_FILES), rows=txn_rows)
    def write_transactions(self, rel: str, rows: list[dict]) -> None:
        b.transactions(self.root, rel, rows)
        self.touch(rel)

    @precondition(lambda self: any(self.root.rglob("*.parquet")))
    @rule(data=st.data())
    def remove_file(self, data: st.DataObject) -> None:
        present = sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*.parquet"))
        (self.root / data.draw(st.sampled_from(present))).unlink()

    @rule()
    def nothing_new(self) -> None:
        ingest_module.ingest(self.con, self.root, ZONE, now=NOW)
        assert ingest_module.ingest(self.con, self.root, ZONE, now=NOW).rebuilt is False

    @invariant()
    def equals_a_full_ingest(self) -> None:
        ingest_module.ingest(self.con, self.root, ZONE, now=NOW)
        full = connect()
        ingest_module.ingest(full, self.root, ZONE, now=NOW)
        assert snapshot(self.con) == snapshot(full)
        full.close()

    def teardown(self) -> None:
        self.con.close()
        shutil.rmtree(self.root, ignore_errors=True)


ExportFolder.TestCase.settings = PROFILE
test_incremental_equals_full_ingest = ExportFolder.TestCase

"""The export format's rules as data (engine/schema.py) and the ingest statements in queries/ingest/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests import builders as b
from tests.builders import ev, utc
from tests.conftest import NOW, settings_for
from token_analytics.engine import derived, ingest, schema, spark_rollup
from token_analytics.engine.store import Store

# One row per rule, breaking that rule and no earlier one; (column values, bound as parameters of the column's
# type, and the reason expected).
EVENT = {
    "event_id": "e",
    "account_id": "a",
    "occurred_at": datetime(2026, 11, 1, 0, tzinfo=UTC),
    "tokens": 5,
    "service": "agent",
}
TXN = {
    "txn_id": "t",
    "account_id": "a",
    "created_at": datetime(2026, 11, 1, 0, tzinfo=UTC),
    "amount": 5,
    "type": "RECHARGE",
}
CASES = {
    "usage_events": [
        ({}, None),
        ({"event_id": ""}, "missing event_id"),
        ({"event_id": None, "account_id": None}, "missing event_id"),  # the first broken rule names the row
        ({"account_id": None}, "missing account_id"),
        ({"occurred_at": None}, "missing occurred_at"),
        ({"occurred_at": datetime(9999, 12, 31, 0, tzinfo=UTC)}, "occurred_at out of range"),
        ({"occurred_at": datetime(1, 1, 1, 12, tzinfo=UTC)}, "occurred_at out of range"),
        ({"tokens": None}, "missing tokens"),
        ({"service": "Agent"}, "unknown service"),
        ({"service": None}, "unknown service"),
        ({"tokens": -1}, "negative tokens"),
        ({"tokens": 0, "service": "assistant"}, None),
    ],
    "transactions": [
        ({}, None),
        ({"txn_id": ""}, "missing txn_id"),
        ({"account_id": ""}, "missing account_id"),
        ({"created_at": None}, "missing created_at"),
        ({"amount": None}, "missing amount"),
        ({"type": "GIFT"}, "unknown type"),
        ({"type": "CONSUME"}, "amount of the wrong sign"),
        ({"type": "CONSUME", "amount": -5}, None),
        ({"type": "REFUND", "amount": 0}, "amount of the wrong sign"),
        ({"type": "BONUS", "amount": -1}, "amount of the wrong sign"),
        ({"type": "ADJUSTMENT", "amount": 0}, "amount of the wrong sign"),
        ({"type": "ADJUSTMENT", "amount": -3}, None),
    ],
}


# each column's type in the export (the value is bound as a parameter and cast to it)
TYPES = {"occurred_at": "timestamptz", "created_at": "timestamptz", "tokens": "bigint", "amount": "bigint"}


@pytest.mark.parametrize("dialect", schema.DIALECTS)
@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_rule_names_its_reason(kind: str, dialect: str) -> None:
    """The generated `case` (the text Spark is given is DuckDB-readable too) quarantines each row for its reason."""
    base = EVENT if kind == "usage_events" else TXN
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for changes, expected in CASES[kind]:
        values = {**base, **changes}
        # the column names and types are this test's constants; the values are bound
        row = ", ".join(f"${name}::{TYPES.get(name, 'varchar')} as {name}" for name in values)
        got = con.execute("select " + schema.reason_sql(kind, dialect) + " from (select " + row + ")", values)
        assert got.fetchall()[0][0] == expected, changes


def test_both_engines_take_the_rules_from_the_schema_module() -> None:
    # each reason appears exactly once in each engine's rules for the kind, in the order of RULES
    for kind in schema.RULES:
        for text in (ingest.STAGE[kind], spark_rollup.REASON[kind]):
            found = re.findall(r"then '([^']*)'", text)
            assert found == list(schema.reasons(kind))
    assert "'agent', 'operator', 'assistant'" in ingest.STAGE["usage_events"]
    assert "(type = 'CONSUME' and amount >= 0)" in spark_rollup.REASON["transactions"]


def test_generated_text_takes_no_stray_value() -> None:
    with pytest.raises(ValueError):
        schema.check_sql(schema.OneOf("service", ("agent', 'x",)), "duckdb")
    with pytest.raises(ValueError):
        schema.check_sql(schema.Missing("user_id; drop table x"), "duckdb")
    with pytest.raises(ValueError):
        schema.reason_sql("usage_events", "postgres")
    with pytest.raises(ValueError):
        ingest.table_name("members; drop table files")
    with pytest.raises(ValueError):
        ingest.filled("ingest/stage", columns="x")  # the reason slot left empty


def statements() -> list[tuple[str, ingest.Statement]]:
    found = []
    for name, value in vars(ingest).items():
        values = value.values() if isinstance(value, dict) else value if isinstance(value, tuple) else [value]
        found += [(name, item) for item in values if isinstance(item, ingest.Statement)]
    return found


def test_every_statement_declares_exactly_its_parameters() -> None:
    assert len(statements()) > 40
    for name, item in [*statements(), *((f"derived.EXPORT[{t}]", s) for t, s in derived.EXPORT.items())]:
        assert sorted(item.params) == sorted(set(re.findall(r"\$([a-z_]+)", item.text))), name


def test_every_ingest_query_file_is_one_the_ingest_reads() -> None:
    folder = Path(ingest.__file__).resolve().parents[2] / "queries" / "ingest"
    source = Path(ingest.__file__).read_text(encoding="utf-8")
    names = sorted(path.stem for path in folder.glob("*.sql"))
    assert names and [name for name in names if f'"ingest/{name}"' not in source] == []


def test_a_cache_of_the_previous_layout_is_rebuilt_with_typed_append_counts(tmp_path: Path) -> None:
    """Version 6 kept the append counts as text 'hourly,daily,ingests' in meta; the cache starts again."""
    root = tmp_path / "export"
    # ten days inside the hourly window: one appended row later stays under a quarter of either rollup
    days = [ev(f"d{d}", "acct-a", "u1", "agent", utc(f"2026-10-{d}T01:00:00+00:00"), 1) for d in range(10, 20)]
    b.events(root, "usage_events/a.parquet", days)
    settings = settings_for(tmp_path, root)
    with Store.open(settings) as store:
        cur = store.cursor()
        cur.execute("update meta set value = '6' where key = 'schema_version'")
        cur.execute("drop table rollup_appends")
        cur.execute("insert into meta values ('appended', '3,4,2')")
    b.events(root, "usage_events/b.parquet", [ev("e2", "acct-a", "u1", "agent", utc("2026-10-31T01:00:00+00:00"), 7)])
    with Store.open(settings) as store:
        cur = store.cursor()
        assert cur.execute("select count(*) from meta where key = 'appended'").fetchall() == [(0,)]
        assert cur.execute("select * from rollup_appends").fetchall() == [
            (0, 0, 0)
        ]  # a full derivation appends nothing
        assert cur.execute("select sum(tokens) from usage_daily").fetchall() == [(17,)]
        b.events(
            root,
            "usage_events/c.parquet",
            [ev("e3", "acct-a", "u1", "agent", datetime.fromisoformat(NOW) - timedelta(hours=1), 1)],
        )
        store.ingest()
        # an incremental ingest appends one daily row (a new day) and, inside the hourly window, one hourly row
        assert cur.execute("select * from rollup_appends").fetchall() == [(1, 1, 1)]
        types = cur.execute(
            "select data_type from duckdb_columns() where table_name = 'rollup_appends' order by column_index"
        ).fetchall()
        assert types == [("BIGINT",)] * 3

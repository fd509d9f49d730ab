"""The store keeps each query's parse, never its plan: after an ingest replaces the tables a figure reads, the next
figure set reads the new tables (the same figures as a store opened fresh on the same files)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests import builders as b
from tests.builders import ev, tx, utc
from tests.conftest import NOW, settings_for
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.store import Store

now = datetime.fromisoformat(NOW)
EARLIER = utc("2026-11-01T01:20:00+00:00")  # 09:20 local, before `now`: in today and in month to date


# the tables the figure set reads
READ = ("usage_daily", "usage_hourly", "usage_totals", "account_months", "account_month_keys", "ledger_sums")


def table_oids(store: Store) -> dict[str, int]:
    found = store.cursor().execute(
        "select table_name, table_oid from duckdb_tables()"
        " where database_name <> 'app' and list_contains($read, table_name)",
        {"read": list(READ)},
    )
    return dict(found.fetchall())


def test_figures_after_a_rebuild_read_the_new_tables(tmp_path: Path) -> None:
    root = tmp_path / "export"
    b.events(root, "usage_events/a.parquet", [ev("e1", "acct-a", "u1", "agent", EARLIER, 100)])
    b.transactions(root, "transactions/t.parquet", [tx("t1", "acct-a", "RECHARGE", 1000, utc(NOW))])
    with Store.open(settings_for(tmp_path, root)) as store:
        before = analysis_figures(store, "acct-a", now, "saas").to_json()
        assert before["cards"]["today"]["tokens"] == 100 and before["cards"]["balance"]["tokens"] == 1000
        assert before["month_to_date"]["tokens"] == 100 and before["today_so_far"]["tokens"] == 100
        oids = table_oids(store)
        # a changed file: the ingest derives every table again (new tables, not rows added to the old ones)
        b.events(root, "usage_events/a.parquet", [ev("e1", "acct-a", "u1", "agent", EARLIER, 7)])
        b.transactions(root, "transactions/t.parquet", [tx("t1", "acct-a", "RECHARGE", 30, utc(NOW))])
        assert store.ingest().rebuilt
        replaced = table_oids(store)
        assert set(oids) == set(replaced) == set(READ)
        # the test needs a catalog change under the kept parse: tables dropped and created, not rows updated
        assert {"usage_daily", "usage_hourly", "ledger_sums"} <= {name for name in READ if replaced[name] != oids[name]}
        after = analysis_figures(store, "acct-a", now, "saas").to_json()
    assert after["cards"]["today"]["tokens"] == 7 and after["cards"]["balance"]["tokens"] == 30
    assert after["month_to_date"]["tokens"] == 7 and after["today_so_far"]["tokens"] == 7
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    with Store.open(settings_for(fresh_dir, root)) as fresh:
        assert analysis_figures(fresh, "acct-a", now, "saas").to_json() == after


def test_a_statement_file_holds_one_statement(tmp_path: Path, edge_store: Store) -> None:
    with pytest.raises(ValueError, match="statements"):
        edge_store.statement("ledger_views")  # the two views of the ledger: run as a script, never as one query

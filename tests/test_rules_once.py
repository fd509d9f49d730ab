"""Rules the ingest, the Spark rollup and the app's queries share: each is written once.

The used/total rule of the ledger (SPEC §4: used = minus the CONSUME entries, total = every other entry)
is computed for the exported ledger by the ingest and by the Spark rollup (ledger_sums) and for the app's
own entries by queries/analysis_ledger.sql; they are added together, so two versions would give a wrong
balance. It is one fragment, queries/rules/ledger_used_total.sql, that each of them includes. The
recent-entries bound (settings.RECENT_ENTRIES) is bound as a parameter where the ingest and Spark keep it
(ledger_sums.recent_from) and where the query reads it.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from token_analytics.db.queries import query_names, query_text, rule_text, with_rules
from token_analytics.engine import figures, spark_rollup
from token_analytics.settings import RECENT_ENTRIES

ROOT = Path(__file__).resolve().parent.parent
RULE = "ledger_used_total"


def sources() -> dict[str, str]:
    files = [*(ROOT / "token_analytics").rglob("*.py"), *(ROOT / "queries").rglob("*.sql")]
    return {str(path.relative_to(ROOT)): " ".join(path.read_text(encoding="utf-8").split()) for path in files}


def test_the_used_and_total_rule_is_written_once_and_included_where_ledgers_are_summed() -> None:
    written = {name for name, text in sources().items() if "'CONSUME' then amount" in text}
    assert written == {f"queries/rules/{RULE}.sql"}, written
    including = {name for name, text in sources().items() if "{rule:" + RULE + "}" in text}
    assert including == {
        "queries/ingest/ledger_sums.sql",
        "queries/analysis_ledger.sql",
        "token_analytics/engine/spark_rollup.py",
    }, including
    # what runs has the fragment in place of the slot
    for statement in (query_text("ingest/ledger_sums"), query_text("analysis_ledger"), spark_rollup.LEDGER_SUMS):
        assert "{rule:" not in statement and rule_text(RULE) in statement
    assert f"rules/{RULE}" not in query_names()  # a part of statements, not one to run


def test_the_rule_gives_used_and_total_as_spec_4_defines_them() -> None:
    # by hand: CONSUME -300 and -200 -> used 500; a RECHARGE 1000, a REFUND 50 and an ADJUSTMENT -25 -> total 1025
    con = duckdb.connect()
    con.execute("create table t (account_id varchar, type varchar, amount bigint)")
    con.execute(
        "insert into t values ('a', 'CONSUME', -300), ('a', 'CONSUME', -200), ('a', 'RECHARGE', 1000), "
        "('a', 'REFUND', 50), ('a', 'ADJUSTMENT', -25), ('b', 'RECHARGE', 7)"
    )
    rows = con.execute(
        with_rules("select account_id, {rule:ledger_used_total} from t group by 1 order by 1")
    ).fetchall()
    assert rows == [("a", 500, 1025), ("b", 0, 7)]


def test_the_recent_entries_bound_is_one_constant() -> None:
    assert figures.RECENT_LIMIT == RECENT_ENTRIES
    analysis = (ROOT / "queries" / "analysis_ledger.sql").read_text(encoding="utf-8")
    assert "$limit <= $recent_entries" in analysis
    # ledger_sums.recent_from: the time of the account's RECENT_ENTRIES-th newest exported entry
    newest_first = r"row_number\(\) over \(partition by account_id order by created_at desc, txn_id desc\)"
    # (the ingest's and the Spark rollup's): each compares it with the bound parameter, never a number
    depths = {
        name: found.group(1)
        for name, text in sources().items()
        for found in re.finditer(newest_first + r"(?: as n from \w+ \) where n)? = (\S+)", text)
    }
    assert depths == {
        "queries/ingest/ledger_sums.sql": "$recent_entries",
        "token_analytics/engine/spark_rollup.py": ":recent_entries",
    }, depths


def test_a_spans_last_day_is_cut_by_one_rule_in_month_to_date_and_today_so_far() -> None:
    # the whole hours of the last day and the partial hour (SPEC §9) are written in one file, which the one
    # statement of month to date and today so far includes, and today so far's own (the self-hosted mode's)
    cut = "hour < $current_end_hour"
    written = {name for name, text in sources().items() if cut in text}
    assert written == {"queries/rules/span_last_day.sql"}, written
    including = {name for name, text in sources().items() if "{rule:span_last_day}" in text}
    assert including == {"queries/month_to_date.sql", "queries/today_so_far.sql"}, including
    for name in ("month_to_date", "today_so_far"):
        assert rule_text("span_last_day") in query_text(name)

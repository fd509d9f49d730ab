"""Rules the ingest, the Spark rollup and the app's queries each write: every copy says the same thing.

The used/total rule of the ledger (SPEC §4: used = minus the CONSUME entries, total = every other entry)
is computed for the exported ledger by the ingest and by the Spark rollup (ledger_sums) and for the app's
own entries by queries/analysis_ledger.sql; they are added together, so a copy that drifts would give a
wrong balance. The recent-entries bound (settings.RECENT_ENTRIES) is bound as a parameter where the ingest
and Spark keep it (ledger_sums.recent_from) and where the query reads it. Until the used/total rule is
generated from one definition, these tests fail when a copy differs.
"""

from __future__ import annotations

import re
from pathlib import Path

from token_analytics.engine import figures
from token_analytics.settings import RECENT_ENTRIES

ROOT = Path(__file__).resolve().parent.parent
USED = "coalesce(-sum(case when type = 'CONSUME' then amount end), 0)"
TOTAL = "coalesce(sum(case when type <> 'CONSUME' then amount end), 0)"


def sources() -> dict[str, str]:
    files = [*(ROOT / "token_analytics").rglob("*.py"), *(ROOT / "queries").rglob("*.sql")]
    return {str(path.relative_to(ROOT)): " ".join(path.read_text(encoding="utf-8").split()) for path in files}


def test_every_copy_of_the_used_and_total_rule_is_the_same() -> None:
    copies: list[tuple[str, str, str]] = []
    for name, text in sources().items():
        # every sum over amounts that names CONSUME, with what it is called
        for found in re.finditer(
            r"(coalesce\(-?sum\(case when [^()]*CONSUME[^()]*\), 0\))(?:::bigint)? as (\w+)", text
        ):
            copies.append((name, found.group(2), found.group(1)))
        mentions = len(re.findall(r"'CONSUME' then amount", text))
        assert mentions == len([c for c in copies if c[0] == name]), f"{name} sums CONSUME in a form not checked here"
    assert {(what, rule) for _, what, rule in copies} == {("used", USED), ("total", TOTAL)}, copies
    places = {name for name, _, _ in copies}
    assert "queries/analysis_ledger.sql" in places and len(places) >= 2, places  # the app's part and the exports'


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

"""Every figure of SPEC §4 on the hand-built edge-case export, against answers computed by hand."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests import builders as b
from tests.builders import ev, utc
from tests.conftest import NOW, settings_for
from token_analytics.db import query_names
from token_analytics.engine import explore
from token_analytics.engine.figures import analysis_figures, growth_pct
from token_analytics.engine.store import Store
from token_analytics.settings import RECENT_ENTRIES
from token_analytics.web import data

now = datetime.fromisoformat(NOW)


def ledger_row(store: Store, account_id: str, limit: int) -> dict[str, object]:
    """The row of queries/analysis_ledger.sql as the figure set asks for it (the runway's windows at `now`)."""
    return store.row(
        "analysis_ledger",
        account_id=account_id,
        limit=limit,
        recent_entries=RECENT_ENTRIES,
        **explore.runway_params(now, store.settings.zone),
    )


def figures_of(tmp_path: Path, events: list[dict], account: str, at: str, **env: str) -> dict:
    """The /analysis figures of `account` at `at` (ISO) over an export of these usage events only."""
    root = tmp_path / "export"
    b.events(root, "usage_events/e.parquet", events)
    with Store.open(settings_for(tmp_path, root, **env)) as store:
        return analysis_figures(store, account, datetime.fromisoformat(at), "saas").to_json()


def test_account_a_in_shanghai(edge_store: Store) -> None:
    f = analysis_figures(edge_store, "acct-a", now, "saas").to_json()
    # today 1 Nov local: e1 (00:00 exactly) 100 + e3 (23:59:59, later than now) 30 + e7 (the winning row) 20
    # yesterday 31 Oct: e2 (23:59:59.999, ms unit) 50
    assert f["comparison"]["today_vs_yesterday"] == {"tokens": [150, 50], "calls": [3, 1]}
    # November: 150 + e4 (2 Nov local) 7; October: e2 50 + e5 (naive UTC, 1 Oct 00:00 local) 1000
    assert f["comparison"]["month_vs_last_month"] == {"tokens": [157, 1050], "calls": [4, 2]}
    assert f["cards"]["today"] == {"tokens": 150, "previous": 50, "growth_pct": 200.0}
    assert f["cards"]["month"]["tokens"] == 157
    assert f["cards"]["month"]["growth_pct"] == pytest.approx((157 - 1050) / 1050 * 100)
    # all time: 100 + 50 + 30 + 7 + 1000 + 5 + 20 events, 7 calls; bad rows and the losing e7 count nowhere
    assert f["cards"]["service_calls"] == 7
    assert f["services"] == [
        {"service": "agent", "tokens": 107, "calls": 2},
        {"service": "operator", "tokens": 20, "calls": 1},
        {"service": "assistant", "tokens": 30, "calls": 1},
    ]
    # ledger: bonus 1000 + recharge 500 (duplicate counted once) + refund 20 - adjustment 8; consume 1212
    assert f["token_usage"] == {
        "used": 1212,
        "total": 1512,
        "remaining": 300,
        "percent_used": pytest.approx(1212 / 1512 * 100),
        "unlimited": False,
    }
    assert f["cards"]["balance"] == {"tokens": 300, "owner_name": "Li Wei"}


def test_leaderboard_shares_and_unknown_members(edge_store: Store) -> None:
    f = analysis_figures(edge_store, "acct-a", now, "saas").to_json()
    assert [(r["rank"], r["user_id"], r["display_name"], r["tokens"], r["calls"]) for r in f["leaderboard"]] == [
        (1, "u1", "Alice", 130, 2),
        (2, "u2", "Bob", 27, 2),
    ]
    assert [r["share_pct"] for r in f["leaderboard"]] == [pytest.approx(130 / 157 * 100), pytest.approx(27 / 157 * 100)]


def test_leaderboard_ties_by_user_id(edge_store: Store) -> None:
    board = analysis_figures(edge_store, "acct-tie", now, "saas").to_json()["leaderboard"]
    assert [(r["rank"], r["user_id"], r["display_name"], r["tokens"]) for r in board] == [
        (1, "t-a", "Tie A", 40),
        (2, "t-b", "Tie B", 40),
        (3, "ghost", "ghost", 20),  # an unknown member shows as its user_id
    ]
    assert [r["share_pct"] for r in board] == [pytest.approx(40.0), pytest.approx(40.0), pytest.approx(20.0)]


def test_recent_transactions_newest_first_ties_by_txn_id(edge_store: Store) -> None:
    recent = analysis_figures(edge_store, "acct-a", now, "saas").to_json()["recent_transactions"]
    assert [r["txn_id"] for r in recent] == ["t-adj", "t-use", "t-ref", "t-rech", "t-bonus"]
    first = recent[0]
    assert first == {
        "txn_id": "t-adj",
        "type": "ADJUSTMENT",
        "amount": -8,
        "created_at": "2026-11-01T09:30:00+08:00",
        "payment_method": None,
        "description": "=1+1",
    }
    assert recent[3]["payment_method"] == "ALIPAY"


def test_overdrawn_account(edge_store: Store) -> None:
    usage = analysis_figures(edge_store, "acct-over", now, "saas").to_json()["token_usage"]
    assert usage == {"used": 250, "total": 100, "remaining": -150, "percent_used": 250.0, "unlimited": False}


def test_empty_account(edge_store: Store) -> None:
    f = analysis_figures(edge_store, "acct-empty", now, "saas").to_json()
    assert f["token_usage"] == {"used": 0, "total": 0, "remaining": 0, "percent_used": None, "unlimited": False}
    assert f["cards"]["today"] == {"tokens": 0, "previous": 0, "growth_pct": 0.0}  # "same"
    assert f["cards"]["balance"] == {"tokens": 0, "owner_name": "Nobody"}
    assert f["services"] == [{"service": s, "tokens": 0, "calls": 0} for s in ("agent", "operator", "assistant")]
    assert f["leaderboard"] == [] and f["recent_transactions"] == []


def test_unknown_account_shows_nothing_of_others(edge_store: Store) -> None:
    f = analysis_figures(edge_store, "acct-nope", now, "saas").to_json()
    assert f["cards"]["service_calls"] == 0 and f["cards"]["balance"]["owner_name"] is None
    assert f["token_usage"]["total"] == 0


def test_utc_zone_moves_the_day_boundaries(tmp_path: Path, edge_dir: Path) -> None:
    with Store.open(settings_for(tmp_path, edge_dir, ANALYTICS_TIMEZONE="UTC")) as store:
        f = analysis_figures(store, "acct-a", now, "saas").to_json()
        # now = 02:00 UTC on 1 Nov. Today (UTC): e3 30 + e4 7 + e7 20; yesterday: e1 100 + e2 50
        assert f["comparison"]["today_vs_yesterday"] == {"tokens": [57, 150], "calls": [3, 2]}
        # November UTC = today; October UTC = e1 + e2; e5 (naive 30 Sep 16:00) is September in UTC
        assert f["comparison"]["month_vs_last_month"] == {"tokens": [57, 150], "calls": [3, 2]}


def test_month_edge_in_january(tmp_path: Path) -> None:
    f = figures_of(
        tmp_path,
        [
            ev("d1", "acct-j", "u", "agent", utc("2025-12-31T15:59:59+00:00"), 1),  # 31 Dec 23:59:59 local
            ev("d2", "acct-j", "u", "agent", utc("2025-12-31T16:00:00+00:00"), 2),  # 1 Jan 00:00 local
            ev("d3", "acct-j", "u", "agent", utc("2025-12-01T00:00:00+00:00"), 4),  # 1 Dec local
            ev("d4", "acct-j", "u", "agent", utc("2025-11-30T15:59:00+00:00"), 8),  # 30 Nov local
        ],
        "acct-j",
        "2026-01-01T08:00:00+08:00",
    )
    assert f["comparison"]["today_vs_yesterday"]["tokens"] == [2, 1]
    assert f["comparison"]["month_vs_last_month"]["tokens"] == [2, 5]


def test_windows_use_the_local_date_between_local_midnight_and_utc_midnight(tmp_path: Path) -> None:
    # now = 1 Dec 01:30 in Shanghai = 30 Nov 17:30 UTC: the local and the UTC date differ.
    f = figures_of(
        tmp_path,
        [
            ev("w1", "acct-w", "u1", "agent", utc("2026-11-30T16:30:00+00:00"), 1),  # 1 Dec 00:30 local
            ev("w2", "acct-w", "u2", "operator", utc("2026-11-30T15:00:00+00:00"), 2),  # 30 Nov 23:00 local
            ev("w3", "acct-w", "u2", "operator", utc("2026-11-29T17:00:00+00:00"), 4),  # 30 Nov 01:00 local
            ev("w4", "acct-w", "u2", "agent", utc("2026-11-29T15:00:00+00:00"), 8),  # 29 Nov 23:00 local
            ev("w5", "acct-w", "u2", "agent", utc("2026-11-01T00:00:00+00:00"), 16),  # 1 Nov 08:00 local
            ev("w6", "acct-w", "u2", "agent", utc("2026-10-31T17:00:00+00:00"), 32),  # 1 Nov 01:00 local
            ev("w7", "acct-w", "u2", "agent", utc("2026-10-31T15:00:00+00:00"), 64),  # 31 Oct 23:00 local
        ],
        "acct-w",
        "2026-12-01T01:30:00+08:00",
    )
    # today 1 Dec: w1; yesterday 30 Nov: w2 + w3; December: w1; November: w2 + w3 + w4 + w5 + w6
    assert f["comparison"]["today_vs_yesterday"] == {"tokens": [1, 6], "calls": [1, 2]}
    assert f["comparison"]["month_vs_last_month"] == {"tokens": [1, 62], "calls": [1, 5]}
    assert f["services"] == [
        {"service": "agent", "tokens": 1, "calls": 1},
        {"service": "operator", "tokens": 0, "calls": 0},
        {"service": "assistant", "tokens": 0, "calls": 0},
    ]
    assert [(r["user_id"], r["tokens"]) for r in f["leaderboard"]] == [("u1", 1)]


def test_month_window_ends_before_the_first_of_next_month(tmp_path: Path) -> None:
    # An event exactly at 1 Dec 00:00 local belongs to December: not to November's card,
    # services or leaderboard (each query's window is half-open, `day < end`).
    f = figures_of(
        tmp_path,
        [
            ev("m1", "acct-m", "u1", "agent", utc("2026-11-30T15:59:59+00:00"), 10),  # 30 Nov 23:59:59 local
            ev("m2", "acct-m", "u2", "operator", utc("2026-11-30T16:00:00+00:00"), 1000),  # 1 Dec 00:00 local
            ev("m3", "acct-m", "u1", "assistant", utc("2026-10-31T16:00:00+00:00"), 5),  # 1 Nov 00:00 local
        ],
        "acct-m",
        "2026-11-29T10:00:00+08:00",
    )
    assert f["cards"]["month"]["tokens"] == 15
    assert f["comparison"]["month_vs_last_month"] == {"tokens": [15, 0], "calls": [2, 0]}
    assert f["services"] == [
        {"service": "agent", "tokens": 10, "calls": 1},
        {"service": "operator", "tokens": 0, "calls": 0},
        {"service": "assistant", "tokens": 5, "calls": 1},
    ]
    assert [(r["rank"], r["user_id"], r["tokens"]) for r in f["leaderboard"]] == [(1, "u1", 15)]
    assert f["leaderboard"][0]["share_pct"] == pytest.approx(100.0)


def test_dst_day_has_25_hours(tmp_path: Path) -> None:
    f = figures_of(
        tmp_path,
        [
            ev("n0", "acct-d", "u", "agent", utc("2026-11-01T03:59:00+00:00"), 1),  # 31 Oct 23:59 EDT
            ev("n1", "acct-d", "u", "agent", utc("2026-11-01T04:00:00+00:00"), 2),  # 1 Nov 00:00 EDT
            ev("n2", "acct-d", "u", "agent", utc("2026-11-02T04:30:00+00:00"), 4),  # 1 Nov 23:30 EST
            ev("n3", "acct-d", "u", "agent", utc("2026-11-02T05:00:00+00:00"), 8),  # 2 Nov 00:00 EST
        ],
        "acct-d",
        "2026-11-01T12:00:00-05:00",
        ANALYTICS_TIMEZONE="America/New_York",
    )
    assert f["comparison"]["today_vs_yesterday"]["tokens"] == [6, 1]


def test_self_hosted_without_transactions(tmp_path: Path) -> None:
    root = tmp_path / "export"
    b.events(root, "usage_events/e.parquet", [ev("s1", "acct-s", "u", "agent", utc("2026-10-01T00:00:00+00:00"), 70)])
    with Store.open(settings_for(tmp_path, root, ANALYTICS_MODE="self-hosted")) as store:
        f = analysis_figures(store, "acct-s", now, "self-hosted").to_json()
        assert f["token_usage"] == {
            "used": 70,
            "total": None,
            "remaining": None,
            "percent_used": None,
            "unlimited": True,
        }
        assert all(f[key] is None for key in ("cards", "comparison", "services", "recent_transactions", "leaderboard"))
        assert not store.has_ledger("acct-s")


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [(150, 50, 200.0), (25, 50, -50.0), (10, 10, 0.0), (0, 0, 0.0), (10, 0, None), (0, 10, -100.0)],
)
def test_growth(current: int, previous: int, expected: float | None) -> None:
    assert growth_pct(current, previous) == expected


def test_growth_new_on_the_card(tmp_path: Path) -> None:
    f = figures_of(tmp_path, [ev("g1", "acct-g", "u", "agent", utc("2026-11-01T01:00:00+00:00"), 9)], "acct-g", NOW)
    assert f["cards"]["today"] == {"tokens": 9, "previous": 0, "growth_pct": None}
    assert f["cards"]["month"] == {"tokens": 9, "previous": 0, "growth_pct": None}


def test_every_query_file_is_used() -> None:
    """Each queries/*.sql is named by the code that runs it (no dead SQL)."""
    sources = "".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "token_analytics").rglob("*.py"))
    sources += "".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "app_pages").glob("*.py"))
    # a schema part is named by its line in SCHEMA_PARTS ("orders", 1) and read as f"schema/{name}"
    unused = [name for name in query_names() if f'"{name.removeprefix("schema/")}"' not in sources]
    assert unused == []


def test_usage_and_recent_list_from_the_per_account_sums(tmp_path: Path) -> None:
    """The ledger figures add the app's entries to the exported sums; the recent list is bounded by the 10th newest."""
    from tests.builders import tx
    from token_analytics.billing.ledger_entries import insert_entry

    root = tmp_path / "export"
    base = utc("2026-10-01T00:00:00+00:00").timestamp()
    at = [datetime.fromtimestamp(base + 3600 * i, tz=utc(NOW).tzinfo) for i in range(14)]
    b.transactions(
        root,
        "transactions/t.parquet",
        [tx(f"r{i:02d}", "acct-l", "RECHARGE", 100 + i, at[i]) for i in range(12)]
        + [tx("c1", "acct-l", "CONSUME", -50, at[12]), tx("other", "acct-m", "BONUS", 7, at[13])],
    )
    with Store.open(settings_for(tmp_path, root)) as store:
        entry = {
            "txn_id": "app-adj-1",
            "account_id": "acct-l",
            "user_id": None,
            "type": "ADJUSTMENT",
            "amount": -5,
            "created_at": at[13],
            "payment_method": None,
            "description": "admin",
            "source": "adjustment",
        }
        insert_entry(store.cursor(), entry)
        # exported: recharges 100..111 (sum 1266), consume 50; the app's adjustment -5 is a credit of -5
        ledger = ledger_row(store, "acct-l", 10)
        assert {key: ledger[key] for key in ("used", "total", "remaining")} == {
            "used": 50,
            "total": 1266 - 5,
            "remaining": 1266 - 5 - 50,
        }
        # newest first: the app entry, c1, then r11 .. r04 (10 rows); r03 and older lie before the bound
        recent = [entry["txn_id"] for entry in ledger["recent"]]
        assert recent == ["app-adj-1", "c1", *[f"r{i:02d}" for i in range(11, 3, -1)]]
        # a longer list is not bounded
        assert len(ledger_row(store, "acct-l", 20)["recent"]) == 14
        acct_m = ledger_row(store, "acct-m", 10)
        assert (acct_m["used"], acct_m["total"], acct_m["remaining"]) == (0, 7, 7)
        nobody = ledger_row(store, "nobody", 10)
        assert (nobody["used"], nobody["total"], nobody["remaining"], nobody["recent"]) == (0, 0, 0, [])
        assert nobody["owner_name"] is None


def test_kept_figures_follow_an_adjustment_posted_in_the_same_minute(edge_store: Store) -> None:
    """The page keeps the figure set per data generation and minute; the app's own entries change it too."""
    before = data.figure_set(edge_store, "acct-a", now, "saas")
    assert data.figure_set(edge_store, "acct-a", now, "saas") is before  # kept: computed once
    txn = data.app_db_of(edge_store).post_adjustment("acct-a", 500, "goodwill", "admin", now=now)
    after = data.figure_set(edge_store, "acct-a", now, "saas")
    assert after.cards is not None and before.cards is not None
    assert after.cards.balance.tokens == before.cards.balance.tokens + 500
    assert after.recent_transactions and after.recent_transactions[0].txn_id == txn
    assert after == analysis_figures(edge_store, "acct-a", now, "saas")  # what `report` computes now


def test_the_runway_comes_with_the_ledger_row(edge_store: Store) -> None:
    """The runway's consumption comes with the ledger row, the same sums as the `ledger` view's CONSUME entries in
    the 7 and 30 complete days before today; the app's own entries (recharges and adjustments) are not consumption."""
    from token_analytics.billing.ledger_entries import insert_entry

    insert_entry(
        edge_store.cursor(),
        {
            "txn_id": "app-adj",
            "account_id": "acct-over",
            "user_id": None,
            "type": "ADJUSTMENT",
            "amount": -40,
            "created_at": utc("2026-10-28T00:00:00+00:00"),
            "payment_method": None,
            "description": None,
            "source": "adjustment",
        },
    )
    row = ledger_row(edge_store, "acct-over", 10)
    assert (row["consumed_7d"], row["consumed_30d"], row["remaining"]) == (0, 250, 100 - 250 - 40)
    windows = explore.runway_params(now, edge_store.settings.zone)
    by_view = edge_store.cursor().execute(
        "select -sum(amount) from ledger where account_id = 'acct-over' and type = 'CONSUME'"
        " and created_at >= $start_30d and created_at < $end",
        {"start_30d": windows["start_30d"], "end": windows["end"]},
    )
    assert by_view.fetchall() == [(row["consumed_30d"],)]
    runway = explore.runway(edge_store, "acct-over", 1000, now)
    assert (runway.burn_7d, runway.burn_30d, runway.days_left_30d) == (0, 250 / 30, 1000 * 30 // 250)

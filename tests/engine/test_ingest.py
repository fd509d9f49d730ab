"""Ingest, data health, incremental refresh and the command line (SPEC §2, §3, §7)."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests import builders as b
from tests.builders import ev, tx, utc
from tests.builders import run_command as cli
from tests.conftest import NOW, settings_for, write_edge_export
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.store import Store
from token_analytics.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
now = datetime.fromisoformat(NOW)


def rows(health_files, path: str) -> dict:
    return health_files.set_index("path").loc[path].to_dict()


rows_of = rows  # `rows` is also a common local name


def test_health_counts_every_row_and_file(edge_store: Store) -> None:
    health = edge_store.health()
    oct_file = rows(health.files, "usage_events/month=2026-10/part-0.parquet")
    assert (oct_file["status"], oct_file["rows_read"], oct_file["accepted"], oct_file["quarantined"]) == (
        "ok",
        12,
        6,
        6,
    )
    # October's e1 and e7 lose to November's (path sorts last); only e7 differs (10 vs 20 tokens)
    assert (oct_file["duplicates"], oct_file["conflicts"]) == (2, 1)
    nov_file = rows(health.files, "usage_events/month=2026-11/part-0.parquet")
    assert (nov_file["duplicates"], nov_file["conflicts"]) == (0, 0)
    reasons = {
        (r.path, r.reason): r.rows
        for r in health.reasons.itertuples()
        if r.path.startswith("usage_events/month=2026-10")
    }
    assert reasons == {
        ("usage_events/month=2026-10/part-0.parquet", reason): 1
        for reason in (
            "missing event_id",
            "unknown service",
            "negative tokens",
            "missing account_id",
            "missing occurred_at",
            "missing tokens",
        )
    }
    rejected = {r.path: r.error for r in health.files.itertuples() if r.status == "rejected"}
    assert set(rejected) == {
        "usage_events/month=2026-11/notes.parquet",
        "usage_events/month=2026-11/truncated.parquet",
        "usage_events/month=2026-11/no-tokens.parquet",
        "usage_events/month=2026-11/tokens-as-text.parquet",
    }
    assert rejected["usage_events/month=2026-11/notes.parquet"] == "not a parquet file"
    assert rejected["usage_events/month=2026-11/truncated.parquet"].startswith("truncated")
    assert rejected["usage_events/month=2026-11/no-tokens.parquet"] == "missing required column tokens"
    assert rejected["usage_events/month=2026-11/tokens-as-text.parquet"].startswith("column tokens is string")
    assert health.bad_files == 4
    # 6 bad events + 3 bad transactions + 1 account without id
    assert health.quarantined_rows == 10
    assert health.problems(("transactions",)) == (3, 0)
    # the latest valid event: e4 at 16:00 UTC on 1 Nov
    assert health.latest_event_at == utc("2026-11-01T16:00:00+00:00")
    txn = rows(health.files, "transactions/2026-10.parquet")
    assert (txn["duplicates"], txn["conflicts"]) == (1, 0)  # t-rech again in 2026-11, identical


def test_file_with_corrupt_data_pages_is_rejected_whole(tmp_path: Path) -> None:
    # Header, footer and schema are valid, so screening passes; the damage is only found while
    # DuckDB decodes the pages. That file is rejected with a one-line reason, every other file counts.
    root = tmp_path / "export"
    rows = [ev(f"c{i}", "acct-c", "u1", "agent", utc("2026-11-01T01:00:00+00:00"), 1) for i in range(2000)]
    bad = b.events(root, "usage_events/bad.parquet", rows)
    chunk = pq.ParquetFile(bad).metadata.row_group(0).column(0)  # event_id, snappy-compressed
    with open(bad, "r+b") as handle:
        handle.seek((chunk.dictionary_page_offset or chunk.data_page_offset) + chunk.total_compressed_size // 2)
        handle.write(b"\xff" * 64)
    b.events(
        root, "usage_events/good.parquet", [ev("g1", "acct-c", "u1", "agent", utc("2026-11-01T01:00:00+00:00"), 7)]
    )

    store = Store.open(settings_for(tmp_path, root))
    health = store.health()
    bad_row = rows_of(health.files, "usage_events/bad.parquet")
    assert (bad_row["status"], bad_row["accepted"]) == ("rejected", 0)
    assert bad_row["error"].startswith("unreadable (") and "\n" not in bad_row["error"]
    assert rows_of(health.files, "usage_events/good.parquet")["status"] == "ok"
    assert health.bad_files == 1
    f = analysis_figures(store, "acct-c", now, "saas").to_json()
    assert f["cards"]["today"]["tokens"] == 7
    assert f["cards"]["service_calls"] == 1
    store.close()


def test_accounts_lists_every_account_once(edge_store: Store) -> None:
    assert edge_store.account_ids() == ["acct-a", "acct-empty", "acct-over", "acct-tie"]


def test_incremental_add_equals_full_rebuild(tmp_path: Path, edge_dir: Path) -> None:
    store = Store.open(settings_for(tmp_path / "inc", edge_dir))
    before = analysis_figures(store, "acct-a", now, "saas").to_json()
    # a later export overlapping the old ones: e3 re-sent with other tokens (wins: path sorts last),
    # e1 re-sent identical, one new event today, one new ledger entry
    b.events(
        edge_dir,
        "usage_events/month=2026-11/part-9.parquet",
        [
            ev("e3", "acct-a", "u1", "assistant", utc("2026-11-01T15:59:59+00:00"), 300),
            ev("e1", "acct-a", "u1", "agent", utc("2026-10-31T16:00:00+00:00"), 100),
            ev("e8", "acct-a", "u2", "operator", utc("2026-11-01T03:00:00+00:00"), 11),
        ],
    )
    b.transactions(edge_dir, "transactions/2026-12.parquet", [tx("t-more", "acct-a", "RECHARGE", 1000, utc(NOW))])
    summary = store.ingest()
    assert [r.path for r in summary.read] == [
        "usage_events/month=2026-11/part-9.parquet",
        "transactions/2026-12.parquet",
    ]
    after = analysis_figures(store, "acct-a", now, "saas").to_json()
    full = Store.open(settings_for(tmp_path / "full", edge_dir))
    assert after == analysis_figures(full, "acct-a", now, "saas").to_json()
    assert after["cards"]["today"]["tokens"] == before["cards"]["today"]["tokens"] - 30 + 300 + 11
    assert after["token_usage"]["remaining"] == before["token_usage"]["remaining"] + 1000
    assert store.health().files.equals(full.health().files.assign(latest_at=store.health().files["latest_at"]))
    store.close()
    full.close()


def test_changed_and_removed_files(tmp_path: Path, edge_dir: Path) -> None:
    store = Store.open(settings_for(tmp_path, edge_dir))
    path = edge_dir / "usage_events/month=2026-11/part-0.parquet"
    path.unlink()
    store.ingest()
    f = analysis_figures(store, "acct-a", now, "saas").to_json()
    # without November's file: e1 (still in October's), October's e7 (10) is the only e7 now
    assert f["comparison"]["today_vs_yesterday"]["tokens"] == [110, 50]
    # the half-written file is completed: it is read once whole
    truncated = edge_dir / "usage_events/month=2026-11/truncated.parquet"
    b.events(edge_dir, "usage_events/month=2026-11/truncated.parquet", [ev("e9", "acct-a", "u1", "agent", utc(NOW), 5)])
    os.utime(truncated, ns=(1, 2))
    summary = store.ingest()
    assert [r.path for r in summary.read] == ["usage_events/month=2026-11/truncated.parquet"]
    assert analysis_figures(store, "acct-a", now, "saas").to_json()["cards"]["today"]["tokens"] == 115
    assert store.ingest().rebuilt is False  # nothing changed: nothing read
    store.close()


def test_changing_the_zone_rebuilds_without_rereading(tmp_path: Path, edge_dir: Path) -> None:
    Store.open(settings_for(tmp_path, edge_dir)).close()
    store = Store.open(settings_for(tmp_path, edge_dir, ANALYTICS_TIMEZONE="UTC"))
    assert store.last_summary.read == [] and store.last_summary.rebuilt
    assert analysis_figures(store, "acct-a", now, "saas").to_json()["cards"]["today"]["tokens"] == 57
    store.close()


def test_empty_data_dir(tmp_path: Path) -> None:
    (tmp_path / "export").mkdir()
    store = Store.open(settings_for(tmp_path, tmp_path / "export"))
    assert store.account_ids() == []
    assert store.health().latest_event_at is None
    store.close()


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("ANALYTICS_MODE", "cloud", "ANALYTICS_MODE"),
        ("ANALYTICS_TIMEZONE", "Mars/Base", "ANALYTICS_TIMEZONE"),
        ("ANALYTICS_NOW", "yesterday", "ANALYTICS_NOW"),
        ("ANALYTICS_NOW", "2026-11-01T10:00:00", "ANALYTICS_NOW"),
    ],
)
def test_bad_settings_name_the_variable(variable: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({variable: value})
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_defaults() -> None:
    s = load_settings({})
    assert (s.mode, s.timezone, s.now_override) == ("saas", "Asia/Shanghai", None)
    assert s.data_dir == ROOT / "data/sample" and s.app_db == ROOT / "data/app.duckdb"


def test_report_is_the_page_function(tmp_path: Path, edge_dir: Path) -> None:
    env = {"ANALYTICS_DATA_DIR": str(edge_dir), "ANALYTICS_APP_DB": str(tmp_path / "cli" / "app.duckdb")}
    done = cli("report", "--account", "acct-a", "--as-of", NOW, env=env)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    store = Store.open(settings_for(tmp_path, edge_dir))
    assert printed == json.loads(json.dumps(analysis_figures(store, "acct-a", now, "saas").to_json()))
    assert set(printed) == {
        "token_usage",
        "cards",
        "comparison",
        "services",
        "recent_transactions",
        "leaderboard",
        "runway",
        "month_to_date",
        "today_so_far",
    }
    assert set(printed["cards"]) == {"balance", "today", "month", "service_calls"}
    assert printed["cards"]["today"] == {"tokens": 150, "previous": 50, "growth_pct": 200.0}
    # today up to 10:00: e1 (00:00) only, e7 is at 10:00 itself; yesterday up to 10:00: nothing (e2 is 23:59:59.999)
    assert printed["today_so_far"] == {"tokens": 100, "previous": 0, "growth_pct": None}
    hosted = json.loads(cli("report", "--account", "acct-a", "--as-of", NOW, "--mode", "self-hosted", env=env).stdout)
    assert hosted["token_usage"]["used"] == 1212 and hosted["token_usage"]["unlimited"] is True
    assert hosted["today_so_far"] == printed["today_so_far"]
    store.close()


def test_report_bad_clock_is_one_line(tmp_path: Path, edge_dir: Path) -> None:
    done = cli("report", "--account", "acct-a", env={"ANALYTICS_NOW": "soon", "ANALYTICS_DATA_DIR": str(edge_dir)})
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "ANALYTICS_NOW" in done.stderr


def test_check_names_each_file_and_reason(tmp_path: Path) -> None:
    root = write_edge_export(tmp_path / "export")
    done = cli("check", str(root), env={})
    assert done.returncode == 1
    for expected in (
        "rejected usage_events/month=2026-11/notes.parquet: not a parquet file",
        "rejected usage_events/month=2026-11/no-tokens.parquet: missing required column tokens",
        "quarantined 1 rows of usage_events/month=2026-10/part-0.parquet: unknown service",
        "quarantined 1 rows of transactions/2026-10.parquet: amount of the wrong sign",
    ):
        assert expected in done.stdout


def test_check_clean_export_exits_0(tmp_path: Path) -> None:
    b.events(tmp_path / "ok", "usage_events/e.parquet", [ev("c1", "acct", "u", "agent", utc(NOW), 1)])
    assert cli("check", str(tmp_path / "ok"), env={}).returncode == 0


def write_zone_export(root: Path) -> Path:
    """Events around the New York fall-back (1 Nov 2026, 01:00-01:59 twice) and Kolkata's midnight."""

    def event(event_id: str, account: str, at: str, tokens: int, **extra: object) -> dict:
        return {**ev(event_id, account, "u1", "agent", utc(at), tokens), **extra}

    b.events(
        root,
        "usage_events/a.parquet",
        [
            event("n5", "acct-z", "2026-11-01T03:59:59.999999+00:00", 1000),  # 23:59:59.999999 EDT, 31 Oct
            event("n4", "acct-z", "2026-11-01T04:00:00+00:00", 100),  # 00:00 EDT, 1 Nov: the month's first
            event("n1", "acct-z", "2026-11-01T05:10:00+00:00", 10, model="m-a", input_tokens=6, output_tokens=4),
            event("n3", "acct-z", "2026-11-01T05:50:00+00:00", 20, model="m-a"),  # 01:50 EDT, same hour as n1
            event("n2", "acct-z", "2026-11-01T06:20:00+00:00", 40),  # 01:20 EST: the repeated hour
            event("n6", "acct-z", "2026-11-02T04:59:59+00:00", 10000),  # 23:59:59 EST, still 1 Nov
            event("k1", "acct-k", "2026-10-31T18:29:59+00:00", 1),  # 23:59:59 IST, 31 Oct
            event("k2", "acct-k", "2026-10-31T18:30:00+00:00", 2),  # 00:00 IST, 1 Nov
            event("k3", "acct-k", "2026-10-31T19:00:00+00:00", 4),  # 00:30 IST: the same local hour as k2
        ],
    )
    # a later file re-sends n4 with other tokens: it wins (path sorts last)
    b.events(root, "usage_events/b.parquet", [event("n4", "acct-z", "2026-11-01T04:00:00+00:00", 200)])
    return root


def table_rows(store: Store, sql: str, **params: object) -> list[tuple]:
    return store.cursor().execute(sql, params).fetchall()


HOURLY_SQL = """
select hour, day, model, tokens, input_tokens, output_tokens, calls, io_calls from usage_hourly
where account_id = $account_id order by hour, model nulls first
"""
DAILY_SQL = """
select day, model, tokens, input_tokens, output_tokens, calls, io_calls from usage_daily
where account_id = $account_id order by day, model nulls first
"""


def test_rollups_by_local_hour_across_fall_back(tmp_path: Path) -> None:
    root = write_zone_export(tmp_path / "export")
    store = Store.open(settings_for(tmp_path, root, ANALYTICS_TIMEZONE="America/New_York"))
    d = datetime.fromisoformat
    assert table_rows(store, HOURLY_SQL, account_id="acct-z") == [
        (utc("2026-11-01T03:00:00+00:00"), d("2026-10-31").date(), None, 1000, 0, 0, 1, 0),
        (utc("2026-11-01T04:00:00+00:00"), d("2026-11-01").date(), None, 200, 0, 0, 1, 0),
        # first 01:00 (EDT): n1 carries input/output, n3 does not
        (utc("2026-11-01T05:00:00+00:00"), d("2026-11-01").date(), "m-a", 30, 6, 4, 2, 1),
        # second 01:00 (EST) is its own bucket
        (utc("2026-11-01T06:00:00+00:00"), d("2026-11-01").date(), None, 40, 0, 0, 1, 0),
        # 23:00 EST on 1 Nov: the day has 25 hours, this is its last
        (utc("2026-11-02T04:00:00+00:00"), d("2026-11-01").date(), None, 10000, 0, 0, 1, 0),
    ]
    assert table_rows(store, DAILY_SQL, account_id="acct-z") == [
        (d("2026-10-31").date(), None, 1000, 0, 0, 1, 0),
        (d("2026-11-01").date(), None, 200 + 40 + 10000, 0, 0, 3, 0),
        (d("2026-11-01").date(), "m-a", 30, 6, 4, 2, 1),
    ]
    latest = table_rows(store, "select max(latest_at) from usage_daily where account_id = 'acct-z'")
    assert latest == [(utc("2026-11-02T04:59:59+00:00"),)]
    store.close()


def test_rollups_by_local_hour_in_a_half_hour_zone(tmp_path: Path) -> None:
    root = write_zone_export(tmp_path / "export")
    store = Store.open(settings_for(tmp_path, root, ANALYTICS_TIMEZONE="Asia/Kolkata"))
    d = datetime.fromisoformat
    # a local hour of Kolkata starts at :30 UTC; k2 (18:30 UTC) and k3 (19:00 UTC) share one
    assert table_rows(store, HOURLY_SQL, account_id="acct-k") == [
        (utc("2026-10-31T17:30:00+00:00"), d("2026-10-31").date(), None, 1, 0, 0, 1, 0),
        (utc("2026-10-31T18:30:00+00:00"), d("2026-11-01").date(), None, 6, 0, 0, 2, 0),
    ]
    assert table_rows(store, DAILY_SQL, account_id="acct-k") == [
        (d("2026-10-31").date(), None, 1, 0, 0, 1, 0),
        (d("2026-11-01").date(), None, 6, 0, 0, 2, 0),
    ]
    store.close()


def test_older_cache_version_is_rebuilt(tmp_path: Path) -> None:
    root = write_zone_export(tmp_path / "export")
    settings = settings_for(tmp_path, root)
    store = Store.open(settings)
    store.cursor().execute("update meta set value = '5' where key = 'schema_version'")
    store.cursor().execute("drop table usage_hourly")
    store.close()
    store = Store.open(settings)
    assert len(store.last_summary.read) == 2
    assert table_rows(store, "select sum(tokens) from usage_hourly") == [(1000 + 200 + 30 + 40 + 10000 + 7,)]
    store.close()


def test_hourly_rollup_keeps_a_recent_window(tmp_path: Path) -> None:
    root = write_zone_export(tmp_path / "export")
    env = {"ANALYTICS_TIMEZONE": "America/New_York", "ANALYTICS_NOW": "2026-12-06T12:00:00-05:00"}
    store = Store.open(settings_for(tmp_path, root, **env))
    # 35 local days before 6 Dec is 1 Nov: 31 Oct (n5) rolls up by day only
    assert [row[0] for row in table_rows(store, HOURLY_SQL, account_id="acct-z")][0] == utc("2026-11-01T04:00:00+00:00")
    assert table_rows(store, DAILY_SQL, account_id="acct-z")[0][:3] == (datetime(2026, 10, 31).date(), None, 1000)
    store.close()


# (zone, instant, local wall time by hand): the offset is looked up per UTC hour (ingest.ZONE_HOURS) except in an
# hour that holds a transition, where each event is converted by itself
LOCAL_TIMES = [
    ("Asia/Shanghai", "1900-06-01T00:00:00+00:00", "1900-06-01T08:05:43"),  # local mean time, +08:05:43
    ("Asia/Shanghai", "1900-12-31T15:50:00+00:00", "1900-12-31T23:55:43"),  # LMT ends at 15:54:17 UTC, mid-hour
    ("Asia/Shanghai", "1900-12-31T15:58:00+00:00", "1900-12-31T23:58:00"),  # the same UTC hour, now +08:00
    ("Asia/Shanghai", "2026-11-28T16:00:00+00:00", "2026-11-29T00:00:00"),
    ("Australia/Lord_Howe", "2026-10-03T15:10:00+00:00", "2026-10-04T01:40:00"),  # +10:30 until 15:30 UTC
    ("Australia/Lord_Howe", "2026-10-03T15:50:00+00:00", "2026-10-04T02:50:00"),  # then +11:00, same UTC hour
    ("America/New_York", "2026-11-01T05:30:00+00:00", "2026-11-01T01:30:00"),  # EDT
    ("America/New_York", "2026-11-01T06:30:00+00:00", "2026-11-01T01:30:00"),  # EST: the repeated hour
    ("America/New_York", "1883-11-18T16:59:59+00:00", "1883-11-18T12:03:57"),  # LMT -04:56:02 to 17:00 UTC
    ("Asia/Kolkata", "2026-11-28T18:45:00+00:00", "2026-11-29T00:15:00"),  # +05:30
    ("Asia/Kathmandu", "2026-11-28T18:14:59.999999+00:00", "2026-11-28T23:59:59.999999"),  # +05:45
    ("UTC", "1900-01-01T00:00:00+00:00", "1900-01-01T00:00:00"),
    ("UTC", "0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00"),
]


@pytest.mark.parametrize(("zone", "instant", "local"), LOCAL_TIMES)
def test_local_time_by_hour_offsets(zone: str, instant: str, local: str) -> None:
    import duckdb

    from token_analytics.engine import ingest

    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        # a neighbour in the same UTC hour and one an hour later, so the lookup table has company
        con.execute(
            "create temp table rollup_source as select unnest([$at::timestamptz, $at::timestamptz + interval 1 minute,"
            " $at::timestamptz + interval 1 hour]) as occurred_at",
            {"at": instant},
        )
        ingest.local_time(con, zone)
        got = con.execute("select local_at from rollup_local order by occurred_at").fetchall()
        expected = con.execute(
            "select timezone($zone, occurred_at) from rollup_source order by occurred_at", {"zone": zone}
        ).fetchall()
    finally:
        con.close()
    assert got[0][0] == datetime.fromisoformat(local)
    assert got == expected  # the neighbours too, as timezone() converts them one by one


def test_epoch_shift_written_out_in_the_view() -> None:
    from token_analytics.engine import ingest

    assert ingest.EPOCH_SHIFT % 86_400_000_000 == 0
    assert f"+ {ingest.EPOCH_SHIFT})" in ingest.ROLLUP_LOCAL.text


def test_rows_keep_their_own_file_and_row(tmp_path: Path) -> None:
    """Each row keeps its file and row number, so the path that sorts last wins, then the later row; counts and
    quarantine stay per file."""
    root = tmp_path / "export"
    at = utc("2026-11-28T02:00:00+00:00")  # 10:00 on 28 Nov in Shanghai
    b.events(
        root,
        "usage_events/a.parquet",
        [
            ev("x1", "acct-b", "u1", "agent", at, 1),
            ev("x2", "acct-b", "u1", "agent", at, 2),
            ev("bad", "acct-b", "u1", "agent", at, -5),
        ],
    )
    b.events(
        root,
        "usage_events/b.parquet",
        [
            ev("x1", "acct-b", "u1", "agent", at, 10),
            ev("x3", "acct-b", "u1", "agent", at, 3),
            ev("x3", "acct-b", "u1", "agent", at, 30),
        ],
    )
    b.events(root, "usage_events/c.parquet", [ev("x2", "acct-b", "u1", "agent", at, 20)])
    store = Store.open(settings_for(tmp_path, root))
    try:
        health = store.health()
        counts = {
            path: (
                rows_of(health.files, path)["rows_read"],
                rows_of(health.files, path)["accepted"],
                rows_of(health.files, path)["quarantined"],
                rows_of(health.files, path)["duplicates"],
            )
            for path in ("usage_events/a.parquet", "usage_events/b.parquet", "usage_events/c.parquet")
        }
        # a: x1 and x2 lose to later paths; b: its first x3 loses to its second
        assert counts == {
            "usage_events/a.parquet": (3, 2, 1, 2),
            "usage_events/b.parquet": (3, 3, 0, 1),
            "usage_events/c.parquet": (1, 1, 0, 0),
        }
        assert table_rows(store, "select day, tokens, calls from usage_daily where account_id = 'acct-b'") == [
            (datetime(2026, 11, 28).date(), 10 + 20 + 30, 3)
        ]
    finally:
        store.close()


def test_files_with_other_columns_or_types_read_in_their_own_batch(tmp_path: Path) -> None:
    """Files that share columns and types are read by one statement; one without the optional columns, one with
    int32 tokens and a naive timestamp, and a corrupt one each take their own, and every row still counts."""
    import pyarrow as pa

    from token_analytics.engine import ingest
    from token_analytics.engine.schema import USAGE_EVENTS

    root = tmp_path / "export"
    at = utc("2026-11-28T02:00:00+00:00")  # 10:00 on 28 Nov in Shanghai
    row = {**ev("p1", "acct-b", "u1", "agent", at, 1), "input_tokens": 1, "output_tokens": 0, "model": "m"}
    b.events(root, "usage_events/a.parquet", [row])
    b.events(root, "usage_events/b.parquet", [{**row, "event_id": "p2", "tokens": 2}])
    b.events(root, "usage_events/c.parquet", [ev("p3", "acct-b", "u1", "agent", at, 4)], drop=("input_tokens", "model"))
    b.events(
        root,
        "usage_events/d.parquet",
        [ev("p4", "acct-b", "u1", "agent", at, 8)],
        overrides={"tokens": pa.int32(), "occurred_at": pa.timestamp("ms")},
    )
    items = [
        ingest.Pending(USAGE_EVENTS, rel, (root / rel).stat(), i, ingest.FileReport("usage_events", rel, "ok"))
        for i, rel in enumerate(f"usage_events/{name}.parquet" for name in "abcd")
    ]
    for item in items:
        ingest.screen_file(root, item)
    assert [[item.rel[-9:] for item in batch] for batch in ingest.batches(items, one_by_one=False)] == [
        ["a.parquet", "b.parquet"],
        ["c.parquet"],
        ["d.parquet"],
    ]
    assert len(ingest.batches(items, one_by_one=True)) == 4
    store = Store.open(settings_for(tmp_path, root))
    try:
        daily = "select model, tokens, calls, io_calls from usage_daily where account_id = 'acct-b' order by model"
        # a and b carry model and input/output tokens; c lacks those columns and d leaves them null
        assert table_rows(store, daily) == [("m", 1 + 2, 2, 2), (None, 4 + 8, 2, 0)]
    finally:
        store.close()


def test_an_incremental_ingest_into_a_dense_day_stays_within_the_memory_limit(tmp_path: Path) -> None:
    """A new file whose day already holds many events re-derives that day in bounded memory.

    At 100M events the touched day's statement ran out of DuckDB's 512 MB: its time bounds were subqueries,
    the planner estimated ~0 events and built its hash tables on the events. 100,000 events on one local day
    under a 32 MB limit fail the same way (measured) and pass with the bounds bound as values.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from token_analytics.engine import ingest

    root = tmp_path / "export"
    (root / "usage_events").mkdir(parents=True)
    start = utc("2026-11-20T01:00:00+00:00")  # 09:00 in Shanghai: 15 hours of events stay on 20 Nov there

    def write(name: str, count: int) -> None:
        pq.write_table(
            pa.table(
                {
                    "event_id": [f"{name}-{i}" for i in range(count)],
                    "account_id": [f"acct-{i % 3}" for i in range(count)],
                    "user_id": [f"u{i % 40}" for i in range(count)],
                    "service": ["agent"] * count,
                    "occurred_at": pa.array(
                        [start + timedelta(microseconds=i * 540_000) for i in range(count)],
                        pa.timestamp("us", tz="UTC"),
                    ),
                    "tokens": pa.array([1 + i % 7 for i in range(count)], pa.int64()),
                }
            ),
            root / "usage_events" / f"{name}.parquet",
        )

    write("a", 100_000)
    con = duckdb.connect(str(tmp_path / "cache.duckdb"))
    try:
        con.execute("set TimeZone = 'UTC'")
        clock = utc("2026-11-21T00:00:00+00:00")
        ingest.ingest(con.cursor(), root, "Asia/Shanghai", now=clock)
        con.execute("set memory_limit = '32MB'")
        write("b", 1_000)
        summary = ingest.ingest(con.cursor(), root, "Asia/Shanghai", now=clock)
        assert not summary.full  # the incremental path
        got = con.execute("select day, sum(tokens), sum(calls) from usage_daily group by day").fetchall()
    finally:
        con.close()
    # 1 + i % 7 summed: file a 14,285 cycles of 28 plus 1..5 = 399,995; file b 142 cycles plus 1..6 = 3,997; the
    # last event of a, 53,999.46 s after 01:00 UTC, is 23:59:59 in Shanghai
    assert got == [(date(2026, 11, 20), 399_995 + 3_997, 101_000)]

"""Derived folders (docs/DERIVED_FORMAT.md): `rollup --engine duckdb` and ANALYTICS_DERIVED_DIR.

The exports are the messy edge-case export of conftest.py (duplicates across files, a conflict, every bad-row
reason, rejected files, naive and millisecond timestamps, hive partitions, a month edge) plus a file around New
York's DST fall-back. Every figure read from a derived folder must equal the same figure read from the exports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests import builders as b
from tests.apptest import DEMO_PASSWORDS, _app, _sign_in, _signed_in
from tests.builders import SAMPLE_NOW, ev, utc
from tests.conftest import write_edge_export
from token_analytics import cli
from token_analytics.db import StoreError
from token_analytics.engine import derived, rollup
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.store import Store
from token_analytics.settings import Settings, load_settings
from token_analytics.web import fmt

SHANGHAI = ("Asia/Shanghai", "2026-11-01T10:30:00+08:00")  # the partial hour [02:00, 02:30) UTC holds e7
NEW_YORK = ("America/New_York", "2026-11-01T01:45:00-05:00")  # inside the repeated hour of the DST fall-back


def with_model(row: dict, model: str) -> dict:
    return {**row, "model": model}


def write_messy(root: Path) -> Path:
    """The edge export plus events around New York's fall-back (01:00-02:00 local happens twice on 1 Nov)."""
    write_edge_export(root)
    b.events(
        root,
        "usage_events/month=2026-11/dst.parquet",
        [
            ev("d3", "acct-a", "u2", "agent", utc("2026-11-01T04:59:59+00:00"), 17),  # 00:59:59 EDT
            with_model(ev("d1", "acct-a", "u1", "agent", utc("2026-11-01T05:30:00+00:00"), 11), "m-1"),  # 01:30 EDT
            with_model(ev("d2", "acct-a", "u1", "agent", utc("2026-11-01T06:30:00+00:00"), 13), "m-1"),  # 01:30 EST
            # New York's month edge: 23:59:59.999 on 31 Oct is last month there, 1 Nov in Shanghai
            ev("d4", "acct-over", None, "assistant", utc("2026-11-01T03:59:59.999+00:00"), 3),
            # e3 again with other tokens: "dst" sorts before "part-0", so this row loses (a conflict)
            ev("e3", "acct-a", "u1", "assistant", utc("2026-11-01T15:59:59+00:00"), 31),
        ],
    )
    return root


def settings_for(tmp: Path, zone: str, now: str, **env: str) -> Settings:
    base = {
        "ANALYTICS_DATA_DIR": str(tmp / "export"),
        "ANALYTICS_APP_DB": str(tmp / "app.duckdb"),
        "ANALYTICS_CACHE_DB": str(tmp / "raw.duckdb"),
        "ANALYTICS_NOW": now,
        "ANALYTICS_TIMEZONE": zone,
    }
    base.update(env)
    return load_settings(base)


@contextmanager
def opened(settings: Settings) -> Iterator[Store]:
    store = Store.open(settings)
    try:
        yield store
    finally:
        store.close()


def derived_settings(tmp: Path, zone: str, now: str, folder: Path, cache: str = "derived.duckdb") -> Settings:
    """Reading `folder`, with no export folder at all."""
    return settings_for(
        tmp,
        zone,
        now,
        ANALYTICS_DERIVED_DIR=str(folder),
        ANALYTICS_DATA_DIR=str(tmp / "no-exports-here"),
        ANALYTICS_CACHE_DB=str(tmp / cache),
        ANALYTICS_APP_DB=str(tmp / f"app-{cache}"),  # a second store open beside the raw one: its own files
    )


def roll(tmp: Path, out: Path, zone: str, now: str, cache: Path | None = None) -> derived.RollupSummary:
    settings = settings_for(tmp, zone, now)
    return rollup.rollup(tmp / "export", out, settings, datetime.fromisoformat(now), cache=cache)


def folder_rows(out: Path, without_file_id: bool = False) -> dict[str, list[tuple]]:
    """Every table of a derived folder as sorted rows (row order inside files is not part of the format)."""
    tables: dict[str, list[tuple]] = {}
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        for table in derived.TABLES:
            glob, present = derived._globs(out, table)
            if not present:
                tables[table] = []
                continue
            frame = con.execute(
                "select * from read_parquet($glob, hive_partitioning = $hive)",
                {"glob": glob, "hive": table in derived.PARTITIONED},
            ).fetchdf()
            if without_file_id and "file_id" in frame:
                frame = frame.drop(columns="file_id")
            rows = [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]
            tables[table] = sorted(rows, key=repr)
    return tables


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every data file: a file that was rewritten gets a new inode (written, then renamed)."""
    return {
        p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*.parquet")
        if p.is_file()
    }


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    write_messy(tmp_path / "export")
    return tmp_path


@pytest.mark.parametrize(("zone", "now"), [SHANGHAI, NEW_YORK])
def test_every_figure_and_the_data_health_equal_the_exports(messy: Path, zone: str, now: str) -> None:
    out = messy / "derived"
    roll(messy, out, zone, now)
    moment = datetime.fromisoformat(now)
    with opened(settings_for(messy, zone, now)) as raw, opened(derived_settings(messy, zone, now, out)) as folder:
        accounts = raw.account_ids()
        assert accounts == folder.account_ids() == ["acct-a", "acct-empty", "acct-over", "acct-tie"]
        for account in [*accounts, "acct-nobody"]:
            for mode in ("saas", "self-hosted"):
                assert analysis_figures(folder, account, moment, mode) == analysis_figures(raw, account, moment, mode)
        raw_health, folder_health = raw.health(), folder.health()
        pd.testing.assert_frame_equal(folder_health.files, raw_health.files)
        pd.testing.assert_frame_equal(folder_health.reasons, raw_health.reasons)
        # hand-counted: 13 files, 4 rejected; part-0 of October lost e1 (same) and e7 (different): 2 and 1
        files = folder_health.files.set_index("path")
        assert (len(files), folder_health.bad_files, folder_health.quarantined_rows) == (13, 4, 10)
        assert files.loc["usage_events/month=2026-10/part-0.parquet", ["duplicates", "conflicts"]].tolist() == [2, 1]
        assert files.loc["usage_events/month=2026-11/dst.parquet", ["duplicates", "conflicts"]].tolist() == [1, 1]
        # the winning events: 14 ids (e1-e7, t1-t3, d1-d4), all within the hourly window
        assert folder.cursor().execute("select count(*) from recent_events").fetchall() == [(14,)]


def test_the_fall_back_hour_stays_two_hours_and_the_month_edge_is_local(messy: Path) -> None:
    zone, now = NEW_YORK
    out = messy / "derived"
    roll(messy, out, zone, now)
    with opened(derived_settings(messy, zone, now, out)) as folder:
        cur = folder.cursor()
        hours = cur.execute(
            "select hour, sum(tokens)::bigint from usage_hourly where account_id = 'acct-a' and day = '2026-11-01' "
            "group by hour order by hour"
        ).fetchall()
        assert [(h.astimezone(UTC).strftime("%H:%M"), t) for h, t in hours] == [
            ("04:00", 17),  # d3, 00:59:59 EDT
            ("05:00", 11),  # d1, 01:30 EDT
            ("06:00", 13),  # d2, 01:30 EST: the same local hour, another instant
            ("15:00", 30),  # e3 from part-0 (the dst.parquet copy, 31, lost)
            ("16:00", 7),  # e4
        ]
        over = cur.execute("select day, tokens from usage_daily where account_id = 'acct-over'").fetchall()
        assert [(d.isoformat(), t) for d, t in over] == [("2026-10-31", 3)]  # d4: 31 Oct in New York
        # month to date at 01:45 EST: the partial hour [06:00, 06:45) UTC holds d2 only; the whole hours before it
        # d3 and d1; e1, e7 and t1-t3 fall on 31 Oct local (last month)
        figures = analysis_figures(folder, "acct-a", datetime.fromisoformat(now), "saas").to_json()
        assert figures["month_to_date"]["tokens"] == 17 + 11 + 13


def test_a_second_run_on_the_same_exports_writes_nothing(messy: Path) -> None:
    zone, now = SHANGHAI
    out = messy / "derived"
    first = roll(messy, out, zone, now)
    assert not first.nothing_new and first.tables == list(derived.UNPARTITIONED)
    before, format_text = stamps(out), (out / "_format.json").read_text()
    later = "2026-11-01T23:59:00+08:00"  # a later clock on the same local day keeps the same hourly window
    again = roll(messy, out, zone, later)
    assert again.nothing_new and "nothing written" in str(again)
    assert stamps(out) == before and (out / "_format.json").read_text() == format_text


@pytest.mark.parametrize("keep_cache", [False, True])
def test_a_new_file_rewrites_only_the_days_it_touches(messy: Path, keep_cache: bool) -> None:
    zone, now = SHANGHAI
    out = messy / "derived"
    cache = messy / "rollup-cache.duckdb" if keep_cache else None
    roll(messy, out, zone, now, cache=cache)
    before = stamps(out)
    b.events(
        messy / "export",
        "usage_events/month=2026-11/zz-late.parquet",
        [
            ev("n1", "acct-over", "u9", "agent", utc("2026-10-30T20:00:00+00:00"), 5),  # 31 Oct 04:00 local
            ev("e4", "acct-a", "u2", "agent", utc("2026-11-01T16:00:00+00:00"), 9),  # sorts last: wins, 2 Nov
        ],
    )
    second = roll(messy, out, zone, now, cache=cache)
    touched = ["2026-10-31", "2026-11-02"]
    assert second.partitions == {"usage_daily": touched, "usage_hourly": touched, "recent_events": touched}
    assert second.tables == ["files", "usage_totals"]  # the ledger, accounts, members, quarantine are unchanged
    after = stamps(out)
    for path, stamp in before.items():
        rewritten = path.split("/")[0] in second.tables or any(f"day={day}" in path for day in touched)
        assert (after[path] != stamp) == rewritten, path
    # the same folder as a rollup from scratch (file_id: the kept cache numbers the new file last)
    scratch = messy / "scratch"
    roll(messy, scratch, zone, now)
    assert folder_rows(out, without_file_id=keep_cache) == folder_rows(scratch, without_file_id=keep_cache)


def test_a_later_clock_moves_the_hourly_window(messy: Path) -> None:
    zone, now = SHANGHAI
    out = messy / "derived"
    roll(messy, out, zone, now)
    moved = roll(messy, out, zone, "2026-11-06T10:30:00+08:00")  # hourly_from 2 Oct: 30 Sep and 1 Oct leave
    gone = ["2026-09-30", "2026-10-01"]
    assert moved.partitions == {"usage_daily": [], "usage_hourly": gone, "recent_events": gone}
    assert moved.tables == []
    assert sorted(p.name for p in (out / "usage_hourly").iterdir()) == [
        "day=2026-10-31",
        "day=2026-11-01",
        "day=2026-11-02",
    ]
    assert json.loads((out / "_format.json").read_text())["hourly_from"] == "2026-10-02"


def test_the_dashboard_reloads_a_new_folder_state(messy: Path) -> None:
    zone, now = SHANGHAI
    out = messy / "derived"
    roll(messy, out, zone, now)
    with opened(derived_settings(messy, zone, now, out)) as folder:
        generation = folder.generation
        assert not folder.ingest().rebuilt  # the same _format.json: nothing to load
        b.events(
            messy / "export",
            "usage_events/month=2026-11/zz-late.parquet",
            [ev("n1", "acct-over", "u9", "agent", utc("2026-10-30T20:00:00+00:00"), 5)],
        )
        roll(messy, out, zone, now)
        assert folder.ingest().rebuilt and folder.generation == generation + 1
        totals = folder.cursor().execute("select tokens from usage_totals where account_id = 'acct-over'").fetchall()
        assert totals == [(3 + 5,)]  # d4 and the new n1


def test_one_cache_file_switches_between_exports_and_a_folder(messy: Path) -> None:
    zone, now = SHANGHAI
    out = messy / "derived"
    roll(messy, out, zone, now)
    moment = datetime.fromisoformat(now)
    raw_settings = settings_for(messy, zone, now)
    folder_settings = replace(
        derived_settings(messy, zone, now, out), cache_db=raw_settings.cache_db, app_db=raw_settings.app_db
    )
    seen = []
    for settings in (raw_settings, folder_settings, raw_settings):
        with opened(settings) as store:
            seen.append(analysis_figures(store, "acct-a", moment, "saas").to_json())
            seen.append(store.health().files.to_dict("records"))
    assert seen[0] == seen[2] == seen[4] and seen[1] == seen[3] == seen[5]


def test_the_loaded_tables_have_the_caches_columns_and_types(messy: Path) -> None:
    zone, now = SHANGHAI
    out = messy / "derived"
    roll(messy, out, zone, now)
    read = [*derived.TABLES, "file_duplicates", "meta"]
    query = (
        "select table_name, column_name, data_type from duckdb_columns() "
        "where database_name <> 'app' and table_name in (select unnest($names)) order by all"
    )
    with opened(settings_for(messy, zone, now)) as raw, opened(derived_settings(messy, zone, now, out)) as folder:
        assert (
            folder.cursor().execute(query, {"names": read}).fetchall()
            == raw.cursor().execute(query, {"names": read}).fetchall()
        )


def test_an_empty_partitioned_table_is_a_folder_without_days(messy: Path) -> None:
    """Spark writes an empty partitioned table as a folder holding only _SUCCESS."""
    zone, now = SHANGHAI
    out = messy / "derived"
    roll(messy, out, zone, now)
    for day in (out / "recent_events").iterdir():
        for part in day.iterdir():
            part.unlink()
        day.rmdir()
    (out / "recent_events" / "_SUCCESS").write_text("")
    with opened(derived_settings(messy, zone, now, out)) as folder:
        assert folder.cursor().execute("select count(*) from recent_events").fetchall() == [(0,)]


def _refused(settings: Settings) -> str:
    with pytest.raises(StoreError) as caught:
        Store.open(settings)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_bad_or_foreign_folder_is_refused_in_one_line(messy: Path) -> None:
    zone, now = SHANGHAI
    out = messy / "derived"
    assert "does not exist" in _refused(derived_settings(messy, zone, now, out))
    roll(messy, out, zone, now)
    assert "not ANALYTICS_TIMEZONE=UTC" in _refused(derived_settings(messy, "UTC", now, out))
    content = json.loads((out / "_format.json").read_text())
    (out / "_format.json").write_text(json.dumps({**content, "version": 2}))
    assert "version 2" in _refused(derived_settings(messy, zone, now, out, cache="c2.duckdb"))
    (out / "_format.json").unlink()
    assert "no _format.json" in _refused(derived_settings(messy, zone, now, out, cache="c3.duckdb"))
    (out / "_format.json").write_text(json.dumps(content))
    part = next((out / "usage_daily").glob("*/*.parquet"))
    part.write_bytes(b"PAR1 not really PAR1")
    assert "cannot be read" in _refused(derived_settings(messy, zone, now, out, cache="c4.duckdb"))


def test_rollup_command_refuses_a_foreign_folder_and_reports_nothing_new(
    messy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    zone, now = SHANGHAI
    monkeypatch.setenv("ANALYTICS_TIMEZONE", zone)
    monkeypatch.setenv("ANALYTICS_APP_DB", str(messy / "app.duckdb"))
    foreign = messy / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    command = ["rollup", "--exports", str(messy / "export"), "--now", now, "--out"]
    assert cli.main([*command, str(foreign)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a derived folder" in err
    assert cli.main([*command, str(messy / "derived")]) == 0
    assert "rollup: wrote files" in capsys.readouterr().out
    assert cli.main([*command, str(messy / "derived")]) == 0
    assert "nothing new" in capsys.readouterr().out
    monkeypatch.setenv("ANALYTICS_DERIVED_DIR", str(messy / "derived"))
    monkeypatch.setenv("ANALYTICS_CACHE_DB", str(messy / "loaded.duckdb"))
    assert cli.main(["ingest"]) == 0 and ": loaded in" in capsys.readouterr().out
    assert cli.main(["ingest"]) == 0 and "unchanged, nothing loaded" in capsys.readouterr().out
    # `check` on the folder prints what it prints on the exports
    assert cli.main(["check", str(messy / "export")]) == 1
    on_exports = capsys.readouterr().out
    assert cli.main(["check", str(messy / "derived")]) == 1
    assert capsys.readouterr().out == on_exports


@pytest.fixture(scope="session")
def derived_sample(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """The generated sample rolled up, read by the app with no export folder present."""
    out = tmp_path_factory.mktemp("derived-sample") / "derived"
    settings = load_settings({"ANALYTICS_APP_DB": str(out.parent / "app.duckdb"), "ANALYTICS_NOW": SAMPLE_NOW})
    rollup.rollup(sample_dir, out, settings, datetime.fromisoformat(SAMPLE_NOW))
    return out


def test_report_on_the_folder_equals_report_on_the_sample_for_every_account(
    derived_sample: Path,
    sample_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ANALYTICS_NOW", SAMPLE_NOW)
    outputs: dict[str, list[str]] = {}
    for source in ("exports", "folder"):
        monkeypatch.setenv("ANALYTICS_APP_DB", str(tmp_path / source / "app.duckdb"))
        if source == "exports":
            monkeypatch.setenv("ANALYTICS_DATA_DIR", str(sample_dir))
        else:
            monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "no-exports-here"))
            monkeypatch.setenv("ANALYTICS_DERIVED_DIR", str(derived_sample))
        for account in ("acct-001", "acct-002", "acct-003", "acct-004"):
            assert cli.main(["report", "--account", account]) == 0
            outputs.setdefault(source, []).append(capsys.readouterr().out)
    assert outputs["folder"] == outputs["exports"]
    assert all('"month_to_date"' in text for text in outputs["folder"])


def test_analysis_and_token_history_render_from_a_folder(
    app_env: pytest.MonkeyPatch, derived_sample: Path, sample_dir: Path, tmp_path: Path
) -> None:
    app_env.setenv("ANALYTICS_DERIVED_DIR", str(derived_sample))
    app_env.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "no-exports-here"))
    settings = load_settings({"ANALYTICS_DATA_DIR": str(sample_dir), "ANALYTICS_APP_DB": str(tmp_path / "e.duckdb")})
    with opened(settings) as raw:
        expected = analysis_figures(raw, "acct-001", datetime.fromisoformat(SAMPLE_NOW), "saas").to_json()
    at = _signed_in("manager")
    assert [e.value for e in at.error] == []
    balance = next(m for m in at.metric if m.label == "Token Balance")
    assert balance.value == fmt.compact(expected["cards"]["balance"]["tokens"])
    next(b for b in at.button if b.label == "View All").click().run()
    assert not at.exception and [e.value for e in at.error] == []
    assert at.title[0].value == "Token History"
    assert len(at.dataframe[0].value) == 50


def test_the_dashboard_says_when_the_folder_is_missing(app_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app_env.setenv("ANALYTICS_DERIVED_DIR", str(tmp_path / "not-rolled-up"))
    at = _sign_in(_app(), "manager", DEMO_PASSWORDS["manager"])  # signing in needs the app's data: it says why not
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "ANALYTICS_DERIVED_DIR" in errors[0] and "does not exist" in errors[0]


@pytest.mark.parametrize("mode", ["saas", "self-hosted"])
def test_every_page_renders_from_a_folder(
    app_env: pytest.MonkeyPatch, derived_sample: Path, tmp_path: Path, mode: str
) -> None:
    app_env.setenv("ANALYTICS_DERIVED_DIR", str(derived_sample))
    app_env.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "no-exports-here"))
    app_env.setenv("ANALYTICS_MODE", mode)
    at = _signed_in("admin")
    pages = ["analysis", "explore", "token_history", "admin"] + (["recharge", "subscription"] if mode == "saas" else [])
    for page in pages:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, page
        assert [e.value for e in at.error] == [], page
        assert at.title, page


def test_a_failed_write_is_one_line_and_leaves_no_format_file(messy: Path) -> None:
    zone, now = SHANGHAI
    out = messy / "derived"
    out.mkdir()
    (out / "usage_daily").write_text("a file where the table's folder goes")
    with pytest.raises(derived.DerivedError) as caught:
        roll(messy, out, zone, now)
    assert "\n" not in str(caught.value) and "FileExistsError" in str(caught.value)
    assert not (out / "_format.json").exists() and not list(out.glob(".staging-*"))


def test_a_load_that_overlaps_a_rollup_starts_again(messy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rollup that rewrites _format.json while the tables are read: the load is rolled back and done again."""
    zone, now = SHANGHAI
    out = messy / "derived"
    roll(messy, out, zone, now)
    load_tables, calls = derived._load_tables, []

    def rewritten(text: str) -> str:
        return text.replace('"written_at": "', '"written_at": "1')

    def overlapped(cur: duckdb.DuckDBPyConnection, folder: Path, text: str, content: dict) -> None:
        load_tables(cur, folder, text, content)
        calls.append(text)
        if len(calls) == 1:  # a rollup finishes while the first load reads the tables
            (folder / "_format.json").write_text(rewritten(text))

    monkeypatch.setattr(derived, "_load_tables", overlapped)
    with opened(derived_settings(messy, zone, now, out)) as folder:
        assert len(calls) == 2 and calls[1] == rewritten(calls[0])
        loaded = folder.cursor().execute("select value from meta where key = 'derived_format'").fetchall()
        assert loaded == [(calls[1],)]

    def always(cur: duckdb.DuckDBPyConnection, folder: Path, text: str, content: dict) -> None:
        load_tables(cur, folder, text, content)
        (folder / "_format.json").write_text(rewritten(text))

    monkeypatch.setattr(derived, "_load_tables", always)
    assert "kept changing" in _refused(derived_settings(messy, zone, now, out, cache="c5.duckdb"))


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,  # nested past Python's recursion limit
        b'{"format": "' + b"\xff\xfe" * 10 + b'"}',  # not UTF-8
        b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}',  # far larger than any real _format.json
        b'{"format": 1e999999}',
    ],
    ids=["deeply-nested", "not-utf8", "too-large", "huge-number"],
)
def test_a_crafted_format_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    """Whatever _format.json holds, reading it ends in the one-line DerivedError the callers handle."""
    (tmp_path / "_format.json").write_bytes(content)
    with pytest.raises(derived.DerivedError) as caught:
        derived.read_format(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "_format.json" in message and len(message) < 300

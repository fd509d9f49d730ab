"""The sample generator (SPEC §3, §7 `generate`): layout, types, determinism, realism, ledger consistency."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from token_analytics.engine import sample as gen

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=SHANGHAI)
EVENTS = 20_000

STRING, INT, TS = pa.string(), pa.int64(), pa.timestamp("us", tz="UTC")
SCHEMAS = {
    "accounts": [
        ("account_id", STRING),
        ("account_name", STRING),
        ("owner_name", STRING),
        ("plan", STRING),
        ("created_at", TS),
    ],
    "members": [("user_id", STRING), ("account_id", STRING), ("display_name", STRING), ("email", STRING)],
    "usage_events": [
        ("event_id", STRING),
        ("account_id", STRING),
        ("user_id", STRING),
        ("service", STRING),
        ("occurred_at", TS),
        ("tokens", INT),
        ("input_tokens", INT),
        ("output_tokens", INT),
        ("model", STRING),
    ],
    "transactions": [
        ("txn_id", STRING),
        ("account_id", STRING),
        ("user_id", STRING),
        ("type", STRING),
        ("amount", INT),
        ("created_at", TS),
        ("payment_method", STRING),
        ("description", STRING),
    ],
}


def _files(out: Path, folder: str) -> list[Path]:
    return sorted((out / folder).rglob("*.parquet"))


def _read(out: Path, folder: str) -> pd.DataFrame:
    """All files of one export folder as one frame (no hive column added)."""
    return pa.concat_tables([pq.read_table(f) for f in _files(out, folder)]).to_pandas()


def _local_day(column: pd.Series) -> pd.Series:
    return column.dt.tz_convert(SHANGHAI).dt.date


def _check_invariants(out: Path, now: datetime, accounts: int, reexported: bool = False) -> None:
    """What must hold for any run: ids, signs, nothing after now, the ledger reconciles with usage (with
    `reexported`, over one copy of each event: the copies differ in the input/output split only)."""
    acc, mem, ev, tx = (_read(out, f) for f in ("accounts", "members", "usage_events", "transactions"))
    if reexported:
        ev = ev.drop_duplicates("event_id").reset_index(drop=True)
    now_ts = pd.Timestamp(now)
    assert list(acc.account_id) == [f"acct-{i:03d}" for i in range(1, accounts + 1)]
    assert mem.user_id.is_unique and ev.event_id.is_unique and tx.txn_id.is_unique
    assert set(ev.user_id) <= set(mem.user_id) and set(tx.user_id.dropna()) <= set(mem.user_id)
    assert (ev.occurred_at <= now_ts).all() and (tx.created_at <= now_ts).all()
    assert (ev.tokens >= 1).all() and (ev.input_tokens + ev.output_tokens == ev.tokens).all()
    assert (ev.input_tokens >= 0).all() and (ev.output_tokens >= 0).all()
    # the ledger: CONSUME per (member, local day) is minus that member's tokens that day
    ev["day"] = _local_day(ev.occurred_at)
    used = ev.groupby(["account_id", "user_id", "day"]).tokens.sum()
    consume = tx[tx.type == "CONSUME"].assign(day=lambda t: _local_day(t.created_at))
    booked = -consume.groupby(["account_id", "user_id", "day"]).amount.sum()
    pd.testing.assert_series_equal(used.sort_index(), booked.sort_index(), check_names=False)
    signs = {"CONSUME": "<", "RECHARGE": ">", "BONUS": ">", "REFUND": ">"}
    for kind, sign in signs.items():
        amounts = tx[tx.type == kind].amount
        assert ((amounts < 0) if sign == "<" else (amounts > 0)).all(), kind
    assert (tx[tx.type == "ADJUSTMENT"].amount != 0).all()
    # sign-up comes before any usage
    first_event = ev.groupby("account_id").occurred_at.min()
    created = acc.set_index("account_id").created_at
    assert (created[first_event.index] < first_event).all()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample")
    return out, gen.generate(out, events=EVENTS, now=NOW)


def test_summary_and_layout(sample: tuple[Path, dict]) -> None:
    out, summary = sample
    assert summary["accounts"] == 12 and summary["events"] == EVENTS
    assert summary["members"] == len(_read(out, "members"))
    assert summary["transactions"] == len(_read(out, "transactions"))
    assert summary["files"] == len(list(out.rglob("*.parquet")))
    assert (out / "accounts" / "accounts.parquet").is_file() and (out / "members" / "members.parquet").is_file()
    assert summary["last_event_at"] <= NOW and summary["first_event_at"] >= NOW - timedelta(days=120)
    for folder in ("usage_events", "transactions"):
        for path in _files(out, folder):
            assert re.fullmatch(r"month=\d{4}-\d{2}", path.parent.name) and re.fullmatch(r"part-\d{4}", path.stem)
            column = "occurred_at" if folder == "usage_events" else "created_at"
            months = pq.read_table(path).column(column).to_pandas().dt.strftime("%Y-%m")
            assert set(months) == {path.parent.name.removeprefix("month=")}, path  # partitioned by UTC month


def test_every_file_has_the_spec_schema(sample: tuple[Path, dict]) -> None:
    out, _ = sample
    for folder, columns in SCHEMAS.items():
        files = _files(out, folder)
        assert files, folder
        for path in files:
            assert pq.read_schema(path).remove_metadata() == pa.schema(columns), path


def test_invariants(sample: tuple[Path, dict]) -> None:
    _check_invariants(sample[0], NOW, 12)


def test_deterministic_for_a_seed(sample: tuple[Path, dict], tmp_path: Path) -> None:
    out, summary = sample
    again = gen.generate(tmp_path / "again", events=EVENTS, now=NOW)
    assert {**again, "out": ""} == {**summary, "out": ""}
    names = [p.relative_to(out) for p in sorted(out.rglob("*.parquet"))]
    assert names == [p.relative_to(tmp_path / "again") for p in sorted((tmp_path / "again").rglob("*.parquet"))]
    for name in names:
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    other = gen.generate(tmp_path / "other", events=EVENTS, seed=8, now=NOW)
    assert other["events"] == EVENTS
    first, second = _read(out, "usage_events"), _read(tmp_path / "other", "usage_events")
    assert first.event_id.str.startswith("evt-7-").all() and second.event_id.str.startswith("evt-8-").all()
    assert not first.tokens.equals(second.tokens)


def test_accepted_values_all_present(sample: tuple[Path, dict]) -> None:
    out, _ = sample
    ev, tx, acc = _read(out, "usage_events"), _read(out, "transactions"), _read(out, "accounts")
    assert set(ev.service) == {"agent", "operator", "assistant"}
    assert ev.service.value_counts().is_unique  # unequal shares
    assert set(ev.model) <= {"gpt-4o", "gpt-4o-mini", "claude-sonnet", "deepseek-v3", "qwen-max"}
    assert set(tx.type) == {"CONSUME", "RECHARGE", "BONUS", "REFUND", "ADJUSTMENT"}
    recharge = tx[tx.type == "RECHARGE"]
    assert set(recharge.payment_method) <= {"WECHAT", "ALIPAY", "BANK_TRANSFER"}
    assert tx[tx.type != "RECHARGE"].payment_method.isna().all()
    assert (tx[tx.type == "REFUND"].description == "Refund: service error").all()
    assert (tx[tx.type == "ADJUSTMENT"].description == "Manual adjustment").all()
    assert tx[tx.type == "CONSUME"].description.str.fullmatch(r"(agent|operator|assistant)(/\w+)* usage").all()
    assert set(acc.plan) <= {"free", "pro", "enterprise"}
    # the demo users' accounts (auth/demo_users.yaml): acct-001 enterprise, acct-002 pro, acct-003 free
    assert acc.plan.iloc[:3].tolist() == ["enterprise", "pro", "free"]
    bonus = tx[tx.type == "BONUS"]
    assert sorted(bonus.account_id) == sorted(acc.account_id) and bonus.user_id.isna().all()
    signed_up = bonus.set_index("account_id").created_at.sort_index()
    assert signed_up.equals(acc.set_index("account_id").created_at.sort_index())


def test_sign_ups_fit_the_history(sample: tuple[Path, dict]) -> None:
    """Each account's usage starts within two days of its sign-up (acct-001 had a year-long hole)."""
    out, _ = sample
    acc, ev = _read(out, "accounts"), _read(out, "usage_events")
    first_event = ev.groupby("account_id").occurred_at.min()
    created = acc.set_index("account_id").created_at
    gap = first_event - created[first_event.index]
    assert set(first_event.index) == set(acc.account_id)
    assert (gap > pd.Timedelta(0)).all() and (gap < pd.Timedelta(days=2)).all(), gap.sort_values().tail(3)
    assert created["acct-001"] < pd.Timestamp(NOW) - pd.Timedelta(days=119)  # the largest spans the whole window


def test_ids_follow_the_documented_formats(sample: tuple[Path, dict]) -> None:
    out, _ = sample
    ev, tx, mem = _read(out, "usage_events"), _read(out, "transactions"), _read(out, "members")
    assert ev.event_id.str.fullmatch(r"evt-7-\d+").all() and tx.txn_id.str.fullmatch(r"txn-7-\d+").all()
    assert mem.user_id.str.fullmatch(r"user-\d{3}-\d{2}").all()
    assert (mem.user_id.str[5:8] == mem.account_id.str[5:8]).all()
    assert mem.email.str.fullmatch(r"[a-z.]+@[a-z-]+\.example\.com").all()


def test_demo_accounts_have_recent_usage(sample: tuple[Path, dict]) -> None:
    out, _ = sample
    ev = _read(out, "usage_events")
    local = ev.occurred_at.dt.tz_convert(SHANGHAI)
    today = NOW.date()
    for account in ("acct-001", "acct-002"):
        mine = local[ev.account_id == account]
        assert (mine.dt.date == today).any() and (mine.dt.date == today - timedelta(days=1)).any()
        months = set(mine.dt.strftime("%Y-%m"))
        assert {"2026-11", "2026-10"} <= months


def test_realistic_shape(sample: tuple[Path, dict]) -> None:
    out, _ = sample
    ev, mem = _read(out, "usage_events"), _read(out, "members")
    per_account = ev.account_id.value_counts()
    assert per_account.index[0] == "acct-001" and per_account.iloc[0] > 2 * per_account.iloc[1]
    size = mem.account_id.value_counts()
    assert size.between(3, 15).all() and size["acct-001"] >= 10 and size["acct-002"] >= 5
    local = ev.occurred_at.dt.tz_convert(SHANGHAI)
    per_day = local.dt.date.value_counts()
    weekend = pd.Series([d.weekday() >= 5 for d in per_day.index], index=per_day.index)
    ratio = per_day[weekend].mean() / per_day[~weekend & (per_day.index != NOW.date())].mean()
    assert 0.25 < ratio < 0.6
    office = local.dt.hour.between(9, 17)
    assert office.mean() > 0.6
    assert 1000 < ev.tokens.median() < 4000 and ev.tokens.max() > 20 * ev.tokens.median()


def test_last_account_is_the_only_overdrawn_one(sample: tuple[Path, dict]) -> None:
    out, _ = sample
    tx = _read(out, "transactions")
    balance = tx.groupby("account_id").amount.sum()
    assert balance["acct-012"] < 0
    assert (balance.drop("acct-012") > 0).all()


def test_ledger_consistent_with_usage_per_account(sample: tuple[Path, dict]) -> None:
    out, _ = sample
    ev, tx = _read(out, "usage_events"), _read(out, "transactions")
    consumed = tx[tx.type == "CONSUME"].groupby("account_id").amount.sum()
    pd.testing.assert_series_equal(consumed, -ev.groupby("account_id").tokens.sum(), check_names=False)


@pytest.mark.parametrize(
    ("now", "accounts", "events"),
    [
        (datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI), 3, 2_000),  # local midnight on the 1st
        (datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC), 2, 500),  # early on the 1st in Shanghai, given in UTC
        (datetime(2027, 3, 1, 7, 59, tzinfo=SHANGHAI), 1, 100),  # the UTC day still February
        (datetime(2026, 11, 29, 23, 59, tzinfo=SHANGHAI), 40, 5_000),  # more accounts than company names
    ],
)
def test_edge_cases(tmp_path: Path, now: datetime, accounts: int, events: int) -> None:
    gen.generate(tmp_path, accounts=accounts, events=events, now=now)
    _check_invariants(tmp_path, now, accounts)
    ev = _read(tmp_path, "usage_events")
    local = ev[ev.account_id == "acct-001"].occurred_at.dt.tz_convert(SHANGHAI).dt.date
    today = now.astimezone(SHANGHAI).date()
    assert (local == today).any() and (local == today - timedelta(days=1)).any()
    assert (local < today.replace(day=1)).any()  # last month too
    if accounts >= 3:
        balance = _read(tmp_path, "transactions").groupby("account_id").amount.sum()
        assert balance.iloc[-1] < 0 and (balance.iloc[:-1] > 0).all()


def test_chunks_split_a_month_into_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen, "CHUNK_ROWS", 1_500)
    messages: list[str] = []
    summary = gen.generate(tmp_path, accounts=4, events=8_000, now=NOW, progress=messages.append)
    assert list((tmp_path / "usage_events" / "month=2026-10").glob("part-*.parquet"))[1:]  # several parts
    assert max(pq.read_metadata(p).num_rows for p in _files(tmp_path, "usage_events")) <= 1_500
    assert len(messages) == summary["files"] and all(m.startswith("wrote ") for m in messages)
    _check_invariants(tmp_path, NOW, 4)


def test_rerun_replaces_only_the_export_folders(tmp_path: Path) -> None:
    stale = tmp_path / "usage_events" / "month=1999-01" / "part-0000.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    gen.generate(tmp_path, accounts=3, events=1_000, now=NOW)
    assert not stale.parent.exists() and keep.read_text() == "mine"


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        gen.generate(tmp_path, now=datetime(2026, 11, 29, 10, 0))
    with pytest.raises(ValueError, match="events"):
        gen.generate(tmp_path, events=10, now=NOW)
    with pytest.raises(ValueError, match="accounts"):
        gen.generate(tmp_path, accounts=0, now=NOW)
    with pytest.raises(ValueError, match="seed"):
        gen.generate(tmp_path, seed=-1, now=NOW)
    assert not any(tmp_path.iterdir())  # nothing written


def export_digest(out: Path) -> str:
    """Every file's path and rows (content, not bytes: a parquet writer's own bytes are not the point)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(out.rglob("*.parquet")):
        digest.update(path.relative_to(out).as_posix().encode())
        digest.update(repr(pq.read_table(path).to_pylist()).encode())
    return digest.hexdigest()


def test_the_default_sample_is_unchanged(sample: tuple[Path, dict], tmp_path: Path) -> None:
    """The demo sample and the test fixtures' exports, row for row as they were before the generator took a shape."""
    assert export_digest(sample[0]) == "d2a20422e8d0ee81b763b80093952cea49cd733ffee4619403793d32b71ea198"
    gen.generate(tmp_path, accounts=4, events=3000, seed=1, now=NOW)
    assert export_digest(tmp_path) == "ac685e9d1570e877cea770eaf2f2f6e01acb825491d87e22ed722d7d3eae7d32"


def test_platform_shape(tmp_path: Path) -> None:
    import duckdb

    summary = gen.generate(tmp_path, accounts=6, events=30_000, seed=3, now=NOW, shape=gen.PLATFORM)
    members = _read(tmp_path, "members")
    assert members.groupby("account_id").size().between(20, 40).all()
    events = tmp_path / "usage_events"
    files = sorted(events.rglob("*.parquet"))
    # one file per UTC day of the 90 local days (a local day in Shanghai spans two UTC dates): 91
    assert len(files) == 91 and summary["files"] == 91 + 1 + 1 + len(_files(tmp_path, "transactions"))
    for path in files:
        match = re.fullmatch(
            r"month=(\d{4}-\d{2})/day-(\d{4}-\d{2}-\d{2})-part-0000\.parquet", path.relative_to(events).as_posix()
        )
        assert match and match[2].startswith(match[1]), path
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(
        "create table e as select * from read_parquet($glob, filename = true)", {"glob": f"{events}/**/*.parquet"}
    )
    rows, ids, models = con.execute(
        "select count(*), count(distinct event_id), count(distinct model) from e"
    ).fetchall()[0]
    assert (ids, models) == (30_000, 4)
    assert rows - ids == summary["reexported"] and 0.015 < summary["reexported"] / ids < 0.025
    copies = con.execute(
        """
        select count(distinct (tokens, input_tokens, output_tokens)) as versions,
            min(occurred_at) = max(occurred_at) as same_at,
            abs(datediff('day', min(strptime(regexp_extract(filename, 'day-(\\d{4}-\\d{2}-\\d{2})', 1), '%Y-%m-%d')),
                max(strptime(regexp_extract(filename, 'day-(\\d{4}-\\d{2}-\\d{2})', 1), '%Y-%m-%d')))) as days_apart,
            count(distinct tokens) as totals
        from e group by event_id having count(*) > 1
        """
    ).fetchall()
    assert len(copies) == summary["reexported"]
    assert all(same_at and totals == 1 and days_apart <= 1 for _, same_at, days_apart, totals in copies)
    assert sum(versions == 2 for versions, *_ in copies) == summary["changed"]
    assert 0.1 < summary["changed"] / summary["reexported"] < 0.3
    _check_invariants(tmp_path, NOW, 6, reexported=True)

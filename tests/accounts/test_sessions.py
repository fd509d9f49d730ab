"""Server-side sessions, sign-in throttling and the audit log, on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from token_analytics.accounts.audit import AuditLog
from token_analytics.accounts.sessions import KEEP_ENDED, Sessions, session_key
from token_analytics.accounts.throttle import Policy, Throttle
from token_analytics.appdb import AppDB, open_app_db

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
IDLE = timedelta(hours=8)


@pytest.fixture
def sessions(db: AppDB) -> Sessions:
    return Sessions(db.connection, idle=IDLE, lifetime=timedelta(days=1))


def actions(db: AppDB) -> list[tuple[str, str | None, str | None]]:
    """(action, actor, target) of the audit log, oldest first."""
    rows = AuditLog(db.connection).entries().iloc[::-1]
    return [(row.action, row.actor, None if row.target is None else str(row.target)) for row in rows.itertuples()]


# --- sessions ------------------------------------------------------------------------------------


def test_a_session_lives_until_it_is_idle_for_the_idle_time(sessions: Sessions) -> None:
    sid = sessions.start("analyst", "fp-1", "Chromium", "10.0.0.7", T0)
    assert sessions.is_valid(sid, "fp-1", T0 + timedelta(hours=7, minutes=59))  # used: idle counts from here
    assert sessions.is_valid(sid, "fp-1", T0 + timedelta(hours=15, minutes=58))
    assert not sessions.is_valid(sid, "fp-1", T0 + timedelta(hours=23, minutes=59))  # 8 h 1 min since last use
    # Ended for good: coming back "earlier" does not revive it.
    assert not sessions.is_valid(sid, "fp-1", T0 + timedelta(hours=16))
    assert sessions.get(sid).end_reason == "idle"


def test_a_session_ends_at_its_absolute_expiry_even_when_used(sessions: Sessions) -> None:
    sid = sessions.start("analyst", "fp-1", None, None, T0)
    for hour in range(1, 24):
        assert sessions.is_valid(sid, "fp-1", T0 + timedelta(hours=hour))
    assert not sessions.is_valid(sid, "fp-1", T0 + timedelta(days=1))
    assert sessions.get(sid).end_reason == "expired"


def test_a_changed_password_role_or_account_ends_the_session(sessions: Sessions) -> None:
    sid = sessions.start("analyst", "fp-old", None, None, T0)
    assert not sessions.is_valid(sid, "fp-new", T0 + timedelta(minutes=1))
    assert sessions.get(sid).end_reason == "credentials"
    assert not sessions.is_valid(sid, "fp-old", T0 + timedelta(minutes=2))  # changing it back does not revive it


def test_a_user_removed_from_the_auth_file_is_signed_out(sessions: Sessions) -> None:
    sid = sessions.start("gone", "fp", None, None, T0)
    assert not sessions.is_valid(sid, None, T0)
    assert sessions.get(sid).end_reason == "unknown_user"


def test_unknown_ids_and_the_stored_key_sign_nobody_in(sessions: Sessions) -> None:
    sid = sessions.start("analyst", "fp", None, None, T0)
    assert not sessions.is_valid("made-up", "fp", T0)
    assert not sessions.is_valid(session_key(sid), "fp", T0)  # what the table holds is not a cookie
    assert sessions.get(sid).session_key == session_key(sid) != sid


def test_sign_out_revoke_and_revoke_all(sessions: Sessions, db: AppDB) -> None:
    mine = sessions.start("manager", "fp", "A", "10.0.0.1", T0)
    laptop = sessions.start("manager", "fp", "B", "10.0.0.2", T0 + timedelta(minutes=1))
    phone = sessions.start("manager", "fp", "C", "10.0.0.3", T0 + timedelta(minutes=2))
    other = sessions.start("analyst", "fp2", "D", "10.0.0.4", T0 + timedelta(minutes=3))
    now = T0 + timedelta(minutes=5)
    assert [s.user_agent for s in sessions.active(now)] == ["D", "C", "B", "A"]
    assert sessions.revoke(mine, "manager", now)
    assert not sessions.revoke(mine, "manager", now)  # already ended
    assert sessions.revoke_key(session_key(laptop), "admin", now)
    assert [s.user_agent for s in sessions.active(now, "manager")] == ["C"]
    assert sessions.revoke_all("MANAGER", "admin", now) == 1
    assert not sessions.is_valid(phone, "fp", now)
    assert sessions.is_valid(other, "fp2", now)
    assert [s.user_agent for s in sessions.active(now)] == ["D"]
    assert actions(db)[-3:] == [
        ("session.end", "manager", "manager"),
        ("session.end", "admin", "manager"),
        ("session.end", "admin", "manager"),
    ]


def test_a_sign_in_deletes_records_ended_longer_ago_than_kept(sessions: Sessions, db: AppDB) -> None:
    signed_out = sessions.start("manager", "fp", "signed out", None, T0)
    sessions.revoke(signed_out, "manager", T0 + timedelta(hours=1))  # ended at T0 + 1 h
    abandoned = sessions.start("analyst", "fp", "abandoned", None, T0 + timedelta(hours=2))  # expires T0 + 26 h
    live = T0 + KEEP_ENDED + timedelta(hours=1, minutes=30)  # past the first's end + 90 days, not the second's
    sessions.start("admin", "fp", "today", None, live)
    assert sessions.get(signed_out) is None
    assert sessions.get(abandoned) is not None
    sessions.start("admin", "fp", "two days later", None, live + timedelta(days=2))
    assert sessions.get(abandoned) is None  # expired at T0 + 26 h, never used again
    rows = db.connection.execute("select user_agent from app.sessions order by created_at").fetchall()
    agents = [row[0] for row in rows]
    assert agents == ["today", "two days later"]
    assert [a for a, _, _ in actions(db)].count("sign_in.success") == 4  # the audit log keeps every sign-in


def test_sessions_survive_a_restart(tmp_path: Path) -> None:
    first = open_app_db(tmp_path / "app.duckdb")
    sid = Sessions(first.connection).start("admin", "fp", None, None, T0)
    first.close()
    second = open_app_db(tmp_path / "app.duckdb")
    try:
        assert Sessions(second.connection).is_valid(sid, "fp", T0 + timedelta(hours=1))
    finally:
        second.close()


# --- throttling ----------------------------------------------------------------------------------


def guess(throttle: Throttle, username: str, address: str, now: datetime) -> str:
    """One wrong guess as the sign-in does it: 'counted' when the password was checked, else why not."""
    verdict = throttle.check(username, address, now)
    if not verdict.allowed:
        return "locked" if verdict.locked else "wait"
    throttle.failed(username, address, now)
    return "counted"


def test_thirty_guesses_lock_the_name_with_growing_delays(db: AppDB) -> None:
    throttle = Throttle(db.connection, Policy())
    results, now = [], T0
    for _ in range(30):
        results.append(guess(throttle, "analyst", "10.0.0.9", now))
        now += timedelta(seconds=1)  # one guess a second, as in the report
    # 3 free guesses, then 1 s, 2 s, 4 s, ... between counted ones; then no more.
    assert results[:3] == ["counted"] * 3
    counted = [second for second, result in enumerate(results) if result == "counted"]
    assert counted == [0, 1, 2, 3, 5, 9, 17]  # free, free, free, +1 s, +2 s, +4 s, +8 s; next at 33 s
    assert "locked" not in results  # not yet: 7 of 10 failures

    # A patient guesser waits out every delay: the 10th failure locks the name.
    for _ in range(3):
        verdict = throttle.check("analyst", "10.0.0.9", now)
        now = max(now, verdict.until or now)
        assert guess(throttle, "analyst", "10.0.0.9", now) == "counted"
    locked = throttle.check("analyst", "10.0.0.9", now + timedelta(minutes=14))
    assert locked.locked and not locked.allowed
    assert locked.until == now + timedelta(minutes=15)
    assert throttle.check("analyst", "10.0.0.9", now + timedelta(minutes=15)).allowed  # the lock ends by itself


def test_unknown_names_are_locked_exactly_like_real_ones(db: AppDB) -> None:
    throttle = Throttle(db.connection, Policy(delay=timedelta(0)))
    for name in ("analyst", "no-such-user"):
        assert [guess(throttle, name, f"10.0.1.{len(name)}", T0) for _ in range(11)] == ["counted"] * 10 + ["locked"]


def test_the_address_is_locked_across_names_and_an_admin_unlocks(db: AppDB) -> None:
    throttle = Throttle(db.connection, Policy(delay=timedelta(0)))
    for index in range(30):
        assert guess(throttle, f"user-{index}", "10.0.0.66", T0) == "counted"
    assert guess(throttle, "someone-new", "10.0.0.66", T0) == "locked"
    assert guess(throttle, "someone-new", "10.0.0.67", T0) == "counted"  # another address is not
    entries = {(e.scope, e.value): e for e in throttle.current(T0)}
    assert entries[("address", "10.0.0.66")].locked and entries[("address", "10.0.0.66")].failures == 30
    throttle.unlock("address", "10.0.0.66", "admin", T0 + timedelta(seconds=1))
    assert guess(throttle, "someone-new", "10.0.0.66", T0 + timedelta(seconds=2)) == "counted"
    assert ("throttle.unlock", "admin", "address 10.0.0.66") in actions(db)


def test_a_success_clears_the_names_failures_and_failures_survive_a_restart(tmp_path: Path) -> None:
    first = open_app_db(tmp_path / "app.duckdb")
    throttle = Throttle(first.connection, Policy(delay=timedelta(0)))
    for _ in range(9):
        guess(throttle, "Manager", "10.0.0.5", T0)
    first.close()
    second = open_app_db(tmp_path / "app.duckdb")
    try:
        throttle = Throttle(second.connection, Policy(delay=timedelta(0)))
        assert guess(throttle, "manager", "10.0.0.5", T0) == "counted"  # the 10th, after a restart
        assert guess(throttle, "manager", "10.0.0.5", T0) == "locked"
        throttle.unlock("username", "MANAGER", "admin", T0 + timedelta(seconds=1))
        throttle.succeeded("manager", "10.0.0.5", T0 + timedelta(seconds=2))
        assert throttle.check("manager", "10.0.0.5", T0 + timedelta(seconds=3)).allowed
    finally:
        second.close()


# --- the audit log -------------------------------------------------------------------------------


def test_admin_writes_are_audited_with_who_what_and_where(db: AppDB) -> None:
    from token_analytics.accounts import audit

    audit.set_address("192.0.2.10")
    try:
        transfer = db.create_order("acct-001", "manager", "recharge", 100_000, 1000, "BANK_TRANSFER", now=T0)
        rejected = db.create_order("acct-001", "manager", "recharge", 5_000, 50, "BANK_TRANSFER", now=T0)
        plan = db.create_order("acct-002", "manager2", "plan", 0, 9900, "WECHAT", plan="pro", now=T0)
        db.confirm_transfer(transfer.order_id, "admin", now=T0 + timedelta(minutes=1))
        db.confirm_transfer(transfer.order_id, "admin", now=T0 + timedelta(minutes=2))  # a repeat: nothing new
        db.reject_transfer(rejected.order_id, "admin", note="=no money", now=T0 + timedelta(minutes=3))
        db.mark_paid(plan.order_id, "manager2", now=T0 + timedelta(minutes=4))
        db.post_adjustment("acct-001", -500, "refund", "admin", now=T0 + timedelta(minutes=5), adjustment_id="A1")
        db.post_adjustment("acct-001", -500, "refund", "admin", now=T0 + timedelta(minutes=6), adjustment_id="A1")
        db.request_plan("acct-002", "manager2", "enterprise", "enterprise_contact", now=T0 + timedelta(minutes=7))
    finally:
        audit.set_address(None)
    log = AuditLog(db.connection).entries().iloc[::-1]
    assert list(zip(log["action"], log["actor"], log["account_id"], strict=True)) == [
        ("transfer.confirm", "admin", "acct-001"),
        ("transfer.reject", "admin", "acct-001"),
        ("plan.change", "manager2", "acct-002"),
        ("adjustment.post", "admin", "acct-001"),
        ("plan.request", "manager2", "acct-002"),
    ]
    assert set(log["address"]) == {"192.0.2.10"}
    assert log.iloc[0]["target"] == transfer.order_id
    assert log.iloc[1]["detail"] == f"5,000 tokens by BANK_TRANSFER, reference {rejected.reference}; note: =no money"
    assert log.iloc[3]["detail"] == "-500 tokens: refund"
    assert log.iloc[0]["event_at"] == T0 + timedelta(minutes=1)


def test_audit_filters(db: AppDB, sessions: Sessions) -> None:
    sessions.start("analyst", "fp", None, "10.0.0.1", T0)
    Throttle(db.connection).failed("Admin", "10.0.0.2", T0 + timedelta(hours=1))
    sessions.start("admin", "fp", None, "10.0.0.2", T0 + timedelta(hours=2))
    log = AuditLog(db.connection)
    assert list(log.entries()["actor"]) == ["admin", "admin", "analyst"]
    assert list(log.entries(action="sign_in.success")["actor"]) == ["admin", "analyst"]
    assert list(log.entries(actor="ADMIN")["action"]) == ["sign_in.success", "sign_in.failure"]
    window = log.entries(since=T0 + timedelta(minutes=30), until=T0 + timedelta(hours=2))
    assert list(window["action"]) == ["sign_in.failure"]
    assert list(window["address"]) == ["10.0.0.2"]
    assert log.entries(account_id="acct-001").empty


def test_the_audit_csv_keeps_typed_text_from_running_as_a_formula(db: AppDB) -> None:
    import csv
    import io

    from token_analytics.settings import load_settings
    from token_analytics.web.security_panel import audit_csv

    Throttle(db.connection).failed('=HYPERLINK("http://x")', "10.0.0.2", T0)  # a "username" typed into the form
    rows = AuditLog(db.connection).entries()
    parsed = list(csv.reader(io.StringIO(audit_csv(rows, load_settings({})).decode())))
    assert parsed == [
        ["event_at", "actor", "address", "action", "account_id", "target", "detail", "count"],
        ["2026-11-30T10:00:00+08:00", '\'=hyperlink("http://x")', "10.0.0.2", "sign_in.failure", "", "", "", "1"],
    ]

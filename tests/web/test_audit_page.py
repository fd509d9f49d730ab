"""The audit log against a flood of refused sign-ins, its filters, and how /admin shows it (names, not codes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from tests.apptest import _sign_in, _signed_in
from token_analytics.accounts import audit
from token_analytics.accounts.audit import AuditLog
from token_analytics.accounts.sessions import Sessions
from token_analytics.accounts.throttle import Policy, Throttle
from token_analytics.appdb import AppDB
from token_analytics.settings import load_settings
from token_analytics.strings import language
from token_analytics.web import security_panel

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def flood(throttle: Throttle, address: str, start: datetime, attempts: int, spacing: timedelta) -> None:
    """`attempts` sign-ins refused (the pair is locked first), one every `spacing`."""
    for index in range(attempts):
        now = start + index * spacing
        verdict = throttle.reserve("admin", address, now)
        assert not verdict.allowed
        throttle.refused("admin", address, verdict, now)


def test_a_flood_of_refusals_is_one_row_per_user_address_and_minute(db: AppDB) -> None:
    sessions = Sessions(db.connection, idle=timedelta(hours=8), lifetime=timedelta(days=1))
    sessions.start("manager", "fp", None, "198.51.100.2", T0)  # the real event a flood must not push away
    throttle = Throttle(db.connection, Policy(delay=timedelta(0)))
    for address in ("203.0.113.1", "203.0.113.2"):
        for _ in range(10):
            throttle.failed("admin", address, T0)
    flood(throttle, "203.0.113.1", T0 + timedelta(seconds=1), 600, timedelta(milliseconds=200))  # 2 minutes
    flood(throttle, "203.0.113.2", T0 + timedelta(seconds=1), 50, timedelta(milliseconds=100))
    log = AuditLog(db.connection)
    refused = log.entries(action="sign_in.refused").iloc[::-1]
    assert list(zip(refused["address"], refused["count"], refused["detail"], strict=True)) == [
        ("203.0.113.2", 50, "locked"),
        ("203.0.113.1", 295, "locked"),  # 02:00:01 .. 02:00:59.8
        ("203.0.113.1", 300, "locked"),  # 02:01
        ("203.0.113.1", 5, "locked"),  # 02:02:00 .. 02:02:00.8
    ]
    # 650 refusals are 4 rows: the sign-in before them is still on a page of 25.
    assert "sign_in.success" in set(log.entries(limit=25)["action"])


def test_filters_by_kind_person_and_time(db: AppDB) -> None:
    sessions = Sessions(db.connection, idle=timedelta(hours=8), lifetime=timedelta(days=1))
    first = sessions.start("analyst", "fp", None, "10.0.0.1", T0)
    sessions.revoke(first, "analyst", T0 + timedelta(minutes=1))
    Throttle(db.connection).failed("admin", "10.0.0.2", T0 + timedelta(minutes=2))
    db.request_plan("acct-002", "manager2", "enterprise", "enterprise_contact", now=T0 + timedelta(minutes=3))
    log = AuditLog(db.connection)
    assert list(log.entries(actions=audit.actions_of("sign_in"))["action"]) == ["sign_in.failure", "sign_in.success"]
    assert list(log.entries(actions=audit.actions_of("plan"))["actor"]) == ["manager2"]
    assert list(log.entries(user="Analyst")["action"]) == ["session.end", "sign_in.success"]
    window = log.entries(since=T0 + timedelta(seconds=30), until=T0 + timedelta(minutes=2))
    assert list(window["action"]) == ["session.end"]
    # Every action is in exactly one kind; one added later without a kind is under "other".
    every = [action for kind in [*audit.KINDS, "other"] for action in audit.actions_of(kind)]
    assert sorted(every) == sorted(audit.ACTIONS)


# --- what /admin shows ---------------------------------------------------------------------------


def test_cells_are_names_and_sentences_never_codes_or_none(db: AppDB) -> None:
    sessions = Sessions(db.connection, idle=timedelta(hours=8), lifetime=timedelta(days=1))
    first = sessions.start("analyst", "fp", None, None, T0)
    sessions.revoke(first, "analyst", T0 + timedelta(minutes=1))
    db.request_plan("acct-002", "manager2", "enterprise", "enterprise_contact", now=T0 + timedelta(minutes=2))
    throttle = Throttle(db.connection, Policy(delay=timedelta(0)))
    for _ in range(10):
        throttle.failed("admin", "203.0.113.1", T0 + timedelta(minutes=3))
    flood(throttle, "203.0.113.1", T0 + timedelta(minutes=3, seconds=1), 12, timedelta(seconds=1))
    throttle.unlock("username", "admin", "root (command line)", T0 + timedelta(minutes=4))
    rows = AuditLog(db.connection).entries()
    settings = load_settings({})
    for lang, expected in {
        "en": {
            "Session ended": "Signed out (session {key})",
            "Plan requested": "Enterprise contact request for the Enterprise plan",
            "Sign-in refused (paused)": "12 attempt(s) refused: sign-in is paused after too many failures",
            "Sign-in unlocked": "—",
        },
        "zh": {
            "会话已结束": "已退出登录（会话 {key}）",
            "已申请套餐": "企业版咨询申请：Enterprise 套餐",
            "登录被拒绝（已暂停）": "拒绝 12 次：失败次数过多，登录已暂停",
            "已解除登录锁定": "—",
        },
    }.items():
        with language(lang):
            table = security_panel.audit_table(rows, settings)
        cells = {str(value) for value in table.to_numpy().ravel()}
        assert not cells & {"None", "nan", "NaN", "<NA>", ""}, cells
        action, detail = table.columns[2], table.columns[5]
        details = dict(zip(table[action], table[detail], strict=False))
        for name, sentence in expected.items():
            assert details[name] == sentence.format(key=first_key(rows))
        unlock = table[table[action] == list(expected)[-1]]
        assert unlock.iloc[0][table.columns[4]] == {"en": "Username: admin", "zh": "用户名: admin"}[lang]


def first_key(rows: pd.DataFrame) -> str:
    """The session key prefix the sign-out row names."""
    (detail,) = rows[rows["action"] == "session.end"]["detail"]
    return detail.split(" ")[1]


def test_the_admin_page_shows_no_none_and_readable_actions(app_env: pytest.MonkeyPatch) -> None:
    analyst = _signed_in("analyst")
    analyst.sidebar.button(key="nav_logout").click().run()  # sign out: a session.end row without address or account
    wrong = _sign_in(analyst, "nobody", "wrong")  # a failure: no account, no target
    assert wrong.error
    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    assert not admin.exception
    (log,) = [frame.value for frame in admin.dataframe if "Action" in frame.value.columns]
    cells = {str(value) for value in log.to_numpy().ravel()}
    assert not cells & {"None", "nan", "NaN", "<NA>", ""}, cells
    assert {"Signed in", "Failed sign-in"} <= set(log["Action"])
    for detail in log["Detail"]:
        assert not detail.startswith(("sign_out ", "enterprise_contact", "waiting", "locked")), detail
    sessions = [frame.value for frame in admin.dataframe if "Browser" in frame.value.columns]
    assert sessions and not {str(v) for v in sessions[0].to_numpy().ravel()} & {"None", "nan", ""}

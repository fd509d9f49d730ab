"""An admin's switch to another account is in the audit log: one row per change, none per rerun."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.apptest import DEMO_PASSWORDS, _app, _sign_in, _signed_in
from token_analytics.accounts.audit import AuditLog
from token_analytics.settings import load_settings
from token_analytics.web import data


def switches() -> list[tuple[str, str, str, str]]:
    """(actor, from, to, detail) of every account switch in the audit log, oldest first."""
    rows: pd.DataFrame = AuditLog(data.open_store(load_settings()).cursor()).entries(action="account.switch")
    return [(r.actor, r.target, r.account_id, r.detail) for r in rows.iloc[::-1].itertuples()]


def test_a_switch_in_the_sidebar_writes_one_row_and_a_rerun_none(app_env: pytest.MonkeyPatch) -> None:
    at = _signed_in("admin")
    assert switches() == []  # signing in on one's own account is not a switch
    at.sidebar.selectbox(key="nav_account").select("acct-002").run()
    assert not at.exception
    assert switches() == [("admin", "acct-001", "acct-002", "acct-001 -> acct-002")]
    at.run()
    at.switch_page("app_pages/admin.py").run()
    at.switch_page("app_pages/analysis.py").run()
    assert len(switches()) == 1  # reruns and other pages on the same account write nothing
    at.sidebar.selectbox(key="nav_account").select("acct-001").run()
    assert switches()[1:] == [("admin", "acct-002", "acct-001", "acct-002 -> acct-001")]


def test_a_link_to_another_account_is_a_switch_once(app_env: pytest.MonkeyPatch) -> None:
    at = _app()
    at.query_params["account"] = "acct-003"
    _sign_in(at, "admin", DEMO_PASSWORDS["admin"]).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="nav_account").value == "acct-003"
    at.run()
    assert switches() == [("admin", "acct-001", "acct-003", "acct-001 -> acct-003")]


def test_nobody_but_an_admin_switches(app_env: pytest.MonkeyPatch) -> None:
    at = _app()
    at.query_params["account"] = "acct-002"
    _sign_in(at, "manager", DEMO_PASSWORDS["manager"]).run()
    assert not at.exception
    at.query_params["account"] = "acct-003"  # ignored for a manager: not a switch either
    at.run()
    assert switches() == []

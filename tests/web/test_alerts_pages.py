"""Alerts on the pages (AppTest): a manager sets thresholds, everyone sees the banner, an analyst cannot set
them, the admin sees a webhook that is down. Runs on the small generated sample (tests/conftest.py)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import _signed_in
from tests.builders import SAMPLE_NOW
from tests.web.test_markup import HOSTILE, unescaped_markup
from token_analytics.alerts import rules as alerts
from token_analytics.alerts.state import Change
from token_analytics.appdb import open_app_db
from token_analytics.engine import explore
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
from token_analytics.web import fmt

BALANCE_KEY = "analysis_alerts_balance"
HUGE = 10**15  # above any balance of the sample: the balance alert fires


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def save(at: AppTest) -> AppTest:
    (button,) = [b for b in at.button if b.label == "Save alerts"]
    button.click().run()
    assert not at.exception, at.exception
    return at


def test_manager_sets_a_threshold_and_everyone_sees_the_banner(app_env: pytest.MonkeyPatch) -> None:
    manager = _signed_in("manager")
    assert not [e for e in errors(manager) if "alert" in e]  # nothing set, nothing fires
    manager.number_input(key=BALANCE_KEY).set_value(HUGE)
    save(manager)
    assert [s.value for s in manager.success] == ["Alert thresholds saved."]
    (banner,) = [e for e in errors(manager) if e.startswith("Balance alert:")]
    assert banner.endswith("tokens left, below the threshold of 1,000,000,000,000,000.")
    changes = [c.value for c in manager.caption if ": manager " in c.value]
    assert len(changes) == 1
    # a sentence naming only what changed, the number with separators
    assert changes[0].endswith(": manager set the balance alert to below 1,000,000,000,000,000 tokens (before: off).")
    assert "Set now: balance below 1,000,000,000,000,000 tokens." in [c.value for c in manager.caption]
    # saving the same values again writes nothing
    save(manager)
    assert [s.value for s in manager.success] == ["Nothing changed."]

    analyst = _signed_in("analyst")  # the same account
    assert [e for e in errors(analyst) if e.startswith("Balance alert:")] == [banner]
    assert [n for n in analyst.number_input if n.key == BALANCE_KEY] == []
    assert [b for b in analyst.button if b.label == "Save alerts"] == []

    manager2 = _signed_in("manager2")  # another account: no banner
    assert not [e for e in errors(manager2) if e.startswith("Balance alert:")]


def test_switching_a_threshold_off_removes_the_banner(app_env: pytest.MonkeyPatch) -> None:
    manager = _signed_in("manager")
    manager.number_input(key=BALANCE_KEY).set_value(HUGE)
    save(manager)
    assert [e for e in errors(manager) if e.startswith("Balance alert:")]
    manager.number_input(key=BALANCE_KEY).set_value(None)
    save(manager)
    assert not [e for e in errors(manager) if e.startswith("Balance alert:")]


def test_admin_sees_a_webhook_that_is_down(app_env: pytest.MonkeyPatch) -> None:
    app = open_app_db(os.environ["ANALYTICS_APP_DB"])
    at = datetime.fromisoformat("2026-11-29T09:30:00+08:00")
    receiver = "wecom:qyapi.weixin.qq.com:0123456789"
    (event,) = app.alerts.record_changes([Change("acct-001", "balance", "firing", 5.0, 10.0, {})], [receiver], at)
    app.alerts.record_delivery(event, receiver, False, 3, "URLError: [Errno 111] Connection refused", at)
    app.close()
    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    assert not admin.exception, admin.exception
    assert errors(admin) == [
        f"{fmt.plain(receiver)}: the last delivery failed at Nov 29, 2026 09:30 (Asia/Shanghai) "
        f"({fmt.plain('URLError: [Errno 111] Connection refused')}); 1 notification(s) wait for the next run."
    ]


def test_a_receivers_error_text_is_shown_as_plain_text(app_env: pytest.MonkeyPatch) -> None:
    """A refusal's errmsg with a Markdown link, image, HTML...: shown literally, never a link or an image to fetch."""
    app = open_app_db(os.environ["ANALYTICS_APP_DB"])
    at = datetime.fromisoformat("2026-11-29T09:30:00+08:00")
    receiver = "dingtalk:oapi.dingtalk.com:0123456789"
    errmsg = f"dingtalk refused the message: 1 {HOSTILE}"
    (event,) = app.alerts.record_changes([Change("acct-001", "balance", "firing", 5.0, 10.0, {})], [receiver], at)
    app.alerts.record_delivery(event, receiver, False, 1, errmsg, at)
    app.close()
    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    assert not admin.exception, admin.exception
    (shown,) = [e for e in errors(admin) if e.startswith("dingtalk")]
    assert fmt.plain(errmsg) in shown
    assert unescaped_markup(admin) == []  # no element of the page carries the errmsg's markup live


def test_self_hosted_admin_sets_the_usage_multiple_on_admin(
    app_env: pytest.MonkeyPatch, sample_dir: Path, tmp_path: Path
) -> None:
    app_env.setenv("ANALYTICS_MODE", "self-hosted")
    # the expected spike, from the engine on its own copy of the cache
    with Store.open(
        load_settings({"ANALYTICS_DATA_DIR": str(sample_dir), "ANALYTICS_APP_DB": str(tmp_path / "e" / "app.duckdb")})
    ) as store:
        today = datetime.fromisoformat(SAMPLE_NOW).date()
        # acct-003: in the sample its today (to 10:00) is above a tenth of its usual day (acct-001's is below)
        days = explore.daily_tokens(store, "acct-003", today - timedelta(days=30), today)
    k = 0.1  # the form's minimum
    expected = alerts.spike_condition("acct-003", days[:-1], days[-1], k)
    assert expected.firing and expected.detail["median"] > 0

    manager = _signed_in("manager")  # /analysis keeps only the usage card: no form
    assert [b for b in manager.button if b.label == "Save alerts"] == []
    admin = _signed_in("admin")
    admin.sidebar.selectbox(key="nav_account").select("acct-003").run()  # the form sets the account chosen
    admin.switch_page("app_pages/admin.py").run()
    assert [n for n in admin.number_input if n.key == BALANCE_KEY] == []  # no balance self-hosted
    admin.number_input(key="admin_alerts_multiple").set_value(k)
    save(admin)
    assert "Alert thresholds saved." in [s.value for s in admin.success]
    admin.switch_page("app_pages/analysis.py").run()
    banners = [e for e in errors(admin) if e.startswith("Usage alert:")]
    assert banners == [
        f"Usage alert: today's {expected.detail['today']:,} tokens are above 0.1 × the 30-day median "
        f"({round(expected.detail['median']):,} a day)."
    ]

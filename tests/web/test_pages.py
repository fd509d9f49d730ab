"""The Analytics Center page in-process (AppTest): the figures shown are the engine's, per role and mode."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from tests.apptest import DEMO_PASSWORDS, _app, _sign_in, _signed_in
from tests.builders import SAMPLE_NOW
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
from token_analytics.strings import t
from token_analytics.web import fmt


def engine_figures(sample_dir: Path, tmp_path: Path, account: str, mode: str = "saas") -> dict:
    """The figures the page must show, computed by the engine on its own copy of the cache."""
    settings = load_settings(
        {"ANALYTICS_DATA_DIR": str(sample_dir), "ANALYTICS_APP_DB": str(tmp_path / "engine" / "app.duckdb")}
    )
    with Store.open(settings) as store:
        return analysis_figures(store, account, datetime.fromisoformat(SAMPLE_NOW), mode).to_json()


def metrics(at) -> dict[str, object]:  # noqa: ANN001 - AppTest
    return {m.label: m for m in at.metric}


def test_manager_sees_the_engine_figures(app_env: pytest.MonkeyPatch, sample_dir: Path, tmp_path: Path) -> None:
    expected = engine_figures(sample_dir, tmp_path, "acct-001")
    at = _signed_in("manager")
    shown = metrics(at)
    cards = expected["cards"]
    assert shown["Token Balance"].value == fmt.compact(cards["balance"]["tokens"])
    captions = [c.value for c in at.caption]
    assert f"{fmt.tokens(cards['balance']['tokens'])} tokens · all time" in captions  # exact under the card
    assert shown["Today's Usage"].value == fmt.compact(cards["today"]["tokens"])
    assert (
        f"{fmt.tokens(cards['today']['tokens'])} tokens · today, {fmt.day(date(2026, 11, 29))} (Asia/Shanghai)"
        in captions
    )
    assert (
        f"{fmt.tokens(cards['month']['tokens'])} tokens · this month, {fmt.month(date(2026, 11, 1))} (Asia/Shanghai)"
        in captions
    )
    assert f"{fmt.tokens(cards['service_calls'])} calls · all time" in captions
    assert shown["Monthly Usage"].value == fmt.compact(cards["month"]["tokens"])
    assert shown["Service Usage"].value == f"{fmt.compact(cards['service_calls'])} calls"
    # the Today card's arrow: today so far against yesterday up to the same time (SPEC §9)
    so_far = expected["today_so_far"]
    today_delta, _ = fmt.growth_label(so_far["growth_pct"], so_far["previous"], so_far["tokens"], "day")
    assert shown["Today's Usage"].delta == today_delta
    assert f"Owner: {cards['balance']['owner_name']}" in captions
    usage = expected["token_usage"]
    assert f"{fmt.tokens(usage['used'])} of {fmt.tokens(usage['total'])} tokens used" in [m.value for m in at.markdown]
    assert any(c.startswith(f"Data as of {fmt.day(date(2026, 11, 29))}") and "(Asia/Shanghai)" in c for c in captions)
    # the leaderboard and recent transactions tables hold the engine's rows
    board, recent = at.dataframe[-1].value, at.dataframe[-2].value
    assert board["tokens"].tolist() == [r["tokens"] for r in expected["leaderboard"]]
    assert board["display_name"].tolist() == [r["display_name"] for r in expected["leaderboard"]]
    assert len(recent) == len(expected["recent_transactions"]) == 10
    services = at.dataframe[0].value
    assert services["tokens"].tolist() == [s["tokens"] for s in expected["services"]]
    assert services["calls"].tolist() == [s["calls"] for s in expected["services"]]


@pytest.mark.parametrize(
    ("button", "title"),
    [
        ("Recharge Tokens", "Recharge"),
        ("View All", "Token History"),
    ],
)
def test_buttons_lead_to_their_pages(app_env: pytest.MonkeyPatch, button: str, title: str) -> None:
    at = _signed_in("manager")
    next(b for b in at.button if b.label == button).click().run()
    assert not at.exception
    assert at.title[0].value == title


def test_analyst_gets_no_buying_buttons(app_env: pytest.MonkeyPatch) -> None:
    at = _signed_in("analyst")
    labels = {b.label for b in at.button}
    assert "View All" in labels
    assert not labels & {"Recharge Tokens", "Upgrade to Pro", "Contact for Enterprise"}
    assert "Token Balance" in metrics(at)


def test_the_sidebar_names_the_account(app_env: pytest.MonkeyPatch) -> None:
    """The account is named as "Lingxi Technology (acct-001)", not a bare id."""
    at = _signed_in("manager")
    assert "Account: Lingxi Technology \\(acct\\-001\\)" in [c.value for c in at.sidebar.caption]
    admin = _signed_in("admin")
    switcher = admin.sidebar.selectbox(key="nav_account")
    assert switcher.value == "acct-001"
    assert switcher.format_func("acct-003") == "Northwind Labs (acct-003)"
    assert switcher.options[:2] == ["Lingxi Technology (acct-001)", "Beacon Studio (acct-002)"]


@pytest.mark.parametrize(("page", "intro"), [("analysis", "analysis.account"), ("token_history", "history.intro")])
def test_the_page_header_names_the_account(app_env: pytest.MonkeyPatch, page: str, intro: str) -> None:
    """/analysis and /token-history say whose data they show, with the name, under the title."""
    at = _signed_in("manager2")
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    header = at.main.caption[0].value
    assert header == t(intro, account="Beacon Studio \\(acct\\-002\\)", zone="Asia/Shanghai")
    assert "Beacon Studio" in header


def test_the_admins_account_is_in_the_url(app_env: pytest.MonkeyPatch, sample_dir: Path, tmp_path: Path) -> None:
    """?account=acct-004 opens that account for an admin (a reload, a shared link) and follows the switcher."""
    expected = engine_figures(sample_dir, tmp_path, "acct-004")
    at = _app()
    at.query_params["account"] = "acct-004"  # the link the admin opened, signed out
    _sign_in(at, "admin", DEMO_PASSWORDS["admin"]).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="nav_account").value == "acct-004"
    assert f"{fmt.tokens(expected['cards']['balance']['tokens'])} tokens · all time" in [c.value for c in at.caption]
    assert at.query_params["account"] == "acct-004"
    at.sidebar.selectbox(key="nav_account").select("acct-002").run()
    assert at.query_params["account"] == "acct-002"


def test_an_unknown_account_in_the_url_shows_the_admins_own(app_env: pytest.MonkeyPatch) -> None:
    at = _app()
    at.query_params["account"] = "acct-999"
    _sign_in(at, "admin", DEMO_PASSWORDS["admin"]).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="nav_account").value == "acct-001"
    assert at.query_params["account"] == "acct-001"
    assert [w.value for w in at.sidebar.warning] == [t("sidebar.unknown_account", account="acct\\-999")]


def test_the_url_parameter_is_ignored_for_a_manager(
    app_env: pytest.MonkeyPatch, sample_dir: Path, tmp_path: Path
) -> None:
    """A manager of acct-001 with ?account=acct-002 sees acct-001, and nothing of acct-002 is shown."""
    own = engine_figures(sample_dir, tmp_path, "acct-001")
    other = engine_figures(sample_dir, tmp_path, "acct-002")
    at = _app()
    at.query_params["account"] = "acct-002"
    _sign_in(at, "manager", DEMO_PASSWORDS["manager"]).run()
    assert not at.exception
    assert f"{fmt.tokens(own['cards']['balance']['tokens'])} tokens · all time" in [c.value for c in at.caption]
    shown = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.metric])
    assert other["cards"]["balance"]["owner_name"] not in shown
    assert "Beacon Studio" not in shown and "acct-002" not in shown
    assert [box.key for box in at.sidebar.selectbox] == ["nav_language"]  # no account switcher


def test_manager2_sees_only_acct_002(app_env: pytest.MonkeyPatch, sample_dir: Path, tmp_path: Path) -> None:
    own = engine_figures(sample_dir, tmp_path, "acct-002")
    other = engine_figures(sample_dir, tmp_path, "acct-001")
    at = _signed_in("manager2")
    at.query_params["account"] = "acct-001"
    at.session_state["nav_account"] = "acct-001"
    at.run()
    captions = [c.value for c in at.caption]
    assert f"{fmt.tokens(own['cards']['balance']['tokens'])} tokens · all time" in captions
    assert f"{fmt.tokens(other['cards']['balance']['tokens'])} tokens · all time" not in captions
    assert f"Owner: {own['cards']['balance']['owner_name']}" in [c.value for c in at.caption]


def test_admin_switches_to_another_account(app_env: pytest.MonkeyPatch, sample_dir: Path, tmp_path: Path) -> None:
    expected = engine_figures(sample_dir, tmp_path, "acct-003")
    at = _signed_in("admin")
    at.sidebar.selectbox(key="nav_account").select("acct-003").run()
    captions = [c.value for c in at.caption]
    assert f"{fmt.tokens(expected['cards']['balance']['tokens'])} tokens · all time" in captions
    month = fmt.month(date(2026, 11, 1))
    assert (
        f"{fmt.tokens(expected['cards']['month']['tokens'])} tokens · this month, {month} (Asia/Shanghai)" in captions
    )


def test_self_hosted_shows_only_the_token_usage_card(
    app_env: pytest.MonkeyPatch, sample_dir: Path, tmp_path: Path
) -> None:
    app_env.setenv("ANALYTICS_MODE", "self-hosted")
    expected = engine_figures(sample_dir, tmp_path, "acct-001", mode="self-hosted")
    at = _signed_in("manager")
    assert not at.exception
    assert [s.value for s in at.subheader] == ["Enterprise Privileges"]
    shown = metrics(at)
    assert set(shown) == {"Total", "Used"}
    assert shown["Total"].value == "Unlimited"
    assert f"{fmt.tokens(expected['token_usage']['used'])} tokens · all time" in [c.value for c in at.caption]
    assert not at.main.button and not at.dataframe  # the sidebar keeps only "Sign out"

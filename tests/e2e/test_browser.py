"""What a person sees in a real browser (SPEC §4, §5): sign-in, the cards, the buttons, the routes, scoping.

Every figure is compared with `python -m token_analytics report` on the same export (see
conftest.sample), never with a number written into the test.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.support import (
    ACCOUNTS,
    PASSWORDS,
    Sample,
    Server,
    fill_sign_in,
    main_area,
    sign_in,
    sign_in_form,
)
from token_analytics.strings import t
from token_analytics.web import fmt

pytestmark = pytest.mark.e2e

CARD_TITLES = {key: t(f"card.{key}") for key in ("balance", "today", "month", "services")}
# Everything of /analysis that SaaS has and self-hosted must not show (SPEC §5).
SAAS_ONLY_TEXTS = [
    t("button.recharge"),
    t("button.upgrade_pro"),
    t("button.contact_enterprise"),
    t("button.view_all"),
    *CARD_TITLES.values(),
    t("section.comparison"),
    t("section.services"),
    t("section.recent"),
    t("section.leaderboard"),
]


# --- reading the page -------------------------------------------------------------------------


def card(page: Page, title: str) -> Locator:
    """The st.metric whose label is exactly `title`."""
    label = page.locator('[data-testid="stMetricLabel"]').filter(has_text=re.compile(f"^{re.escape(title)}$"))
    return main_area(page).locator('[data-testid="stMetric"]').filter(has=label)


def expect_tokens(page: Page, metric: Locator, value: int, unit: str = "") -> None:
    """The metric shows `value` exactly or in compact form (then `unit`), and its card's caption the exact value."""
    exact, short = f"{value:,}", fmt.compact(value)
    shown = metric.locator('[data-testid="stMetricValue"]')
    expect(shown).to_have_text(re.compile(f"^({re.escape(exact)}|{re.escape(short)}){re.escape(unit)}$"))
    captions = main_area(page).locator('[data-testid="stCaptionContainer"]')
    expect(captions.filter(has_text=re.compile(f"^{re.escape(exact)} (tokens|calls) · ")).first).to_be_visible()


def expected_delta(figure: dict[str, Any], period: str) -> tuple[str, str]:
    """SPEC §4 growth as text and arrow: ("-26.8%", "down"), ("Same as yesterday", "none"), ("new", "up")."""
    current, previous = figure["tokens"], figure["previous"]
    if current == previous:
        return t("growth.same_day" if period == "day" else "growth.same_month"), "none"
    if previous == 0:
        return t("growth.new"), "up"
    return f"{figure['growth_pct']:+.1f}%", "up" if current > previous else "down"


def expect_delta(metric: Locator, figure: dict[str, Any], period: str) -> None:
    text, arrow = expected_delta(figure, period)
    delta = metric.locator('[data-testid="stMetricDelta"]')
    expect(delta).to_have_text(text)
    if arrow == "none":
        expect(delta.locator('[data-testid^="stMetricDeltaIcon"]')).to_have_count(0)
        return
    expect(delta.locator(f'[data-testid="stMetricDeltaIcon-{arrow.title()}"]')).to_have_count(1)
    red, green, _ = map(int, re.findall(r"\d+", delta.evaluate("e => getComputedStyle(e).color"))[:3])
    assert (green > red) if arrow == "up" else (red > green), f"{arrow} arrow drawn in rgb({red}, {green}, ...)"


def expect_cards(page: Page, report: dict[str, Any]) -> None:
    """The four billing cards of /analysis equal the report's `cards`."""
    cards = report["cards"]
    balance = card(page, CARD_TITLES["balance"])
    expect_tokens(page, balance, cards["balance"]["tokens"])
    expect(main_area(page)).to_contain_text(t("card.owner", name=cards["balance"]["owner_name"]))
    # the arrows compare like for like (SPEC §9): today so far, and month to date
    for key, period, compared in (("today", "day", "today_so_far"), ("month", "month", "month_to_date")):
        metric = card(page, CARD_TITLES[key])
        expect_tokens(page, metric, cards[key]["tokens"])
        expect_delta(metric, report[compared], period)
    expect_tokens(page, card(page, CARD_TITLES["services"]), cards["service_calls"], unit=" calls")


def expect_token_usage(page: Page, usage: dict[str, Any]) -> None:
    """The Token Usage card: used of total, exact, and the percent used with one decimal."""
    body = main_area(page)
    expect(body).to_contain_text(t("usage.used_of_total", used=f"{usage['used']:,}", total=f"{usage['total']:,}"))
    expect(body).to_contain_text(t("usage.percent_used", percent=f"{usage['percent_used']:.1f}%"))


def button(page: Page, name: str) -> Locator:
    return main_area(page).get_by_role("button", name=name, exact=True)


def expect_not_served(page: Page, server: Server, route: str) -> None:
    """`route` is not registered: the app's own "page not found" page (SPEC §5: not found), then its way back."""
    page.goto(f"{server.url}/{route}")
    expect(main_area(page).get_by_role("heading", name=t("error.not_found"), exact=True)).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    main_area(page).get_by_role("link", name=t("error.no_access_back")).click()
    # An admin's landing URL names the account they see: /analysis?account=acct-001.
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/analysis(\?account=[\w-]+)?$"))


def expect_nested_not_served(page: Page, server: Server, route: str) -> None:
    """A nested `route` (a/b) is not registered: Streamlit says so in its dialog and runs the landing page.

    The app's own "page not found" page cannot take it: a page's url_path is one segment.
    """
    page.goto(f"{server.url}/{route}")
    # An admin's landing URL names the account they see: /analysis?account=acct-001.
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/analysis(\?account=[\w-]+)?$"))
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(re.compile("page not found", re.IGNORECASE))
    page.keyboard.press("Escape")  # the dialog makes the page inert until it is closed
    expect(dialog).to_have_count(0)


def expect_signed_out(page: Page) -> None:
    """Only the sign-in form: no navigation, no page content."""
    expect(sign_in_form(page)).to_be_visible()
    expect(page.locator('[data-testid="stSidebarNav"]')).to_have_count(0)
    expect(main_area(page).locator('[data-testid="stMetric"]')).to_have_count(0)
    for title in ("page.analysis", "page.token_history", "page.recharge", "page.subscription", "page.admin"):
        expect(main_area(page).get_by_role("heading", name=t(title), exact=True)).to_have_count(0)


# --- SaaS ---------------------------------------------------------------------------------------


def expect_account_shown(page: Page, account: str, switcher: bool = False) -> None:
    """The sidebar names the account with its id: a caption for managers and analysts, the switcher for admins."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    label = re.compile(rf"^.+ \({re.escape(account)}\)$")  # "Account name (acct-001)"
    if switcher:
        expect(sidebar.get_by_role("combobox", name=t("sidebar.account"))).to_have_value(label)
    else:
        caption = t("sidebar.account_value", account=f"{label.pattern[1:-1]}")
        expect(sidebar).to_contain_text(re.compile(caption))


@pytest.mark.parametrize("username", ["admin", "manager", "analyst", "manager2", "manager3"])
def test_each_role_sees_its_accounts_cards(page: Page, saas: Server, sample: Sample, username: str) -> None:
    report = sample.report(ACCOUNTS[username])
    sign_in(page, saas, username)
    expect_account_shown(page, ACCOUNTS[username], switcher=username == "admin")
    expect_token_usage(page, report["token_usage"])
    expect_cards(page, report)
    buyer = username != "analyst"
    expect(button(page, t("button.recharge"))).to_have_count(1 if buyer else 0)
    # only the next plan up is offered: free -> Upgrade to Pro, pro -> Contact for Enterprise
    plan = exported_plan(sample, ACCOUNTS[username])
    offer = {"free": "button.upgrade_pro", "pro": "button.contact_enterprise"}.get(plan)
    for name in ("button.upgrade_pro", "button.contact_enterprise"):
        expect(button(page, t(name))).to_have_count(1 if buyer and name == offer else 0)
    expect(button(page, t("button.view_all"))).to_have_count(1)
    for section in ("section.comparison", "section.services", "section.recent", "section.leaderboard"):
        expect(main_area(page).get_by_role("heading", name=t(section))).to_be_visible()


def exported_plan(sample: Sample, account: str) -> str:
    """The account's plan in the sample's accounts export (no app orders change it in these tests)."""
    rows = pq.read_table(sample.data_dir / "accounts").to_pylist()
    return next(row["plan"] for row in rows if row["account_id"] == account)


def test_buttons_lead_to_their_routes(page: Page, saas: Server, sample: Sample) -> None:
    """SPEC §5: Recharge Tokens -> /recharge; the plan offer (Pro: Contact for Enterprise) -> /subscription."""
    assert exported_plan(sample, ACCOUNTS["manager2"]) == "pro"
    sign_in(page, saas, "manager2")
    for label, route, title in [
        ("button.recharge", "recharge", "page.recharge"),
        ("button.contact_enterprise", "subscription", "page.subscription"),
    ]:
        if not page.url.endswith("/analysis"):
            page.go_back()
            expect(page).to_have_url(f"{saas.url}/analysis")
        button(page, t(label)).click()
        expect(page).to_have_url(f"{saas.url}/{route}")
        expect(main_area(page).get_by_role("heading", name=t(title), exact=True)).to_be_visible()


def expect_ledger_net(page: Page, remaining: int) -> None:
    """The ledger reconciles: the net of the unfiltered /token-history equals the balance."""
    net = card(page, t("history.net")).locator('[data-testid="stMetricValue"]')
    expect(net).to_have_text(f"{remaining:+,}" if remaining else "0")


def expect_no_access(page: Page, server: Server, route: str) -> None:
    """A signed-in person is told they have no access (not "page not found"), with a link back."""
    page.goto(f"{server.url}/{route}")
    expect(main_area(page)).to_contain_text(t("error.no_access"))
    expect(page).to_have_url(f"{server.url}/{route}")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(main_area(page).locator('[data-testid="stMetric"]')).to_have_count(0)
    main_area(page).get_by_role("link", name=t("error.no_access_back")).click()
    expect(page).to_have_url(f"{server.url}/analysis")
    expect(card(page, CARD_TITLES["balance"])).to_be_visible()


def test_analyst_routes(page: Page, saas: Server, sample: Sample) -> None:
    """An analyst: buying and admin routes say "no access"; View All -> /token-history, which survives a reload."""
    sign_in(page, saas, "analyst")
    for route in ("recharge", "subscription", "admin"):
        expect_no_access(page, saas, route)
        for title in ("page.recharge", "page.subscription", "page.admin"):
            expect(main_area(page).get_by_role("heading", name=t(title), exact=True)).to_have_count(0)
            expect(page.locator('[data-testid="stSidebarNav"]')).not_to_contain_text(t(title))
    button(page, t("button.view_all")).click()
    expect(page).to_have_url(f"{saas.url}/token-history")
    for _ in range(2):
        page.reload()
        heading = main_area(page).get_by_role("heading", name=t("page.token_history"), exact=True)
        expect(heading).to_be_visible()
        expect(page).to_have_url(f"{saas.url}/token-history")
    expect_ledger_net(page, sample.report("acct-001")["token_usage"]["remaining"])


def test_nested_paths_are_unknown_routes(page: Page, saas: Server) -> None:
    """/analysis/acct-001 was a blank white page (its scripts resolved under /analysis/)."""
    sign_in(page, saas, "manager")
    for route in ("analysis/acct-001", "token-history/2026/11", "no-such/page"):
        expect_nested_not_served(page, saas, route)
        expect(card(page, CARD_TITLES["balance"])).to_be_visible()


def test_a_manager_cannot_reach_another_account(page: Page, saas: Server, sample: Sample) -> None:
    """manager2 (acct-002) asks for acct-001 by URL: still acct-002's figures, nothing of acct-001."""
    mine, theirs = sample.report("acct-002"), sample.report("acct-001")
    sign_in(page, saas, "manager2")
    # The names a URL could try: a generic one and the router's own session-state keys (ui.SWITCHER_KEY, ...).
    for query in ("account=acct-001&account_id=acct-001", "nav_account=acct-001&nav_account_choice=acct-001"):
        page.goto(f"{saas.url}/analysis?{query}")
        expect_tokens(page, card(page, CARD_TITLES["balance"]), mine["cards"]["balance"]["tokens"])
        expect_token_usage(page, mine["token_usage"])
        body = main_area(page)
        expect(body).to_contain_text(t("card.owner", name=mine["cards"]["balance"]["owner_name"]))
        expect(body).not_to_contain_text(t("card.owner", name=theirs["cards"]["balance"]["owner_name"]))
        expect(body).not_to_contain_text(f"{theirs['token_usage']['total']:,}")
        expect_account_shown(page, "acct-002")
    page.goto(f"{saas.url}/token-history?account=acct-001&nav_account=acct-001")
    expect(main_area(page).get_by_role("heading", name=t("page.token_history"), exact=True)).to_be_visible()
    expect_ledger_net(page, mine["token_usage"]["remaining"])
    expect_account_shown(page, "acct-002")


def test_admin_switches_account(page: Page, saas: Server, sample: Sample) -> None:
    """The admin's account switcher is the one way to another account's figures (SPEC §5)."""
    sign_in(page, saas, "admin")
    expect_cards(page, sample.report("acct-001"))
    # By its label: the sidebar also holds the language switch.
    page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name=t("sidebar.account")).click()
    page.get_by_role("option", name=re.compile(r" \(acct-002\)$")).click()
    expect_account_shown(page, "acct-002", switcher=True)
    expect_cards(page, sample.report("acct-002"))
    # The choice is in the URL, so a reload (or the link, shared) keeps it.
    expect(page).to_have_url(f"{saas.url}/analysis?account=acct-002")
    page.reload()
    expect_account_shown(page, "acct-002", switcher=True)
    expect_cards(page, sample.report("acct-002"))


def test_a_wrong_password_is_refused(page: Page, saas: Server) -> None:
    page.goto(saas.url)
    for username, password in [("manager", "wrong-password"), ("manager", PASSWORDS["manager2"])]:
        fill_sign_in(page, username, password)
        expect(main_area(page)).to_contain_text(t("login.failed"))
        expect_signed_out(page)
    page.wait_for_timeout(500)  # give a wrongly accepted sign-in the time to show itself
    page.reload()
    expect_signed_out(page)


def test_signed_out_visits_show_only_the_sign_in_form(page: Page, saas: Server) -> None:
    for route in ("recharge", "token-history", "analysis", "subscription", "admin"):
        page.goto(f"{saas.url}/{route}")
        expect_signed_out(page)
        expect(page).to_have_url(f"{saas.url}/{route}")  # the deep link is kept for after the sign-in


def test_sign_out_ends_the_session(page: Page, saas: Server) -> None:
    sign_in(page, saas, "manager")
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name=t("sidebar.logout")).click()
    expect_signed_out(page)
    page.reload()
    expect_signed_out(page)


# --- self-hosted -----------------------------------------------------------------------------------


def test_self_hosted_shows_only_the_token_usage_card(page: Page, self_hosted: Server, sample: Sample) -> None:
    used = sample.report("acct-001", "self-hosted")["token_usage"]
    assert used["unlimited"] is True
    sign_in(page, self_hosted, "manager")
    body = main_area(page)
    expect(body.get_by_role("heading", name=t("section.enterprise"))).to_be_visible()
    expect(body).to_contain_text(t("usage.unlimited"))
    expect_tokens(page, card(page, t("usage.used")), used["used"])
    for text in SAAS_ONLY_TEXTS:
        expect(body.get_by_text(text, exact=True)).to_have_count(0)
    nav = page.locator('[data-testid="stSidebarNav"]')
    expect(nav).not_to_contain_text(t("page.recharge"))
    expect(nav).not_to_contain_text(t("page.subscription"))


def test_self_hosted_does_not_serve_saas_routes(page: Page, self_hosted: Server) -> None:
    """SPEC §5: a SaaS-only route is not served (here: back to /analysis), never shown."""
    sign_in(page, self_hosted, "admin")
    for route, title in (("recharge", "page.recharge"), ("subscription", "page.subscription")):
        expect_not_served(page, self_hosted, route)
        expect(main_area(page).get_by_role("heading", name=t("section.enterprise"))).to_be_visible()
        expect(main_area(page).get_by_role("heading", name=t(title), exact=True)).to_have_count(0)
        for text in ("method.WECHAT", "method.ALIPAY", "method.BANK_TRANSFER", "button.upgrade_pro"):
            expect(main_area(page).get_by_text(t(text))).to_have_count(0)

"""/token-history in Chromium: what a person sees of the filters, the period and page boxes and the ledger.

The grid draws its cells on a canvas, so the column widths are asserted in-process
(tests/web/test_history_page.py); here the browser proves the boxes and the table's height, and the
screenshots in test-artifacts/ show the signed amounts whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import (
    ARTIFACTS,
    NOW,
    Sample,
    Server,
    fill_sign_in,
    main_area,
    settle,
    start_server,
    stop_server,
)
from token_analytics.appdb import open_app_db
from token_analytics.strings import t

ROW_PX = 35  # the grid's row (and header) height
NOT_CLIPPED = "e => ({scroll: e.scrollWidth, client: e.clientWidth, text: e.textContent || e.value})"


@pytest.fixture(scope="module")
def big_recharge(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A SaaS server whose app database already holds a paid recharge of 100,000,000 tokens for acct-001."""
    root = tmp_path_factory.mktemp("server-history")
    app = open_app_db(root / "app.duckdb")  # before the server holds the file
    try:
        now = datetime.fromisoformat(NOW)
        order = app.create_order("acct-001", "manager", "recharge", 100_000_000, 1000, "BANK_TRANSFER", now=now)
        app.mark_paid(order.order_id, "sandbox", now=now)
    finally:
        app.close()
    server = start_server("saas", sample, root)
    try:
        yield server
    finally:
        stop_server(server)


def open_history(page: Page, server: Server, username: str, password: str) -> None:
    """A deep link to /token-history, signed out: sign in and stay on the page."""
    page.goto(f"{server.url}/token-history")
    fill_sign_in(page, username, password)
    expect(page).to_have_url(re.compile(r"/token-history(\?.*)?$"))
    expect(main_area(page).get_by_role("heading", name=t("page.token_history"), exact=True)).to_be_visible()


def test_a_deep_link_and_its_reload_show_all_members_and_all_methods(page: Page, big_recharge: Server) -> None:
    open_history(page, big_recharge, "analyst", "analyst-demo")
    main = main_area(page)
    for _ in range(2):  # signed in on the deep link, then a reload of it (signed in by the cookie)
        member = main.get_by_role("combobox", name=t("history.filter_member"))
        expect(member).to_have_value(t("history.any_member"))
        method = main.get_by_role("combobox", name=t("history.filter_method"))
        expect(method).to_have_value(t("history.any_method"))
        expect(main.locator('[data-testid="stDataFrame"]').first).to_be_visible()
        page.wait_for_timeout(1500)  # the cookie component's rerun has come and gone
        expect(member).to_have_value(t("history.any_member"))
        page.reload()


def test_the_ledger_shows_its_whole_page_of_rows(page: Page, big_recharge: Server) -> None:
    open_history(page, big_recharge, "analyst", "analyst-demo")
    grid = main_area(page).locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    box = grid.bounding_box()
    assert box and box["height"] >= 51 * ROW_PX, box  # 50 rows and the header
    scroller = grid.locator(".dvn-scroller").first
    heights = scroller.evaluate("e => [e.scrollHeight, e.clientHeight]")
    assert heights[0] <= heights[1] + 1, heights  # no scroll box inside the page


def test_the_period_and_page_boxes_show_what_they_hold(page: Page, big_recharge: Server) -> None:
    open_history(page, big_recharge, "analyst", "analyst-demo")
    main = main_area(page)
    number = main.locator('[data-testid="stNumberInput"] input')
    expect(number).to_have_count(1)
    all_time_pages = number.get_attribute("max")  # November holds fewer pages than all time
    page.get_by_role("spinbutton", name=f"year, {t('history.filter_period')} start date").click()
    page.keyboard.type("20261101")
    page.get_by_role("spinbutton", name=f"year, {t('history.filter_period')} end date").click()
    page.keyboard.type("20261130")
    page.keyboard.press("Escape")
    fields = main.locator('[data-testid="stDateInputFieldsScroller"]')
    expect(fields).to_contain_text("2026-11-30")
    period = fields.evaluate(NOT_CLIPPED)
    assert period["scroll"] <= period["client"], period  # both dates, nothing scrolled out of sight

    expect(number.and_(page.locator(f':not([max="{all_time_pages}"])'))).to_have_count(1, timeout=20_000)
    settle(page)  # the all-time pager lingers while the period's rerun runs
    expect(number).to_have_count(1)
    number.fill("12345")
    shown = number.evaluate(NOT_CLIPPED)
    assert shown["scroll"] <= shown["client"], shown
    number.fill("1")
    number.press("Enter")  # the autouse fixture leaves the page in test-artifacts/


def test_self_hosted_history_says_not_billed(page: Page, self_hosted: Server) -> None:
    open_history(page, self_hosted, "admin", "admin-demo")
    main = main_area(page)
    expect(main.get_by_text(t("history.not_billed"))).to_be_visible()
    expect(main.get_by_text(t("history.filter_method"), exact=True)).to_have_count(0)
    expect(main.locator('[data-testid="stDataFrame"]').first).to_be_visible()


def test_recent_transactions_use_the_same_sized_table(page: Page, big_recharge: Server) -> None:
    """/analysis draws its 10 latest entries with the same widths; the screenshot shows +100,000,000 whole."""
    open_history(page, big_recharge, "manager", "manager-demo")
    page.goto(f"{big_recharge.url}/analysis")
    main = main_area(page)
    expect(main.get_by_role("heading", name=t("section.recent"))).to_be_visible()
    recent = main.locator('[data-testid="stDataFrame"]').nth(1)
    expect(recent).to_be_visible()
    recent.scroll_into_view_if_needed()
    recent.screenshot(path=str(ARTIFACTS / "history-analysis-recent.png"))
    assert Path(ARTIFACTS / "history-analysis-recent.png").stat().st_size > 0

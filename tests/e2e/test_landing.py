"""Where a person lands: after signing out (the sign-in page at "/", no sidebar), and on a path the app has no page
for (the app's own "page not found" page, in the session's language, not Streamlit's English dialog)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.support import WAIT_MS, Server, fill_sign_in, main_area, sign_in, sign_in_form
from token_analytics.strings import language, t

pytestmark = pytest.mark.e2e


def test_sign_out_lands_on_the_sign_in_page_at_the_root(page: Page, saas: Server) -> None:
    sign_in(page, saas, "admin")
    page.goto(f"{saas.url}/admin?account=acct-002")
    expect(main_area(page).get_by_role("heading", name=t("page.admin"), exact=True)).to_be_visible()
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name=t("sidebar.logout")).click()
    expect(sign_in_form(page)).to_be_visible()
    expect(page).to_have_url(f"{saas.url}/")  # no page, no ?account=
    expect(page.get_by_text(t("login.signed_out"))).to_be_visible()
    # no sidebar at all: not the navigation, not an empty grey panel
    expect(page.locator('[data-testid="stSidebar"]')).to_be_hidden()
    expect(page.locator('[data-testid="stSidebarCollapsedControl"]')).to_be_hidden()
    expect(page.locator('[data-testid="stSidebarNav"]')).to_have_count(0)


def expect_app_not_found(page: Page, path: str) -> None:
    body = main_area(page)
    expect(body.get_by_role("heading", name=t("error.not_found"), exact=True)).to_be_visible()
    expect(body).to_contain_text(t("error.not_found_hint", path=path).replace("\\", ""))
    expect(page.get_by_role("dialog")).to_have_count(0)  # not Streamlit's own "Page not found" dialog


def test_an_unknown_path_gets_the_apps_own_page_not_found(page: Page, saas: Server) -> None:
    sign_in(page, saas, "manager")
    page.goto(f"{saas.url}/no-such-page")
    expect_app_not_found(page, "no-such-page")
    expect(page).to_have_url(f"{saas.url}/no-such-page")
    expect(page.locator('[data-testid="stSidebarNav"]')).to_be_visible()  # signed in: the way around is there
    main_area(page).get_by_role("link", name=t("error.no_access_back")).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(saas.url)}/analysis(\?.*)?$"))
    expect(main_area(page).locator('[data-testid="stMetric"]').first).to_be_visible()


def test_an_unknown_path_signed_out_shows_only_the_sign_in_form(page: Page, saas: Server) -> None:
    page.goto(f"{saas.url}/no-such-page")
    expect(sign_in_form(page)).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)  # no English dialog over the form either
    fill_sign_in(page, "analyst", "analyst-demo")
    expect(page).to_have_url(re.compile(rf"^{re.escape(saas.url)}/analysis(\?.*)?$"))
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_page_not_found_speaks_the_sessions_language(
    browser: Browser, browser_context_args: dict[str, Any], saas: Server
) -> None:
    context = browser.new_context(**{**browser_context_args, "locale": "zh-CN"})
    try:
        tab = context.new_page()
        tab.set_default_timeout(WAIT_MS)
        with language("zh"):
            sign_in(tab, saas, "analyst")
            tab.goto(f"{saas.url}/nope")
            expect_app_not_found(tab, "nope")
            expect(main_area(tab)).to_contain_text("页面不存在")
    finally:
        context.close()

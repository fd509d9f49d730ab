"""Sign-in that holds in a real browser: server-side sessions and clicks never lost.

* A copy of the session cookie taken before sign-out signs nobody in afterwards: sign-out ends
  the session on the server, not only the cookie in that browser.
* 30 sign-ins and sign-outs in a row while another process keeps a core busy: each takes one
  click (the helpers never click twice).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.support import Server, main_area, sign_in, sign_in_form, sign_out
from token_analytics.strings import t

pytestmark = pytest.mark.e2e

SIGNED_IN_AS = t("sidebar.signed_in_as", name="").replace("**", "").strip()
ROUNDS = 30


def expect_signed_out(page: Page) -> None:
    expect(sign_in_form(page)).to_be_visible()
    page.wait_for_timeout(1000)  # give a wrongly accepted cookie the time to show itself
    expect(sign_in_form(page)).to_be_visible()
    expect(page.locator('[data-testid="stSidebarNav"]')).to_have_count(0)
    expect(page.get_by_text(SIGNED_IN_AS)).to_have_count(0)


def test_a_cookie_copied_before_sign_out_does_not_sign_in(
    page: Page, saas: Server, browser: Browser, browser_context_args: dict[str, Any]
) -> None:
    sign_in(page, saas, "analyst")
    copied = page.context.cookies()
    assert copied, "signing in left no cookie"

    # The copy works while the session lives (so the check below is not vacuous)...
    before = browser.new_context(**browser_context_args)
    try:
        before.add_cookies(copied)
        other = before.new_page()
        other.goto(f"{saas.url}/analysis")
        expect(other.get_by_text(SIGNED_IN_AS)).to_be_visible()
    finally:
        before.close()

    sign_out(page)

    # ...and signs nobody in once the person has signed out.
    after = browser.new_context(**browser_context_args)
    try:
        after.add_cookies(copied)
        replay = after.new_page()
        replay.goto(f"{saas.url}/analysis")
        expect_signed_out(replay)
    finally:
        after.close()


@pytest.fixture
def busy_core() -> Iterator[None]:
    """Another process spinning on a core for the whole test: the server's reruns get slow."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait(timeout=10)


def test_thirty_sign_ins_and_outs_none_lost(page: Page, saas: Server, busy_core: None) -> None:
    for _ in range(ROUNDS):
        sign_in(page, saas, "manager")
        expect(main_area(page).get_by_role("heading", name=t("page.analysis"), exact=True)).to_be_visible()
        sign_out(page)


def test_the_sign_in_page_shows_only_the_form_while_it_loads_the_next_pages_code(page: Page, saas: Server) -> None:
    """The landing page's element kinds are drawn hidden under the form (their code loads while the person
    types): nothing of them may be seen or reached, and the chart and grid code is there before "Sign in"."""
    page.goto(saas.url + "/")
    form = sign_in_form(page)
    expect(form).to_be_visible()
    preload = page.locator(".st-key-login_preload")
    expect(preload.locator('[data-testid="stDataFrame"]')).to_have_count(1)  # drawn, so its code was loaded
    expect(preload).to_be_hidden()
    main = main_area(page)
    expect(main.get_by_role("textbox")).to_have_count(2)  # username and password, nothing hidden reachable
    expect(main.get_by_role("combobox")).to_have_count(0)
    expect(main.get_by_role("checkbox")).to_have_count(0)
    expect(main.get_by_role("spinbutton")).to_have_count(0)
    expect(main.locator('[data-testid="stVegaLiteChart"]:visible')).to_have_count(0)

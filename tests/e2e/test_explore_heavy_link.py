"""A link alone must not load the server for seconds: the heaviest view a URL can ask for, on a real server.

Ten years by day and member (5-24 s of server time per load before the bars were capped) is drawn by month
with the page's notice, in the browser's own websocket session; the granularity box offers only what fits.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import Server, main_area, settle, sign_in

pytestmark = pytest.mark.e2e

HEAVY = "/explore?period=custom&start=2016-11-30&end=2026-11-29&granularity=day&group=member&top=10"


def test_a_ten_year_daily_link_is_drawn_by_month_with_a_notice(page: Page, saas: Server) -> None:
    sign_in(page, saas, "analyst")
    page.goto(saas.url + HEAVY)
    body = main_area(page)
    expect(body).to_contain_text("A chart draws at most 370 bars")
    expect(body.get_by_role("combobox", name="Granularity")).to_have_value("Month")
    settle(page)
    assert "granularity=month" in page.url  # the link now says what is drawn
    assert not body.locator('[data-testid="stException"]').count()

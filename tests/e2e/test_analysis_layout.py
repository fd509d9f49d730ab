"""/analysis in Chromium as a person reads it: the overdrawn bar's colour, and cards whose numbers are whole.

The CSS that colours an overdrawn bar names Streamlit's own test ids, so only a browser proves it matches;
the card values are checked for clipping in both languages at 1280 and 1920 wide, and each run leaves
test-artifacts/analysis-layout-<lang>-<width>.png to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.support import (
    ARTIFACTS,
    NOW,
    PASSWORDS,
    Sample,
    Server,
    fill_sign_in,
    main_area,
    settle,
    start_server,
    stop_server,
)
from token_analytics.appdb import open_app_db
from token_analytics.strings import language, t

CLIPPED = "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"
WARNING_RGB = "rgb(220, 38, 38)"  # #dc2626


@pytest.fixture(scope="module")
def overdrawn(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A SaaS server whose acct-001 has been adjusted far below zero (an admin's adjustment in the app database)."""
    root = tmp_path_factory.mktemp("server-overdrawn")
    app = open_app_db(root / "app.duckdb")  # before the server holds the file
    try:
        app.post_adjustment(
            "acct-001", -10_000_000_000, "overdraw for the test", "admin", now=datetime.fromisoformat(NOW)
        )
    finally:
        app.close()
    server = start_server("saas", sample, root)
    try:
        yield server
    finally:
        stop_server(server)


def open_analysis(page: Page, server: Server, lang: str) -> None:
    page.goto(server.url + "/")
    with language(lang):
        fill_sign_in(page, "manager", PASSWORDS["manager"])
    expect(page).to_have_url(re.compile(r"/analysis(\?.*)?$"))
    expect(main_area(page).locator('[data-testid="stMetric"]')).to_have_count(4)
    settle(page, 1000)


@pytest.mark.parametrize(("lang", "locale"), [("en", "en-US"), ("zh", "zh-CN")])
def test_an_overdrawn_bar_is_red_and_no_card_value_is_cut(
    browser: Browser, overdrawn: Server, lang: str, locale: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale=locale)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        open_analysis(page, overdrawn, lang)
        fill = main_area(page).locator(".st-key-analysis_usage_overdrawn [data-testid='stProgressBarTrack'] > div")
        expect(fill).to_have_count(1)
        assert fill.evaluate("e => getComputedStyle(e).backgroundColor") == WARNING_RGB
        with language(lang):
            expect(main_area(page)).to_contain_text(t("card.overdrawn", tokens="X").split("X")[0].strip())
        for width in (1280, 1920):
            page.set_viewport_size({"width": width, "height": 1000})
            page.wait_for_timeout(500)
            values = main_area(page).locator('[data-testid="stMetricValue"], [data-testid="stMetricDelta"]')
            assert values.evaluate_all(CLIPPED) == [], f"{lang} at {width}"
            height = int(page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"))
            page.set_viewport_size({"width": width, "height": min(height, 8000)})
            page.wait_for_timeout(800)
            page.screenshot(path=str(ARTIFACTS / f"analysis-layout-{lang}-{width}.png"))
    finally:
        context.close()

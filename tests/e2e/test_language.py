"""A browser that asks for Chinese gets the dashboard in 简体中文: `st.context.locale` in a real Chromium.

Nothing is stored here (no switch is touched), so the other browser tests' users keep English.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.support import WAIT_MS, Sample, Server, main_area, sign_in
from token_analytics.strings import language, t
from token_analytics.web import fmt

pytestmark = pytest.mark.e2e


def test_a_chinese_browser_gets_the_chinese_dashboard(
    browser: Browser, browser_context_args: dict[str, Any], saas: Server, sample: Sample, artifacts: Path
) -> None:
    context = browser.new_context(**{**browser_context_args, "locale": "zh-CN"})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        with language("zh"):  # the helpers find the form and sidebar by their Chinese labels
            sign_in(page, saas, "analyst")
            body = main_area(page)
            expect(body.get_by_role("heading", name="分析中心", exact=True)).to_be_visible()
            cards = sample.report("acct-001")["cards"]
            balance = body.locator('[data-testid="stMetric"]').filter(has_text=t("card.balance"))
            expect(balance).to_contain_text(fmt.compact(cards["balance"]["tokens"], "zh"))
            expect(body).to_contain_text(t("card.owner", name=cards["balance"]["owner_name"]))
            expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("退出登录")
            expect(body).not_to_contain_text(t("card.balance", "en"))
            # this context's page, not the `page` fixture the autouse screenshot takes; boxes instead of
            # characters here mean no CJK font (make test installs fonts-noto-cjk when fc-list finds none)
            page.screenshot(path=str(artifacts / "zh-CN_analysis.png"))
    finally:
        context.close()

"""/explore in a real browser: an analyst groups last month by member, drills into a member,
downloads the CSV, reloads, and sees the same view.

The expected table is computed by the engine on its own copy of the cache (the server holds its own).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import ARTIFACTS, NOW, SETTLED, Sample, Server, main_area, sign_in
from token_analytics.engine import explore as ex
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
from token_analytics.strings import t

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def last_month(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ex.Explore]:
    """What the engine says /explore shows for acct-001, last month, grouped by member."""
    root = tmp_path_factory.mktemp("explore-engine")
    settings = load_settings({"ANALYTICS_DATA_DIR": str(sample.data_dir), "ANALYTICS_APP_DB": str(root / "app.db")})
    store = Store.open(settings)
    today = datetime.fromisoformat(NOW).astimezone(settings.zone).date()
    yield ex.explore(store, "acct-001", ex.View(period="last_month", group="member"), today)
    store.close()


def idle(page: Page, quiet_ms: int = 500) -> None:
    """Wait until the script has stopped running for a moment (a click during a rerun can be lost)."""
    page.evaluate("() => { delete window.__e2eBusyAt; }")
    page.wait_for_function(SETTLED, arg=quiet_ms, polling=50)


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the main area's selectbox labelled `label`."""
    idle(page)
    box = main_area(page).get_by_role("combobox", name=label, exact=True)
    # no_wait_after: the page rewrites its query parameters on every run, which Playwright counts as a
    # navigation it would otherwise wait for
    box.click(no_wait_after=True)
    page.get_by_role("option", name=option, exact=True).click(no_wait_after=True)
    expect(box).to_have_value(option)
    idle(page)


def test_analyst_groups_last_month_by_member_drills_downloads_and_reloads(
    page: Page, saas: Server, last_month: ex.Explore, tmp_path: Path
) -> None:
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    sign_in(page, saas, "analyst")
    # a loaded machine (several servers and test runs on 2 cores) needs longer than one page's default
    page.set_default_timeout(45_000)
    expect.set_options(timeout=45_000)
    page.goto(f"{saas.url}/explore")
    body = main_area(page)
    expect(body.get_by_role("heading", name=t("page.explore"), exact=True)).to_be_visible()
    choose(page, t("explore.period"), t("explore.period.last_month"))
    choose(page, t("explore.group"), t("explore.group.member"))
    expect(page).to_have_url(re.compile(r"period=last_month.*group=member|group=member.*period=last_month"))
    total = f"{last_month.total:,}"
    expect(body).to_contain_text(total)

    # select the first member row: the row marker is the grid's first column (a canvas, so by position)
    grid = body.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    first = last_month.table.iloc[0]
    idle(page)
    # the header row, then the middle of the first row, in the row-marker column
    grid.click(position={"x": 18, "y": 35 + 17}, no_wait_after=True)
    drill = t("explore.drill", name=first["label"])
    expect(body.get_by_role("heading", name=drill)).to_be_visible()
    idle(page)
    page.screenshot(path=str(ARTIFACTS / "explore_drill_down.png"), full_page=True)
    # the view's chart and the member's two are drawn by Vega: Plotly's 4.7 MB bundle is never fetched
    expect(body.locator('[data-testid="stVegaLiteChart"]')).to_have_count(3)
    assert [url for url in fetched if "plotly" in url.lower()] == []

    with page.expect_download() as download_info:
        body.get_by_role("button", name=t("explore.download")).click(no_wait_after=True)
    saved = tmp_path / "explore.csv"
    download_info.value.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["group", "key", "tokens", "share_pct", "previous", "change", "change_pct"]
    assert [(r[1], int(r[2]), int(r[4])) for r in rows[1:]] == [
        ("" if r.is_other else r.key, int(r.value), int(r.previous)) for r in last_month.table.itertuples()
    ]

    page.reload()
    idle(page)
    expect(body.get_by_role("heading", name=t("page.explore"), exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/explore\?"))
    expect(body.get_by_role("combobox", name=t("explore.period"), exact=True)).to_have_value(
        t("explore.period.last_month")
    )
    expect(body.get_by_role("combobox", name=t("explore.group"), exact=True)).to_have_value(t("explore.group.member"))
    expect(body).to_contain_text(total)


FIRST, LAST = "2026-11-02", "2026-11-15"


@pytest.fixture(scope="module")
def custom_acct_003(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ex.Explore]:
    """What /explore shows for acct-003, 2-15 Nov 2026, grouped by member."""
    root = tmp_path_factory.mktemp("explore-custom")
    settings = load_settings({"ANALYTICS_DATA_DIR": str(sample.data_dir), "ANALYTICS_APP_DB": str(root / "app.db")})
    store = Store.open(settings)
    view = ex.View(
        period="custom",
        start=datetime.fromisoformat(FIRST).date(),
        end=datetime.fromisoformat(LAST).date(),
        group="member",
    )
    yield ex.explore(store, "acct-003", view, datetime.fromisoformat(NOW).astimezone(settings.zone))
    store.close()


def summary_text(page: Page) -> str:
    """The sentence under the controls with the period's total (plain DOM text, unlike the grid's canvas)."""
    line = main_area(page).locator('[data-testid="stMarkdown"]').filter(has_text=re.compile(r"^Tokens, "))
    expect(line).to_have_count(1)
    return line.inner_text()


def test_admins_custom_view_of_another_account_survives_reload_and_a_new_browser(
    page: Page, saas: Server, custom_acct_003: ex.Explore, browser: Any
) -> None:
    page.set_default_timeout(45_000)
    expect.set_options(timeout=45_000)
    sign_in(page, saas, "admin")
    page.goto(f"{saas.url}/explore")
    body = main_area(page)
    expect(body.get_by_role("heading", name=t("page.explore"), exact=True)).to_be_visible()
    idle(page)
    # the sidebar's account switcher: acct-003
    switcher = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name=t("sidebar.account"), exact=True)
    switcher.click(no_wait_after=True)
    page.get_by_role("option", name=re.compile(r"\(acct-003\)$")).click(no_wait_after=True)
    idle(page)
    expect(page).to_have_url(re.compile(r"account=acct-003"))
    choose(page, t("explore.period"), t("explore.period.custom"))
    # the range picker is react-aria's date field: a spin button per year, month and day of each end
    for end, day in (("start", FIRST), ("end", LAST)):
        year = body.get_by_role("spinbutton", name=f"year, {t('explore.custom_range')} {end} date")
        year.click(no_wait_after=True)
        page.keyboard.type(day.replace("-", ""), delay=40)
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")  # the calendar pop-up would cover the controls below it
    idle(page)
    choose(page, t("explore.group"), t("explore.group.member"))
    expect(page).to_have_url(re.compile(rf"start={FIRST}.*end={LAST}"))
    total = f"**{custom_acct_003.total:,}**".replace("**", "")
    expect(body).to_contain_text(f"Tokens, Nov 2, 2026 to Nov 15, 2026 (14 days): {total}")
    shown = summary_text(page)
    link = page.url
    assert "account=acct-003" in link and "group=member" in link

    page.reload()
    idle(page)
    expect(page).to_have_url(re.compile(r"account=acct-003"))
    assert summary_text(page) == shown
    expect(body).to_contain_text("(acct-003)")

    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US")
    try:
        other = context.new_page()
        other.set_default_timeout(45_000)
        sign_in(other, saas, "admin")
        other.goto(link)
        idle(other)
        expect(main_area(other).get_by_role("heading", name=t("page.explore"), exact=True)).to_be_visible()
        expect(other).to_have_url(re.compile(r"account=acct-003"))
        assert summary_text(other) == shown
        expect(main_area(other)).to_contain_text("(acct-003)")
    finally:
        context.close()


def test_manager2s_foreign_account_link_shows_their_own_with_a_notice(page: Page, saas: Server) -> None:
    page.set_default_timeout(45_000)
    expect.set_options(timeout=45_000)
    sign_in(page, saas, "manager2")
    page.goto(f"{saas.url}/explore?account=acct-001&period=last_month")
    body = main_area(page)
    expect(body.get_by_role("heading", name=t("page.explore"), exact=True)).to_be_visible()
    expect(body).to_contain_text("There is no account acct-001; showing your own account instead.")
    expect(page).to_have_url(re.compile(r"account=acct-002"))
    expect(body).to_contain_text("(acct-002)")
    expect(body).not_to_contain_text("(acct-001)")

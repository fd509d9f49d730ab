"""/explore in a real browser (issue 10): an analyst groups last month by member, drills into a member,
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

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import ARTIFACTS, NOW, SETTLED, Sample, Server, main_area, sign_in
from token_analytics.engine import explore as ex
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
from token_analytics.web.i18n import t

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

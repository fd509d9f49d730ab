"""No markup from data, in a real browser: with Markdown and HTML in every name of the
export, no page makes the browser fetch 127.0.0.1:9 and the names read as the literal text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.support import Sample, Server, main_area, sign_in, start_server, stop_server
from tests.web.test_markup import HOSTILE, write_hostile_export
from token_analytics.web.fmt import WORD_JOINER

TRAP = re.compile(r"^https?://127\.0\.0\.1:9(/|$)")
PAGES = ["/analysis", "/token-history", "/recharge", "/subscription", "/admin"]


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("hostile-server")
    data_dir = write_hostile_export(root / "export")
    server = start_server("saas", Sample(data_dir=data_dir, reports={}), root)
    try:
        yield server
    finally:
        stop_server(server)


def test_names_from_the_export_fetch_nothing_and_read_as_text(hostile_server: Server, page: Page) -> None:
    fetched: list[str] = []

    def watch(request: Request) -> None:
        if TRAP.match(request.url):
            fetched.append(request.url)

    page.on("request", watch)
    sign_in(page, hostile_server, "admin")
    for path in PAGES:
        page.goto(hostile_server.url + path)
        expect(page.locator('[data-testid="stMain"] h1').first).to_be_visible()
        page.wait_for_timeout(500)  # let images and charts ask for what they would
    page.goto(hostile_server.url + "/analysis")
    # the owner's name reads as typed, shortcodes and LaTeX included (the word joiners are invisible)
    owner = main_area(page).locator('[data-testid="stCaptionContainer"]').filter(has_text="Owner")
    expect(owner.first).to_be_visible()
    assert HOSTILE in owner.first.inner_text().replace(WORD_JOINER, "")
    assert fetched == []
    # the markup arrived as characters: no image, link or coloured text was made of it
    main = main_area(page)
    expect(main.locator('img[src^="http://127.0.0.1:9"]')).to_have_count(0)
    expect(main.locator('a[href^="http://127.0.0.1:9"]')).to_have_count(0)

"""Browser tests: a real `streamlit run` on a free port, driven by Playwright and Debian's chromium.

One session makes a small sample export, computes the expected figures with the CLI's
`report` (before any server holds a DuckDB file), then starts one server per mode on
demand. Every test opens a new tab with no cookies and leaves a screenshot in
test-artifacts/. Helpers the tests import live in support.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.support import (
    ARTIFACTS,
    CHROMIUM,
    NOW,
    WAIT_MS,
    Sample,
    Server,
    clean_env,
    finish_cli,
    run_cli,
    start_cli,
    start_server,
    stop_server,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ is a browser test (`-m "not e2e"` skips the layer)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """Debian's chromium, never a downloaded one (FIELD-NOTES: launch flags measured here)."""
    if not Path(CHROMIUM).is_file():
        message = f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium) or set E2E_CHROMIUM."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {
        "executable_path": CHROMIUM,
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1440, "height": 1000}, "locale": "en-US"}


@pytest.fixture(scope="session")
def shared_context(browser: Browser, browser_context_args: dict[str, Any]) -> Iterator[BrowserContext]:
    """One browser context for the session: its HTTP cache spares every test the app's scripts (~2 s)."""
    context = browser.new_context(**browser_context_args)
    yield context
    context.close()


@pytest.fixture
def page(shared_context: BrowserContext) -> Iterator[Page]:
    """A new tab with no cookies, so no sign-in carries over from another test."""
    shared_context.clear_cookies()
    tab = shared_context.new_page()
    tab.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    yield tab
    tab.close()


@pytest.fixture(scope="session", autouse=True)
def artifacts() -> Path:
    """test-artifacts/ (git-ignored) holds this run's screenshots and server logs only."""
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.log")]:
        stale.unlink()
    return ARTIFACTS


# Streamlit scrolls inside its main container, so a "full page" screenshot is one viewport:
# grow the viewport to the content first.
CONTENT_HEIGHT = """() => Math.max(...['stMain', 'stSidebarContent']
    .map(id => document.querySelector(`[data-testid="${id}"]`)?.scrollHeight ?? 0))"""


@pytest.fixture(autouse=True)
def screenshot(request: pytest.FixtureRequest, page: Page, artifacts: Path) -> Iterator[None]:
    """Leave what the browser showed at the end of every test in test-artifacts/<test>.png."""
    yield
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")[:120]
    try:
        page.mouse.move(0, 0)  # no tooltip left over from hovering a card
        height = int(page.evaluate(CONTENT_HEIGHT))
        size = page.viewport_size or {"width": 1440, "height": 1000}
        if height > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": min(height, 8000)})
            page.wait_for_timeout(300)  # let the charts re-lay out
        page.screenshot(path=str(artifacts / f"{name}.png"), timeout=10_000)
    except Exception as exc:  # a screenshot must never hide the test's own result
        print(f"screenshot of {name} failed: {exc}", file=sys.stderr)


# --- the data and the expected figures --------------------------------------------------------


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """A small generated export and the CLI's figures for it, computed before any server starts.

    `report` gets its own ANALYTICS_APP_DB: DuckDB lets one process hold a file. A fresh app
    database gives the same figures as the servers' as long as no test places an order.
    """
    root = tmp_path_factory.mktemp("e2e")
    data_dir = root / "data"
    env = clean_env()
    run_cli(
        ["generate", "--out", str(data_dir), "--accounts", "4", "--events", "5000", "--seed", "3", "--now", NOW],
        env,
    )
    runs = {}
    reports = [("acct-001", "saas"), ("acct-002", "saas"), ("acct-003", "saas"), ("acct-001", "self-hosted")]
    for account, mode in reports:
        # One app database each: DuckDB lets one process hold a file, and the four run at once.
        report_env = env | {
            "ANALYTICS_DATA_DIR": str(data_dir),
            "ANALYTICS_APP_DB": str(root / f"report-{account}-{mode}" / "app.duckdb"),
        }
        runs[(account, mode)] = start_cli(["report", "--account", account, "--as-of", NOW, "--mode", mode], report_env)
    reports = {key: json.loads(finish_cli(run)) for key, run in runs.items()}
    return Sample(data_dir=data_dir, reports=reports)


# --- the servers ------------------------------------------------------------------------------


def _serve(mode: str, sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(mode, sample, tmp_path_factory.mktemp(f"server-{mode}"))
    try:
        yield server
    finally:
        stop_server(server)
        if ARTIFACTS.is_dir():
            shutil.copyfile(server.log, ARTIFACTS / f"server-{mode}.log")


@pytest.fixture(scope="session")
def saas(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _serve("saas", sample, tmp_path_factory)


@pytest.fixture(scope="session")
def self_hosted(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _serve("self-hosted", sample, tmp_path_factory)

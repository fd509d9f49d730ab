"""What the browser tests share: the demo users, the sample export, the servers, and how a person signs in.

The fixtures are in conftest.py; this module holds plain functions and types so the tests can
import them.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from token_analytics.strings import t

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
NOW = "2026-11-29T10:00:00+08:00"
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
START_TIMEOUT_S = 60.0
# What one assertion waits for: the first page load of a server also ingests the export.
WAIT_MS = 20_000

# The demo users of auth/demo_users.yaml; documented as demo users in the README.
PASSWORDS = {
    "admin": "admin-demo",
    "manager": "manager-demo",
    "analyst": "analyst-demo",
    "manager2": "manager2-demo",
    "manager3": "manager3-demo",
}
ACCOUNTS = {
    "admin": "acct-001",
    "manager": "acct-001",
    "analyst": "acct-001",
    "manager2": "acct-002",
    "manager3": "acct-003",  # the sample's Free account
}


# --- the sample export and the CLI ------------------------------------------------------------


def start_cli(args: list[str], env: dict[str, str]) -> tuple[list[str], subprocess.Popen[str]]:
    command = [sys.executable, "-m", "token_analytics", *args]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return args, process


def finish_cli(run: tuple[list[str], subprocess.Popen[str]]) -> str:
    args, process = run
    out, err = process.communicate(timeout=120)
    if process.returncode:
        raise RuntimeError(f"python -m token_analytics {' '.join(args)} failed:\n{err[-2000:]}")
    return out


def run_cli(args: list[str], env: dict[str, str]) -> str:
    return finish_cli(start_cli(args, env))


def clean_env() -> dict[str, str]:
    """The environment without any ANALYTICS_* setting of the person running the tests."""
    return {key: value for key, value in os.environ.items() if not key.startswith("ANALYTICS_")}


@dataclass(frozen=True)
class Sample:
    data_dir: Path
    reports: dict[tuple[str, str], dict[str, Any]]  # (account, mode) -> `report` JSON

    def report(self, account: str, mode: str = "saas") -> dict[str, Any]:
        return self.reports[(account, mode)]


# --- the servers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Server:
    mode: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def start_server(mode: str, sample: Sample, root: Path, extra_env: dict[str, str] | None = None) -> Server:
    """`streamlit run serve.py` (as `make run`) with the FIELD-NOTES flags; a busy port (exit 1) gets another try."""
    env = (
        clean_env()
        | {
            "ANALYTICS_MODE": mode,
            "ANALYTICS_DATA_DIR": str(sample.data_dir),
            "ANALYTICS_APP_DB": str(root / "app.duckdb"),
            "ANALYTICS_NOW": NOW,
            "ANALYTICS_COOKIE_KEY": secrets.token_hex(32),
        }
        | (extra_env or {})
    )
    last_error = ""
    for attempt in range(3):
        port = _free_port()
        log = root / f"streamlit-{attempt}.log"
        command = [
            sys.executable, "-m", "streamlit", "run", "serve.py",
            "--server.headless", "true",
            "--server.address", "127.0.0.1",
            "--server.port", str(port),
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ]  # fmt: skip
        with log.open("wb") as handle:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        server = Server(mode=mode, url=f"http://127.0.0.1:{port}", process=process, log=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if _healthy(server.url):
                return server
            time.sleep(0.2)
        last_error = server.log_tail()
        stop_server(server)
    raise RuntimeError(f"streamlit ({mode}) did not become healthy:\n{last_error}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


# --- what a person does -----------------------------------------------------------------------


def main_area(page: Page) -> Locator:
    """The page body, without the sidebar (its navigation names every page)."""
    return page.locator('[data-testid="stMain"]')


def sign_in_form(page: Page) -> Locator:
    return page.locator('[data-testid="stForm"]').filter(has=page.get_by_role("textbox", name=t("login.password")))


# True once Streamlit's script has been idle for `quiet` ms (the data-test-* attributes are
# what Streamlit's own e2e tests wait on). For tests that need a settled page (screenshots,
# reading a table); signing in and out never waits for it: a person does not either.
SETTLED = """(quiet) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const idle = app?.dataset.testScriptState === 'notRunning' && app?.dataset.testConnectionState === 'CONNECTED';
    const now = performance.now();
    if (!idle || window.__e2eBusyAt === undefined) { window.__e2eBusyAt = now; return false; }
    return now - window.__e2eBusyAt >= quiet;
}"""


def settle(page: Page, quiet_ms: int = 500) -> None:
    """Wait until the app has stopped running for a moment."""
    page.evaluate("() => { delete window.__e2eBusyAt; }")
    page.wait_for_function(SETTLED, arg=quiet_ms, polling=50)


def fill_sign_in(page: Page, username: str, password: str) -> None:
    """Type into the sign-in form as soon as it shows, and submit once."""
    form = sign_in_form(page)
    expect(form).to_be_visible()
    form.get_by_role("textbox", name=t("login.username"), exact=True).fill(username)
    form.get_by_role("textbox", name=t("login.password"), exact=True).fill(password)
    form.get_by_role("button", name=t("login.submit")).click()


def sign_in(page: Page, server: Server, username: str, path: str = "/") -> None:
    """Open `path` signed out, sign in as a demo user and wait for the Analytics Center."""
    page.goto(server.url + path)
    fill_sign_in(page, username, PASSWORDS[username])
    expect(page).to_have_url(re.compile(r"/analysis(\?.*)?$"))
    expect(page.get_by_text(t("sidebar.signed_in_as", name="").replace("**", "").strip())).to_be_visible()
    expect(page.locator('[data-testid="stSidebarNav"]')).to_be_visible()


def sign_out(page: Page) -> None:
    """Click "Sign out" in the sidebar once and wait for the sign-in form."""
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name=t("sidebar.logout")).click()
    expect(sign_in_form(page)).to_be_visible()

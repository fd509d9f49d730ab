"""Driving the whole app in-process with streamlit.testing (AppTest): environment and sign-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.builders import SAMPLE_NOW
from token_analytics.web import auth

ROOT = Path(__file__).resolve().parent.parent
KEY = "test-cookie-key-" + "x" * 48
DEMO_PASSWORDS = {
    "admin": "admin-demo",
    "manager": "manager-demo",
    "analyst": "analyst-demo",
    "manager2": "manager2-demo",
    "manager3": "manager3-demo",
}


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_dir: Path) -> pytest.MonkeyPatch:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(sample_dir))
    monkeypatch.setenv("ANALYTICS_NOW", SAMPLE_NOW)
    monkeypatch.setenv("ANALYTICS_APP_DB", str(tmp_path / "app.duckdb"))
    monkeypatch.setenv("ANALYTICS_COOKIE_KEY", KEY)
    monkeypatch.setenv("ANALYTICS_MODE", "saas")
    monkeypatch.delenv("ANALYTICS_AUTH_FILE", raising=False)
    monkeypatch.setattr(auth, "_request_cookie", lambda name: None)  # AppTest has no browser cookies
    return monkeypatch


def _app() -> AppTest:
    return AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30)


def _sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.run()
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click()
    at.run()
    return at


def _signed_in(username: str) -> AppTest:
    at = _sign_in(_app(), username, DEMO_PASSWORDS[username])
    at.run()  # in a browser the cookie iframe triggers this rerun
    assert not at.exception
    return at

"""Driving the whole app in-process with streamlit.testing (AppTest): environment and sign-in."""

from __future__ import annotations

import shutil
from pathlib import Path

import bcrypt
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from tests.builders import SAMPLE_NOW
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
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


@pytest.fixture(scope="session")
def demo_auth_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """auth/demo_users.yaml with the same users and passwords hashed at bcrypt's lowest cost.

    The shipped hashes cost 2^12 rounds, a good part of a second per sign-in on a busy machine,
    and nearly every page test signs in; tests/test_docs.py checks the shipped file itself.
    """
    config = yaml.safe_load((ROOT / "auth" / "demo_users.yaml").read_text(encoding="utf-8"))
    for username, user in config["credentials"]["usernames"].items():
        user["password"] = bcrypt.hashpw(DEMO_PASSWORDS[username].encode(), bcrypt.gensalt(rounds=4)).decode()
    path = tmp_path_factory.mktemp("auth") / "demo_users.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sample_cache(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """The sample's ingested cache file, built once; each page test starts from a copy (its own app database)."""
    tmp = tmp_path_factory.mktemp("cache")
    env = {
        "ANALYTICS_DATA_DIR": str(sample_dir),
        "ANALYTICS_NOW": SAMPLE_NOW,
        "ANALYTICS_APP_DB": str(tmp / "app.duckdb"),
    }
    with Store.open(load_settings(env)) as store:
        return store.settings.cache_db


@pytest.fixture
def app_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_dir: Path, sample_cache: Path, demo_auth_file: Path
) -> pytest.MonkeyPatch:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(sample_dir))
    monkeypatch.setenv("ANALYTICS_NOW", SAMPLE_NOW)
    monkeypatch.setenv("ANALYTICS_APP_DB", str(tmp_path / "app.duckdb"))
    # The cache beside the app database, already up to date with the sample: the store finds every
    # file unchanged instead of reading the sample again (a test that moves the clock or the zone
    # still gets the refresh it causes).
    shutil.copyfile(sample_cache, tmp_path / sample_cache.name)
    monkeypatch.delenv("ANALYTICS_CACHE_DB", raising=False)
    monkeypatch.setenv("ANALYTICS_COOKIE_KEY", KEY)
    monkeypatch.setenv("ANALYTICS_MODE", "saas")
    monkeypatch.setenv("ANALYTICS_AUTH_FILE", str(demo_auth_file))
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

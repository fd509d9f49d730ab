"""`python -m token_analytics users unlock NAME`: the way back for a paused admin, with or without the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.builders import run_command as cli
from token_analytics import service
from token_analytics.accounts.audit import AuditLog
from token_analytics.accounts.throttle import Policy, Throttle
from token_analytics.appdb import open_app_db
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def lock_admin(throttle: Throttle) -> datetime:
    """Ten failures from each of two addresses, just now: 'admin' is paused at both."""
    now = datetime.now(tz=UTC) - timedelta(seconds=5)
    for address in ("203.0.113.1", "203.0.113.2"):
        for _ in range(10):
            throttle.failed("admin", address, now)
    assert not throttle.check("admin", "203.0.113.1", now + timedelta(seconds=1)).allowed
    return now


def unlocks(throttle: Throttle) -> list[tuple[str, str]]:
    rows = AuditLog(throttle.connection).entries(action="throttle.unlock")
    return list(zip(rows["actor"], rows["target"], strict=True))


def test_unlock_with_the_dashboard_stopped(tmp_path: Path) -> None:
    env = {"ANALYTICS_APP_DB": str(tmp_path / "app.duckdb"), "ANALYTICS_CACHE_DB": str(tmp_path / "cache.duckdb")}
    app = open_app_db(tmp_path / "app.duckdb")
    lock_admin(Throttle(app.connection, Policy()))
    app.close()
    done = cli("users", "unlock", " Admin", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "unlocked admin: its failed sign-ins no longer count, from any address."
    app = open_app_db(tmp_path / "app.duckdb")
    try:
        throttle = Throttle(app.connection, Policy())
        now = datetime.now(tz=UTC)
        assert throttle.check("admin", "203.0.113.1", now).allowed
        assert throttle.check("admin", "203.0.113.2", now).allowed
        [(actor, target)] = unlocks(throttle)
        assert actor.endswith("(command line)") and target == "username admin"
    finally:
        app.close()


def test_unlock_while_the_dashboard_holds_the_app_database(tmp_path: Path) -> None:
    env = {
        "ANALYTICS_APP_DB": str(tmp_path / "app.duckdb"),
        "ANALYTICS_CACHE_DB": str(tmp_path / "cache.duckdb"),
        "ANALYTICS_DATA_DIR": str(tmp_path / "no-export"),
    }
    settings = load_settings(env)
    store = Store.open(settings, ingest=False)  # the "dashboard"
    answering = service.start(store)
    assert answering is not None
    try:
        throttle = Throttle(store.cursor(), Policy())
        lock_admin(throttle)
        done = cli("users", "unlock", "admin", env=env)
        assert done.returncode == 0, done.stderr
        assert throttle.check("admin", "203.0.113.1", datetime.now(tz=UTC)).allowed
        assert [target for _, target in unlocks(throttle)] == ["username admin"]
    finally:
        answering.close()
        store.close()


def test_an_empty_name_is_one_line(tmp_path: Path) -> None:
    done = cli("users", "unlock", "  ", env={"ANALYTICS_APP_DB": str(tmp_path / "app.duckdb")})
    assert done.returncode == 2
    assert done.stderr.strip() == "error: give the username to unlock, e.g. `users unlock admin`."

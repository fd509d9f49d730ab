"""`python -m token_analytics users add / passwd / unlock`: the users file written with bcrypt hashes, and the way
back for a paused admin, with or without the dashboard."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import pytest

from tests.builders import run_command as cli
from token_analytics import cli as cli_module
from token_analytics import service
from token_analytics.accounts import users
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


# --- users add / users passwd ---------------------------------------------------------------------

DEMO_FILE = ROOT / "auth" / "demo_users.yaml"


def password_of(path: Path, username: str) -> bytes:
    return users.load_auth(path).credentials["usernames"][username]["password"].encode()


def test_add_then_passwd_from_the_command_line(tmp_path: Path) -> None:
    env = {"ANALYTICS_AUTH_FILE": str(tmp_path / "etc" / "users.yaml")}
    done = cli(
        "users", "add", "Li.Wei", "--account", "acct-007", "--role", "manager", "--full-name", "Li Wei",
        "--email", "li.wei@example.com", "--password-stdin", env=env, stdin="first pass 1\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = tmp_path / "etc" / "users.yaml"
    assert done.stdout.strip() == f"added li.wei (manager, acct-007) to {path}"
    assert path.stat().st_mode & 0o777 == 0o600  # it holds password hashes
    config = users.load_auth(path)
    assert config.users == {"li.wei": users.User("li.wei", "Li Wei", ("manager",), "acct-007", "li.wei@example.com")}
    assert bcrypt.checkpw(b"first pass 1", password_of(path, "li.wei"))
    assert (config.cookie_name, config.cookie_expiry_days) == ("tac_auth", 1.0)
    before = users.fingerprint(config, "li.wei")

    done = cli("users", "passwd", "LI.WEI", "--password-stdin", env=env, stdin="second pass 2\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"changed the password of li.wei in {path}; its open sessions end"
    assert bcrypt.checkpw(b"second pass 2", password_of(path, "li.wei"))
    assert not bcrypt.checkpw(b"first pass 1", password_of(path, "li.wei"))
    assert users.fingerprint(users.load_auth(path), "li.wei") != before  # what ends its sessions


def test_adding_to_a_file_keeps_its_users_and_its_opening_comments(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(DEMO_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    path.chmod(0o640)
    before = users.load_auth(path)
    added = users.add_user(path, "ops", account_id="acct-002", role="analyst", password="s3cret", rounds=4)
    after = users.load_auth(path)
    assert added == users.User("ops", "ops", ("analyst",), "acct-002")
    assert after.users == before.users | {"ops": added}
    assert {name: after.credentials["usernames"][name] for name in before.users} == before.credentials["usernames"]
    assert path.read_text(encoding="utf-8").startswith("# DEMO USERS for the generated sample data")
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["users.yaml"]  # no temporary file left behind


def test_passwd_changes_one_hash_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(DEMO_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    before = users.load_auth(path).credentials["usernames"]
    users.set_password(path, " Analyst", "a new one", rounds=4)
    after = users.load_auth(path).credentials["usernames"]
    assert bcrypt.checkpw(b"a new one", after["analyst"]["password"].encode())
    assert {k: v for k, v in after["analyst"].items() if k != "password"} == {
        k: v for k, v in before["analyst"].items() if k != "password"
    }
    assert {name: entry for name, entry in after.items() if name != "analyst"} == {
        name: entry for name, entry in before.items() if name != "analyst"
    }


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (lambda p: users.add_user(p, "admin", account_id="a", role="analyst", password="x"), "admin is already in"),
        (lambda p: users.add_user(p, "Ann Lee", account_id="a", role="analyst", password="x"), "is not a username"),
        (lambda p: users.add_user(p, "ann", account_id="a", role="owner", password="x"), "'owner' is not a role"),
        (lambda p: users.add_user(p, "ann", account_id=" ", role="analyst", password="x"), "--account"),
        (lambda p: users.add_user(p, "ann", account_id="a", role="analyst", password=""), "the password is empty"),
        (lambda p: users.add_user(p, "ann", account_id="a", role="analyst", password="é" * 37), "72 bytes"),
        (lambda p: users.set_password(p, "nobody", "x"), "'nobody' is not a user of"),
    ],
)
def test_a_refused_request_is_one_line_and_leaves_the_file_alone(tmp_path: Path, request_, message: str) -> None:  # noqa: ANN001
    path = tmp_path / "users.yaml"
    path.write_text(DEMO_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(users.UsersFileError) as caught:
        request_(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert path.read_text(encoding="utf-8") == DEMO_FILE.read_text(encoding="utf-8")


def test_the_command_line_refuses_in_one_line(tmp_path: Path) -> None:
    env = {"ANALYTICS_AUTH_FILE": str(tmp_path / "missing.yaml")}
    done = cli("users", "passwd", "admin", "--password-stdin", env=env, stdin="x\n")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: the users file {tmp_path / 'missing.yaml'} does not exist; add a user first with `users add`."
    )
    assert not (tmp_path / "missing.yaml").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("credentials: {usernames: {ann: {password: plain}}}\n")
    done = cli("users", "add", "bob", "--account", "a", "--role", "analyst", "--password-stdin",
               env={"ANALYTICS_AUTH_FILE": str(bad)}, stdin="x\n")  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "'ann'" in done.stderr
    assert bad.read_text() == "credentials: {usernames: {ann: {password: plain}}}\n"  # a broken file is not rewritten


def test_a_typed_password_is_asked_twice_and_must_match(monkeypatch: pytest.MonkeyPatch) -> None:
    typed = iter(["one password", "another"])
    monkeypatch.setattr(cli_module.getpass, "getpass", lambda prompt: next(typed))
    with pytest.raises(users.UsersFileError, match="the two passwords differ; nothing was changed"):
        cli_module.read_password(argparse.Namespace(password_stdin=False))
    typed = iter(["same one", "same one"])
    assert cli_module.read_password(argparse.Namespace(password_stdin=False)) == "same one"

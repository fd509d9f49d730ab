"""Sign-in throttling against an attacker: parallel guesses, lockouts of someone else, the client address.

In-process, on the real app database and the real sign-in function (`user_file.authenticate`); the
same attacks against a running server are in tests/e2e/test_signin_attacks.py.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import pytest
import yaml

from token_analytics.accounts import users as user_file
from token_analytics.accounts.audit import AuditLog
from token_analytics.accounts.sessions import Sessions
from token_analytics.accounts.throttle import Policy, Throttle
from token_analytics.appdb import AppDB
from token_analytics.settings import load_settings
from token_analytics.web import auth

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
PASSWORD = "right-password"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture
def config(tmp_path: Path) -> user_file.AuthConfig:
    users = {"admin": {"name": "Admin", "password": HASH, "roles": ["admin"], "account_id": "acct-001"}}
    path = tmp_path / "users.yaml"
    path.write_text(yaml.safe_dump({"credentials": {"usernames": users}}))
    return user_file.load_auth(path)


def attempt(
    config: user_file.AuthConfig, db: AppDB, throttle: Throttle, password: str, address: str | None, now: datetime
) -> user_file.Attempt:
    sessions = Sessions(db.connection, idle=timedelta(hours=8), lifetime=timedelta(days=1))
    return user_file.authenticate(config, sessions, throttle, "admin", password, address, None, now)


def parallel_guesses(
    config: user_file.AuthConfig, db: AppDB, throttle: Throttle, monkeypatch: pytest.MonkeyPatch, sessions: int
) -> int:
    """`sessions` threads released together, each one wrong guess at 'admin' from one address: bcrypt checks run."""
    checks = []
    real = user_file._password_matches

    def counted(password: str, hashed: bytes) -> bool:
        checks.append(password)
        return real(password, hashed)

    monkeypatch.setattr(user_file, "_password_matches", counted)
    barrier = threading.Barrier(sessions)
    errors: list[BaseException] = []

    def guess(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            attempt(config, db, throttle, f"guess-{index}", "203.0.113.7", T0 + timedelta(microseconds=index))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=guess, args=(index,)) for index in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return len(checks)


# --- parallel guesses -------------------------------------------------------------------------------


def test_thirty_parallel_guesses_check_only_the_three_free_ones(
    config: user_file.AuthConfig, db: AppDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttle = Throttle(db.connection, Policy())
    assert parallel_guesses(config, db, throttle, monkeypatch, 30) == 3


def test_a_parallel_burst_does_not_overrun_the_lock(
    config: user_file.AuthConfig, db: AppDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttle = Throttle(db.connection, Policy(delay=timedelta(0)))  # no delays: only the lock limits
    assert parallel_guesses(config, db, throttle, monkeypatch, 30) == 10
    verdict = throttle.check("admin", "203.0.113.7", T0 + timedelta(seconds=1))
    assert verdict.locked and not verdict.allowed


# --- nobody locks someone else out ------------------------------------------------------------------


def test_a_locked_address_does_not_lock_the_right_password_from_another(
    config: user_file.AuthConfig, db: AppDB
) -> None:
    throttle = Throttle(db.connection, Policy(delay=timedelta(0)))
    attacker, now = "203.0.113.66", T0
    for _ in range(10):
        assert attempt(config, db, throttle, "wrong", attacker, now).message == auth.t("login.failed")
        now += timedelta(seconds=1)
    refused = attempt(config, db, throttle, PASSWORD, attacker, now)  # the attacker's address is locked...
    assert refused.session_id is None and refused.message.startswith("Sign-in is paused")
    signed_in = attempt(config, db, throttle, PASSWORD, "198.51.100.2", now)  # ...the admin's is not
    assert signed_in.session_id is not None
    # And the admin signing in does not free the attacker.
    assert not throttle.check("admin", attacker, now + timedelta(seconds=1)).allowed


def test_many_addresses_slow_down_only_addresses_with_failures(config: user_file.AuthConfig, db: AppDB) -> None:
    throttle = Throttle(db.connection, Policy())
    now = T0
    for index in range(40):  # a spread attack: forty addresses, two guesses each
        for _ in range(2):
            attempt(config, db, throttle, "wrong", f"203.0.113.{index}", now)
            now += timedelta(seconds=2)
    # Every attacking address is now slowed down for the user (the user-wide count is high)...
    assert not throttle.check("admin", "203.0.113.39", now).allowed
    # ...the right password from an address without failures is checked at once, every time.
    assert attempt(config, db, throttle, PASSWORD, "198.51.100.2", now).session_id is not None
    # An address with one typo of its own waits at most the longest delay after it, however long the attack goes on.
    assert attempt(config, db, throttle, "typo", "198.51.100.3", now).message == auth.t("login.failed")
    later = now + throttle.policy.max_delay
    for index in range(40, 60):
        attempt(config, db, throttle, "wrong", f"203.0.113.{index}", later - timedelta(seconds=1))
    assert attempt(config, db, throttle, PASSWORD, "198.51.100.3", later).session_id is not None


def test_an_unlock_by_name_clears_every_address_and_is_audited(config: user_file.AuthConfig, db: AppDB) -> None:
    throttle = Throttle(db.connection, Policy(delay=timedelta(0)))
    for address in ("203.0.113.1", "203.0.113.2"):
        for _ in range(10):
            attempt(config, db, throttle, "wrong", address, T0)
    assert not throttle.check("admin", "203.0.113.1", T0).allowed
    throttle.unlock("username", "ADMIN ", "ops (command line)", T0 + timedelta(seconds=1))
    for address in ("203.0.113.1", "203.0.113.2"):
        assert throttle.check("admin", address, T0 + timedelta(seconds=2)).allowed
    rows = AuditLog(db.connection).entries(action="throttle.unlock")
    assert list(zip(rows["actor"], rows["target"], strict=True)) == [("ops (command line)", "username admin")]


# --- the client address -----------------------------------------------------------------------------


class Headers:
    """Streamlit's headers: case-insensitive, repeated lines kept in order; `get` gives the first."""

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        self.lines = lines

    def get_all(self, key: str) -> list[str]:
        return [value for name, value in self.lines if name.lower() == key.lower()]

    def get(self, key: str, default: str | None = None) -> str | None:
        values = self.get_all(key)
        return values[0] if values else default


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # HAProxy appends its own line: the client wrote the first, the proxy the last.
        ([("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.9")], "203.0.113.9"),
        ([("X-Forwarded-For", "6.6.6.6, 7.7.7.7"), ("x-forwarded-for", "10.1.1.1, 203.0.113.9")], "203.0.113.9"),
        ([("X-Forwarded-For", "6.6.6.6, ::ffff:192.0.2.2")], "192.0.2.2"),
        ([("X-Forwarded-For", "2001:DB8::0:1")], "2001:db8::1"),
        ([("X-Forwarded-For", " , ")], "127.0.0.1"),  # nothing usable: the socket's address
    ],
)
def test_the_right_most_entry_of_every_header_line(
    monkeypatch: pytest.MonkeyPatch, lines: list[tuple[str, str]], expected: str
) -> None:
    monkeypatch.setattr(auth, "_peer_address", lambda: "127.0.0.1")
    monkeypatch.setattr(auth.st, "context", type("Context", (), {"headers": Headers(lines)})())
    assert auth.client_address(load_settings({"ANALYTICS_TRUSTED_PROXY_HEADER": "X-Forwarded-For"})) == expected
    assert auth.client_address(load_settings({})) == "127.0.0.1"  # without the setting the header is ignored


@pytest.mark.parametrize(
    ("peer", "expected"), [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("::ffff:192.0.2.2", "192.0.2.2"), (None, None)]
)
def test_local_and_mapped_socket_addresses_are_kept(
    monkeypatch: pytest.MonkeyPatch, peer: str | None, expected: str | None
) -> None:
    monkeypatch.setattr(auth, "_peer_address", lambda: peer)
    monkeypatch.setattr(auth.st, "context", type("Context", (), {"headers": Headers([])})())
    assert auth.client_address(load_settings({})) == expected


def test_a_guess_spread_over_thousands_of_addresses_keeps_sign_in_and_the_admin_list_quick(db: AppDB) -> None:
    import time

    now = datetime.now(tz=UTC)
    with db.connection.cursor() as cur:  # 20,000 failures on 'admin' from 20,000 addresses in the last ten minutes
        cur.execute(
            """
            insert into app.sign_in_failures
            select 'admin', '10.' || (i // 65536) || '.' || ((i // 256) % 256) || '.' || (i % 256),
                $now - (i % 600) * interval 1 second
            from range(20000) as t(i)
            """,
            {"now": now},
        )
    throttle = Throttle(db.connection, Policy())
    started = time.perf_counter()
    assert throttle.reserve("admin", "198.51.100.7", now).allowed  # a clean address: checked at once
    assert time.perf_counter() - started < 1.0  # measured 0.04 s; the write lock is held meanwhile
    assert not throttle.check("admin", "10.0.0.1", now).allowed  # an attacking address waits
    started = time.perf_counter()
    entries = throttle.current(now)
    assert time.perf_counter() - started < 20.0  # measured 1.8 s (it was minutes when counted pair by pair)
    assert len([e for e in entries if e.scope == "username"]) == 20001

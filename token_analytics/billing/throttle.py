"""Throttled sign-in (issue 9), modelled on django-axes: failures counted per username and per address.

Failed sign-ins are appended to `app.sign_in_failures`, so a restart does not forget them.
Counting over a sliding window (`Policy.window`), for the username and for the client address
separately:

* the first `free` failures cost nothing;
* after that, the next attempt must wait `delay * 2**(n - free)` seconds after the latest
  failure (1, 2, 4, 8, ... capped at `max_delay`); an attempt that comes sooner is refused
  without looking at the password;
* the `lock_after`-th failure inside one window locks the name (or address) for `window`
  from that failure. Attempts while locked or waiting are not counted as failures: a person
  clicking twice does not lock themselves out for longer.

Unknown usernames are counted exactly like real ones, so neither the delays nor the lock tell
anyone whether a user exists. An admin unlocks a username or an address (an appended row in
`app.sign_in_unlocks`: failures before it no longer count); a successful sign-in does the
same for its username (not for the address, which one valid account must not clear).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from token_analytics.billing import audit
from token_analytics.billing.core import SchemaPart

SCOPES = ("username", "address")
MAX_NAME = 200  # what is stored of a typed username

SCHEMA = SchemaPart(
    1,
    (
        """
    create table if not exists app.sign_in_failures (
        username varchar not null,
        address varchar,
        failed_at timestamptz not null
    )
    """,
        """
    create table if not exists app.sign_in_unlocks (
        scope varchar not null check (scope in ('username', 'address')),
        value varchar not null,
        unlocked_at timestamptz not null,
        unlocked_by varchar not null
    )
    """,
    ),
)

_INSERT_FAILURE = """
    insert into app.sign_in_failures (username, address, failed_at) values ($username, $address, $now)
"""
_INSERT_UNLOCK = """
    insert into app.sign_in_unlocks (scope, value, unlocked_at, unlocked_by) values ($scope, $value, $now, $by)
"""
# Failure times of one username (or one address) after its latest unlock, oldest first.
_FAILURES_USERNAME = """
    with last_unlock as (
        select max(unlocked_at) as at from app.sign_in_unlocks where scope = 'username' and value = $value
    )
    select failed_at
    from app.sign_in_failures, last_unlock
    where username = $value and failed_at > $since and (last_unlock.at is null or failed_at > last_unlock.at)
    order by failed_at
"""
_FAILURES_ADDRESS = """
    with last_unlock as (
        select max(unlocked_at) as at from app.sign_in_unlocks where scope = 'address' and value = $value
    )
    select failed_at
    from app.sign_in_failures, last_unlock
    where address = $value and failed_at > $since and (last_unlock.at is null or failed_at > last_unlock.at)
    order by failed_at
"""
# Every username and address with failures that still count, for the admin page.
_CURRENT = """
    with unlocks as (
        select scope, value, max(unlocked_at) as at from app.sign_in_unlocks group by scope, value
    ),

    failures as (
        select 'username' as scope, username as value, failed_at from app.sign_in_failures where failed_at > $since
        union all
        select 'address' as scope, address as value, failed_at
        from app.sign_in_failures
        where failed_at > $since and address is not null
    ),

    final as (
        select f.scope, f.value, count(*) as failures, max(f.failed_at) as latest
        from failures as f
        left join unlocks as u on u.scope = f.scope and u.value = f.value
        where u.at is null or f.failed_at > u.at
        group by f.scope, f.value
    )

    select * from final order by latest desc, scope, value
"""

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Policy:
    window: timedelta = timedelta(minutes=15)
    free: int = 3
    delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=1)
    lock_after: int = 10  # per username
    lock_after_address: int = 30  # an office behind one address makes more honest mistakes

    def wait(self, failures: int) -> timedelta:
        """How long after the latest failure the next attempt must wait, before the lock."""
        if failures < self.free:
            return timedelta(0)
        return min(self.delay * 2 ** (failures - self.free), self.max_delay)


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may check its password now; when not, until when it must wait."""

    allowed: bool
    locked: bool = False
    until: datetime | None = None

    def seconds(self, now: datetime) -> int:
        """Whole seconds left to wait (at least 1 while refused)."""
        if self.until is None:
            return 0
        return max(1, int((self.until - now).total_seconds() + 0.999))


@dataclass(frozen=True)
class Entry:
    """A username or address with failures that still count (admin page)."""

    scope: str
    value: str
    failures: int
    latest: datetime
    locked: bool
    until: datetime | None


def normalise(username: str) -> str:
    """The counted form of a typed username: trimmed, lower case (as the auth file's), cut to MAX_NAME."""
    return username.strip().lower()[:MAX_NAME]


class Throttle:
    """Sign-in throttling over the app database attached as `app` on `con`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, policy: Policy | None = None) -> None:
        self.connection = con
        self.policy = policy or Policy()

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self.connection.cursor()  # a cursor per call: each Streamlit session has its own thread
        try:
            yield cur
        finally:
            cur.close()

    def _failures(self, scope: str, value: str, now: datetime) -> list[datetime]:
        # Two windows back: a lock set by failures spread over the window before lasts one more.
        sql = _FAILURES_USERNAME if scope == "username" else _FAILURES_ADDRESS
        with self._cursor() as cur:
            table = cur.sql(sql, params={"value": value, "since": now - 2 * self.policy.window}).to_arrow_table()
        return [row["failed_at"] for row in table.to_pylist()]

    def _judge(self, failures: list[datetime], now: datetime, lock_after: int) -> Verdict:
        """The verdict at `now` for one scope's failure times (oldest first)."""
        window = self.policy.window
        # Locked: some failure in the last window was the lock_after-th inside a window ending at it.
        for index in range(len(failures) - 1, lock_after - 2, -1):
            latest = failures[index]
            if latest <= now - window:
                break
            if sum(1 for moment in failures[: index + 1] if moment > latest - window) >= lock_after:
                return Verdict(False, locked=True, until=latest + window)
        recent = [moment for moment in failures if moment > now - window]
        wait = self.policy.wait(len(recent))
        if not recent or not wait or recent[-1] + wait <= now:
            return Verdict(True)
        return Verdict(False, until=recent[-1] + wait)

    def check(self, username: str, address: str | None, now: datetime) -> Verdict:
        """May this attempt check its password at `now`? The stricter of the username's and the address's."""
        verdicts = [self._judge(self._failures("username", normalise(username), now), now, self.policy.lock_after)]
        if address:
            failures = self._failures("address", address, now)
            verdicts.append(self._judge(failures, now, self.policy.lock_after_address))
        refused = [verdict for verdict in verdicts if not verdict.allowed]
        if not refused:
            return Verdict(True)
        locked = [verdict for verdict in refused if verdict.locked]
        return max(locked or refused, key=lambda verdict: verdict.until or now)

    def refused(self, username: str, address: str | None, verdict: Verdict, now: datetime) -> None:
        """Log an attempt refused by `check` (not counted as a failure)."""
        detail = "locked" if verdict.locked else "waiting"
        with _LOCK, self._cursor() as cur:
            audit.record(cur, "sign_in.refused", normalise(username), address=address, detail=detail, now=now)

    def failed(self, username: str, address: str | None, now: datetime) -> None:
        """Count a failed sign-in (a wrong password or an unknown user: the same)."""
        params = {"username": normalise(username), "address": address, "now": now}
        with _LOCK, self._cursor() as cur:
            cur.execute("begin transaction")
            try:
                cur.execute(_INSERT_FAILURE, params)
                audit.record(cur, "sign_in.failure", params["username"], address=address, now=now)
                cur.execute("commit")
            except BaseException:
                cur.execute("rollback")
                raise

    def succeeded(self, username: str, now: datetime) -> None:
        """A successful sign-in clears its username's failures (not its address's)."""
        with _LOCK, self._cursor() as cur:
            params = {"scope": "username", "value": normalise(username), "now": now, "by": "sign-in"}
            cur.execute(_INSERT_UNLOCK, params)

    def unlock(self, scope: str, value: str, by: str, now: datetime) -> None:
        """An admin clears the failures of a username or an address."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        value = normalise(value) if scope == "username" else value
        with _LOCK, self._cursor() as cur:
            cur.execute("begin transaction")
            try:
                cur.execute(_INSERT_UNLOCK, {"scope": scope, "value": value, "now": now, "by": by})
                audit.record(cur, "throttle.unlock", by, target=f"{scope} {value}", now=now)
                cur.execute("commit")
            except BaseException:
                cur.execute("rollback")
                raise

    def current(self, now: datetime) -> list[Entry]:
        """Usernames and addresses whose failures still count, latest first, with whether they are locked."""
        with self._cursor() as cur:
            rows: list[dict[str, Any]] = (
                cur.sql(_CURRENT, params={"since": now - self.policy.window}).to_arrow_table().to_pylist()
            )
        entries = []
        for row in rows:
            lock_after = self.policy.lock_after if row["scope"] == "username" else self.policy.lock_after_address
            verdict = self._judge(self._failures(row["scope"], row["value"], now), now, lock_after)
            entries.append(
                Entry(
                    scope=row["scope"],
                    value=row["value"],
                    failures=int(row["failures"]),
                    latest=row["latest"],
                    locked=verdict.locked,
                    until=verdict.until,
                )
            )
        return entries

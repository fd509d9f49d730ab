"""Throttled sign-in, modelled on django-axes: failures counted per (username, address), per address, per username.

Every attempt is reserved before its password is checked: `reserve` counts the live failures and,
when the attempt may go ahead, inserts it as a failure, in one transaction under the app
database's write lock. bcrypt runs after that, outside the lock; a right password then clears
its (username, address) pair (`succeeded`), a wrong one leaves the reserved row a failure. So
sessions guessing in parallel are counted as if they had come one by one: 30 at once get the
3 free guesses checked, not 30.

Failed sign-ins are appended to `app.sign_in_failures`, so a restart does not forget them.
Counting over a sliding window (`Policy.window`):

* per (username, address): the first `free` failures cost nothing; after that the next attempt
  must wait `delay * 2**(n - free)` seconds after the latest failure (1, 2, 4, 8, ... capped
  at `max_delay`), and the `lock_after`-th failure inside one window locks that pair for
  `window` from that failure;
* per address, across usernames: the `lock_after_address`-th failure locks the address (one
  address guessing many names);
* per username, across addresses: past `user_free` failures every address that has failures
  of its own on that username waits the same growing delay after its own latest failure (a
  guess spread over many addresses). An address without failures is never slowed or locked by
  what other addresses did, so nobody can lock a person out from elsewhere (docs/DECISIONS.md).

An attempt refused while locked or waiting is not counted as a failure: a person clicking twice
does not lock themselves out for longer. Unknown usernames are counted exactly like real ones, so
neither the delays nor the lock tell anyone whether a user exists. An admin (the /admin page, or
`python -m token_analytics users unlock NAME`) unlocks a username (every address's failures on
it) or an address (an appended row in `app.sign_in_unlocks`: failures before it no longer
count); a successful sign-in appends a row to `app.sign_in_clears` for its own (username,
address) pair only, so the owner signing in does not free an attacker elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from token_analytics.accounts import audit
from token_analytics.accounts.audit import AuditAction
from token_analytics.db import appfile as core
from token_analytics.db import query_text

SCOPES = ("username", "address")
MAX_NAME = 200  # what is stored of a typed username


@dataclass(frozen=True)
class Policy:
    window: timedelta = timedelta(minutes=15)
    free: int = 3  # per (username, address)
    delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=1)
    lock_after: int = 10  # per (username, address)
    lock_after_address: int = 30  # an office behind one address makes more honest mistakes
    user_free: int = 10  # per username over every address, before addresses with failures slow down

    def wait(self, failures: int, free: int | None = None) -> timedelta:
        """How long after the latest failure the next attempt must wait, before the lock."""
        free = self.free if free is None else free
        if failures < free:
            return timedelta(0)
        return min(self.delay * 2 ** min(failures - free, 30), self.max_delay)


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
    """A username (at one address) or an address whose sign-ins are paused now (admin page)."""

    scope: str
    value: str
    address: str | None
    failures: int
    latest: datetime
    locked: bool
    until: datetime | None


@dataclass(frozen=True)
class _Failure:
    username: str
    address: str | None
    at: datetime


class _Index:
    """Failure times (oldest first) by (username, address), by username and by address: one pass, then lookups."""

    def __init__(self, failures: list[_Failure]) -> None:
        self.by_pair: dict[tuple[str, str | None], list[datetime]] = {}
        self.by_username: dict[str, list[datetime]] = {}
        self.by_address: dict[str, list[datetime]] = {}
        for failure in failures:
            self.by_pair.setdefault((failure.username, failure.address), []).append(failure.at)
            self.by_username.setdefault(failure.username, []).append(failure.at)
            if failure.address is not None:
                self.by_address.setdefault(failure.address, []).append(failure.at)


def normalise(username: str) -> str:
    """The counted form of a typed username: trimmed, lower case (as the auth file's), cut to MAX_NAME."""
    return username.strip().lower()[:MAX_NAME]


class Throttle:
    """Sign-in throttling over the app database attached as `app` on `con`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, policy: Policy | None = None) -> None:
        self.connection = con
        self.policy = policy or Policy()

    def _live(
        self, cur: duckdb.DuckDBPyConnection, username: str | None, address: str | None, now: datetime
    ) -> list[_Failure]:
        """Failures that still count (not unlocked, not cleared by a success), oldest first.

        Of one (username, address) pair and that address when `username` is given, else of everyone. Two windows
        back: a lock set by failures spread over the window before lasts one more.
        """
        since = now - 2 * self.policy.window
        if username is None:
            rows = (
                cur.sql(query_text("accounts/throttle_failures_all"), params={"since": since})
                .to_arrow_table()
                .to_pylist()
            )
        else:
            params = {"since": since, "username": username, "address": address}
            rows = cur.sql(query_text("accounts/throttle_failures_for"), params=params).to_arrow_table().to_pylist()
        unlocks = {
            (r["scope"], r["value"]): r["at"]
            for r in cur.sql(query_text("accounts/throttle_unlocks"), params={"since": since})
            .to_arrow_table()
            .to_pylist()
        }
        clears = {
            (r["username"], r["address"]): r["at"]
            for r in cur.sql(query_text("accounts/throttle_clears"), params={"since": since})
            .to_arrow_table()
            .to_pylist()
        }
        live = []
        for row in rows:
            failure = _Failure(row["username"], row["address"], row["failed_at"])
            cleared = [
                unlocks.get(("username", failure.username)),
                unlocks.get(("address", failure.address)) if failure.address is not None else None,
                clears.get((failure.username, failure.address)),
            ]
            if all(moment is None or failure.at > moment for moment in cleared):
                live.append(failure)
        return live

    def _user_wide(self, cur: duckdb.DuckDBPyConnection, username: str, now: datetime) -> int:
        """The username's failures that still count in the window, over every address."""
        params = {"username": username, "since": now - self.policy.window}
        row = cur.execute(query_text("accounts/throttle_user_wide"), params).fetchone()
        return int(row[0]) if row else 0

    def _judge(
        self, failures: list[datetime], now: datetime, lock_after: int, slow: timedelta = timedelta(0)
    ) -> Verdict:
        """The verdict at `now` for one scope's failure times (oldest first).

        `slow`: the wait this scope owes the username-wide count, when it has failures of its own.
        """
        window = self.policy.window
        # Locked: some failure in the last window was the lock_after-th inside a window ending at it.
        for index in range(len(failures) - 1, lock_after - 2, -1):
            latest = failures[index]
            if latest <= now - window:
                break
            if sum(1 for moment in failures[: index + 1] if moment > latest - window) >= lock_after:
                return Verdict(False, locked=True, until=latest + window)
        recent = [moment for moment in failures if moment > now - window]
        wait = max(self.policy.wait(len(recent)), slow) if recent else timedelta(0)
        if not recent or not wait or recent[-1] + wait <= now:
            return Verdict(True)
        return Verdict(False, until=recent[-1] + wait)

    def _verdict(self, index: _Index, username: str, address: str | None, user_wide: int, now: datetime) -> Verdict:
        """The stricter of the (username, address) pair's and the address's verdicts.

        `user_wide`: the username's failures in the window over every address.
        """
        slow = self.policy.wait(user_wide, self.policy.user_free)
        verdicts = [self._judge(index.by_pair.get((username, address), []), now, self.policy.lock_after, slow)]
        if address is not None:
            verdicts.append(self._judge(index.by_address.get(address, []), now, self.policy.lock_after_address))
        refused = [verdict for verdict in verdicts if not verdict.allowed]
        if not refused:
            return Verdict(True)
        locked = [verdict for verdict in refused if verdict.locked]
        return max(locked or refused, key=lambda verdict: verdict.until or now)

    def check(self, username: str, address: str | None, now: datetime) -> Verdict:
        """May this attempt check its password at `now`? (A look only: `reserve` is what the sign-in calls.)"""
        name = normalise(username)
        with core.cursor(self.connection) as cur:
            return self._verdict(
                _Index(self._live(cur, name, address, now)), name, address, self._user_wide(cur, name, now), now
            )

    def reserve(self, username: str, address: str | None, now: datetime) -> Verdict:
        """Judge an attempt and, when allowed, count it as a failure, atomically: call before checking the password.

        One transaction under the write lock: concurrent attempts each see the ones reserved before
        them, so the policy holds however many sessions guess at once. A right password then calls
        `succeeded` (which clears it), a wrong one `failed_checked` (which audits it).
        """
        name = normalise(username)
        with core.WRITE_LOCK, core.cursor(self.connection) as cur, core.transaction(cur):
            index = _Index(self._live(cur, name, address, now))
            verdict = self._verdict(index, name, address, self._user_wide(cur, name, now), now)
            if verdict.allowed:
                cur.execute(
                    query_text("accounts/insert_sign_in_failure"), {"username": name, "address": address, "now": now}
                )
        return verdict

    def refused(self, username: str, address: str | None, verdict: Verdict, now: datetime) -> None:
        """Log an attempt refused by `reserve` (not counted as a failure; one audit row per name, address, minute)."""
        reason = "locked" if verdict.locked else "waiting"
        with core.WRITE_LOCK, core.cursor(self.connection) as cur, core.transaction(cur):
            audit.refused(cur, normalise(username), address, reason, now)

    def failed_checked(self, username: str, address: str | None, now: datetime) -> None:
        """Audit a reserved attempt whose password was wrong (its failure row is already counted)."""
        with core.WRITE_LOCK, core.cursor(self.connection) as cur:
            audit.record(cur, AuditAction.SIGN_IN_FAILURE, normalise(username), address=address, now=now)

    def failed(self, username: str, address: str | None, now: datetime) -> None:
        """Count and audit a failed sign-in that was not reserved (tools and tests)."""
        params = {"username": normalise(username), "address": address, "now": now}
        with core.WRITE_LOCK, core.cursor(self.connection) as cur, core.transaction(cur):
            cur.execute(query_text("accounts/insert_sign_in_failure"), params)
            audit.record(cur, AuditAction.SIGN_IN_FAILURE, params["username"], address=address, now=now)

    def succeeded(self, username: str, address: str | None, now: datetime) -> None:
        """A successful sign-in clears the failures of its own (username, address) pair, its reservation included."""
        with core.WRITE_LOCK, core.cursor(self.connection) as cur:
            cur.execute(
                query_text("accounts/insert_throttle_clear"),
                {"username": normalise(username), "address": address, "now": now},
            )

    def unlock(self, scope: str, value: str, by: str, now: datetime) -> None:
        """An admin clears the failures of a username (at every address) or of an address (for every username)."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        value = normalise(value) if scope == "username" else value
        with core.WRITE_LOCK, core.cursor(self.connection) as cur, core.transaction(cur):
            cur.execute(
                query_text("accounts/insert_throttle_unlock"), {"scope": scope, "value": value, "now": now, "by": by}
            )
            audit.record(cur, AuditAction.THROTTLE_UNLOCK, by, target=f"{scope} {value}", now=now)

    def current(self, now: datetime) -> list[Entry]:
        """Usernames (per address) and addresses whose failures still count, latest first, with their state."""
        with core.cursor(self.connection) as cur:
            failures = self._live(cur, None, None, now)
        window_start = now - self.policy.window
        index = _Index(failures)
        user_wide = {name: sum(1 for at in times if at > window_start) for name, times in index.by_username.items()}
        entries: list[Entry] = []
        for (username, address), times in index.by_pair.items():
            verdict = self._verdict(index, username, address, user_wide[username], now)
            recent = [moment for moment in times if moment > window_start]
            if recent or not verdict.allowed:
                entries.append(_entry("username", username, address, recent, verdict, now))
        for address, times in index.by_address.items():
            verdict = self._judge(times, now, self.policy.lock_after_address)
            recent = [moment for moment in times if moment > window_start]
            if recent or not verdict.allowed:
                entries.append(_entry("address", address, address, recent, verdict, now))
        return sorted(entries, key=lambda e: (-e.latest.timestamp(), e.scope, e.value, e.address or ""))


def _entry(
    scope: str, value: str, address: str | None, times: list[datetime], verdict: Verdict, now: datetime
) -> Entry:
    return Entry(
        scope=scope,
        value=value,
        address=address,
        failures=len(times),
        latest=max(times) if times else now,
        locked=verdict.locked,
        until=verdict.until,
    )

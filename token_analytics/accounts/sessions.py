"""Server-side sign-in sessions, modelled on Django's session framework.

Every sign-in starts a session: a random id that the browser keeps (signed) in its cookie,
and a record here saying who, since when, until when, from where and with which browser.
The record decides; the cookie only points at it. A session ends for good when the person
signs out, an admin ends it (or all of a user's sessions), the user's password, roles or
account change in the auth file (the `fingerprint` no longer matches), it is idle for longer
than `idle`, or it reaches its absolute expiry. An ended, expired or unknown id signs nobody in.

The id itself is never stored: sessions are keyed by the SHA-256 of the id, so a copy of the
database (a backup, a support dump) holds no usable cookie. Admins address a session by that
key. Records are kept after they end (with when, by whom and why) for `KEEP_ENDED`, then a
sign-in deletes them; the audit log keeps its own line of every sign-in and end.

Times are the wall clock in UTC, never ANALYTICS_NOW (a pinned demo clock must not freeze
expiry). Every function takes `now` so tests can drive the clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import duckdb

from token_analytics.accounts import audit
from token_analytics.accounts.audit import AuditAction
from token_analytics.db import appfile as core
from token_analytics.db import query_text

DEFAULT_IDLE = timedelta(hours=8)
DEFAULT_LIFETIME = timedelta(days=1)
# last_seen is written at most this often: a page view must not always cost a write.
TOUCH_EVERY = timedelta(minutes=1)
# An ended (or expired, never used again) session's record is deleted by a sign-in this long after its
# end, so the table does not grow forever; the audit log keeps every sign-in and end.
KEEP_ENDED = timedelta(days=90)

# Why a session ended (end_reason); the admin page shows a label for each.
END_REASONS = ("sign_out", "admin", "admin_all", "credentials", "idle", "expired", "unknown_user")


@dataclass(frozen=True)
class Session:
    session_key: str
    username: str
    fingerprint: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str | None
    address: str | None
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None


def session_key(session_id: str) -> str:
    """What the table stores for an id: its SHA-256, hex."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def new_session_id() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class Sessions:
    """The sessions of the app database attached as `app` on `con`."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, idle: timedelta = DEFAULT_IDLE, lifetime: timedelta = DEFAULT_LIFETIME
    ) -> None:
        if idle <= timedelta(0) or lifetime <= timedelta(0):
            raise ValueError("idle and lifetime must be positive durations")
        self.connection = con
        self.idle = idle
        self.lifetime = lifetime

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with core.cursor(self.connection) as cur:
            return cur.sql(sql, params=params).to_arrow_table().to_pylist()

    def start(self, username: str, fingerprint: str, user_agent: str | None, address: str | None, now: datetime) -> str:
        """A new session for a person who just proved who they are; returns the id for the cookie.

        A new id on every sign-in (never one the browser brought), so a planted id is useless.
        """
        _aware(now)
        session_id = new_session_id()
        params = {
            "session_key": session_key(session_id),
            "username": username,
            "fingerprint": fingerprint,
            "created_at": now,
            "expires_at": now + self.lifetime,
            "user_agent": audit.clip(user_agent),
            "address": audit.clip(address),
        }
        with core.WRITE_LOCK, core.cursor(self.connection) as cur, core.transaction(cur):
            cur.execute(query_text("accounts/purge_sessions"), {"before": now - KEEP_ENDED})
            cur.execute(query_text("accounts/insert_session"), params)
            audit.record(
                cur, AuditAction.SIGN_IN_SUCCESS, username, address=address, detail=audit.clip(user_agent), now=now
            )
        return session_id

    def get(self, session_id: str) -> Session | None:
        """The record of an id, ended or not; None when unknown."""
        rows = self._rows(query_text("accounts/session_by_key"), {"session_key": session_key(session_id)})
        return _session(rows[0]) if rows else None

    def validate(self, session_id: str, fingerprint: str | None, now: datetime) -> Session | None:
        """The live session of `session_id`, its last-seen time brought up to `now`; else None.

        A session found idle, expired or with another fingerprint (`None`: the user is no
        longer in the auth file) is ended here for good, with the reason.
        """
        _aware(now)
        session = self.get(session_id)
        if session is None or session.ended_at is not None:
            return None
        reason = None
        if fingerprint is None:
            reason = "unknown_user"
        elif not secrets.compare_digest(session.fingerprint, fingerprint):
            reason = "credentials"
        elif now >= session.expires_at:
            reason = "expired"
        elif now - session.last_seen_at >= self.idle:
            reason = "idle"
        if reason is not None:
            self._end(session.session_key, "system", reason, now)
            return None
        if now - session.last_seen_at >= TOUCH_EVERY:
            self.touch(session_id, now)
        return session

    def is_valid(self, session_id: str, fingerprint: str | None, now: datetime) -> bool:
        """Whether `session_id` is a live session of a user whose fingerprint is `fingerprint`."""
        return self.validate(session_id, fingerprint, now) is not None

    def touch(self, session_id: str, now: datetime) -> None:
        """The session was used at `now` (idle expiry counts from the latest use)."""
        with core.WRITE_LOCK, core.cursor(self.connection) as cur:
            cur.execute(
                query_text("accounts/touch_session"), {"session_key": session_key(session_id), "now": _aware(now)}
            )

    def revoke(self, session_id: str, by: str, now: datetime, reason: str = "sign_out") -> bool:
        """End the session of `session_id` (sign-out); False when it had already ended or is unknown."""
        return self._end(session_key(session_id), by, reason, now)

    def revoke_key(self, key: str, by: str, now: datetime) -> bool:
        """An admin ends the session listed under `key` (see `active`)."""
        return self._end(key, by, "admin", now)

    def revoke_all(self, username: str, by: str, now: datetime) -> int:
        """An admin signs `username` out everywhere; returns how many sessions ended."""
        params = {"username": username, "ended_by": by, "reason": "admin_all", "now": _aware(now)}
        with core.WRITE_LOCK, core.cursor(self.connection) as cur, core.transaction(cur):
            ended = cur.execute(query_text("accounts/end_all_sessions"), params).fetchall()
            if ended:
                audit.record(
                    cur,
                    AuditAction.SESSION_END,
                    by,
                    target=ended[0][1],
                    detail=f"admin_all: {len(ended)} session(s)",
                    now=now,
                )
        return len(ended)

    def active(self, now: datetime, username: str | None = None) -> list[Session]:
        """Live sessions (of one user, or everyone's), most recently used first."""
        params = {"now": _aware(now), "idle_since": now - self.idle, "username": username}
        return [_session(row) for row in self._rows(query_text("accounts/active_sessions"), params)]

    def _end(self, key: str, by: str, reason: str, now: datetime) -> bool:
        if reason not in END_REASONS:
            raise ValueError(f"unknown end reason {reason!r}")
        params = {"session_key": key, "ended_by": by, "reason": reason, "now": _aware(now)}
        with core.WRITE_LOCK, core.cursor(self.connection) as cur, core.transaction(cur):
            ended = cur.execute(query_text("accounts/end_session"), params).fetchall()
            if ended:
                username, address = ended[0]
                actor = username if reason == "sign_out" else by
                # The session's own address for automatic ends; the acting person's otherwise.
                where = address if by == "system" else None
                detail = f"{reason} {key[:12]}"
                audit.record(
                    cur, AuditAction.SESSION_END, actor, target=username, detail=detail, address=where, now=now
                )
        return bool(ended)


def _session(row: dict[str, Any]) -> Session:
    return Session(**{field.name: row[field.name] for field in fields(Session)})


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now

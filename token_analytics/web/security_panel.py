"""The admin's sign-in tabs on /admin (issue 9): active sessions, locked sign-ins, the audit log.

Values typed by people (usernames, user agents, notes) are shown only in dataframe cells and
selectbox options, which render no Markdown.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from token_analytics.billing import audit
from token_analytics.billing.audit import AuditLog
from token_analytics.engine.ledger_csv import neutralise
from token_analytics.settings import Settings
from token_analytics.web import auth, data, fmt
from token_analytics.web.auth import AuthConfig, User
from token_analytics.web.i18n import t

MAX_ROWS = 5_000  # of the audit log on the page; the CSV has the same rows


def _when(value: datetime | None, settings: Settings) -> str:
    return "" if value is None or pd.isna(value) else fmt.when(value, settings.zone, with_zone=False)


def sessions_tab(settings: Settings, config: AuthConfig, admin: User) -> None:
    """Active sessions (end one, or all of a user's) and throttled sign-ins (unlock)."""
    sessions = auth.sessions_for(settings, config)
    now = auth.clock()
    active = sessions.active(now)
    st.subheader(t("admin.sessions_title"))
    st.caption(t("admin.sessions_intro", hours=f"{settings.session_idle_hours:g}", zone=settings.timezone))
    if not active:
        st.info(t("admin.no_sessions"))
    else:
        table = pd.DataFrame(
            {
                t("admin.column_user"): [s.username for s in active],
                t("admin.column_signed_in"): [_when(s.created_at, settings) for s in active],
                t("admin.column_last_seen"): [_when(s.last_seen_at, settings) for s in active],
                t("admin.column_expires"): [_when(s.expires_at, settings) for s in active],
                t("admin.column_address"): [s.address or "" for s in active],
                t("admin.column_browser"): [s.user_agent or "" for s in active],
                t("admin.column_session"): [s.session_key[:12] for s in active],
            }
        )
        st.dataframe(table, hide_index=True)
        labels = {
            s.session_key: " · ".join(
                [s.username, s.address or "?", _when(s.last_seen_at, settings), s.session_key[:12]]
            )
            for s in active
        }
        chosen = st.selectbox(t("admin.session_choice"), list(labels), format_func=labels.get, key="admin_session")
        end_one, end_all, _ = st.columns([1, 1, 2])
        if end_one.button(t("admin.end_session"), key="admin_end_session") and chosen:
            sessions.revoke_key(chosen, admin.username, auth.clock())
            st.session_state["admin_sessions_done"] = t("admin.session_ended", user=_user_of(active, chosen))
            st.rerun()
        if end_all.button(t("admin.end_all"), key="admin_end_all") and chosen:
            username = _user_of(active, chosen)
            count = sessions.revoke_all(username, admin.username, auth.clock())
            st.session_state["admin_sessions_done"] = t("admin.sessions_ended", user=username, count=count)
            st.rerun()
    done = st.session_state.pop("admin_sessions_done", None)
    if done:
        st.success(done)

    st.subheader(t("admin.throttle_title"))
    throttle = auth.throttle_for()
    entries = [entry for entry in throttle.current(now) if entry.until is not None]
    if not entries:
        st.info(t("admin.no_locks"))
        return
    st.dataframe(
        pd.DataFrame(
            {
                t("admin.column_scope"): [t(f"admin.scope_{e.scope}") for e in entries],
                t("admin.column_value"): [e.value for e in entries],
                t("admin.column_failures"): [e.failures for e in entries],
                t("admin.column_state"): [
                    t("admin.state_locked" if e.locked else "admin.state_waiting") for e in entries
                ],
                t("admin.column_until"): [_when(e.until, settings) for e in entries],
            }
        ),
        hide_index=True,
    )
    options = {(e.scope, e.value): f"{t(f'admin.scope_{e.scope}')}: {e.value}" for e in entries}
    target = st.selectbox(t("admin.unlock_choice"), list(options), format_func=options.get, key="admin_unlock")
    if st.button(t("admin.unlock"), key="admin_unlock_button") and target:
        throttle.unlock(target[0], target[1], admin.username, auth.clock())
        st.success(t("admin.unlocked", value=target[1]))


def _user_of(active: list, key: str) -> str:
    return next(s.username for s in active if s.session_key == key)


def audit_tab(settings: Settings) -> None:
    """The audit log with filters, newest first, and the same rows as a formula-safe CSV."""
    log = AuditLog(data.app_db().connection)
    today = auth.clock().astimezone(settings.zone).date()
    action_col, actor_col, account_col, dates_col = st.columns(4)
    actions = ["", *audit.ACTIONS]
    action = action_col.selectbox(
        t("admin.audit_action"), actions, format_func=lambda a: t(f"audit.{a}") if a else t("admin.audit_all"),
        key="admin_audit_action",
    )  # fmt: skip
    actor = actor_col.text_input(t("admin.audit_actor"), key="admin_audit_actor").strip()
    account = account_col.text_input(t("admin.audit_account"), key="admin_audit_account").strip()
    dates = dates_col.date_input(
        t("admin.audit_dates"), value=(today - timedelta(days=30), today), key="admin_audit_dates"
    )
    since = until = None
    if isinstance(dates, tuple | list) and len(dates) == 2:
        since = datetime.combine(dates[0], time(0), tzinfo=settings.zone)
        until = datetime.combine(dates[1] + timedelta(days=1), time(0), tzinfo=settings.zone)
    rows = log.entries(since=since, until=until, actor=actor, action=action, account_id=account, limit=MAX_ROWS)
    if rows.empty:
        st.info(t("admin.audit_empty"))
        return
    shown = pd.DataFrame(
        {
            t("admin.column_when"): [_when(v, settings) for v in rows["event_at"]],
            t("admin.column_actor"): rows["actor"].astype(object),
            t("admin.column_action"): [t(f"audit.{a}") for a in rows["action"]],
            t("admin.column_account_id"): rows["account_id"].astype(object),
            t("admin.column_target"): rows["target"].astype(object),
            t("admin.column_detail"): rows["detail"].astype(object),
            t("admin.column_address"): rows["address"].astype(object),
        }
    )
    st.caption(t("admin.audit_count", count=fmt.tokens(len(rows)), zone=settings.timezone))
    st.dataframe(shown, hide_index=True)
    st.download_button(
        t("admin.audit_csv"),
        audit_csv(rows, settings),
        file_name="audit-log.csv",
        mime="text/csv",
        key="admin_audit_download",
    )


def audit_csv(rows: pd.DataFrame, settings: Settings) -> bytes:
    """The rows as CSV: machine-readable codes, ISO times in the business zone, text that cannot run as a formula."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(audit.COLUMNS)
    for row in rows[list(audit.COLUMNS)].itertuples(index=False):
        moment = row[0]
        stamp = "" if moment is None or pd.isna(moment) else moment.astimezone(settings.zone).isoformat()
        writer.writerow([stamp, *(neutralise(None if pd.isna(value) else value) for value in row[1:])])
    return out.getvalue().encode("utf-8")

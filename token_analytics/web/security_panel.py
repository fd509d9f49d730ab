"""The admin's sign-in tabs on /admin: active sessions, paused sign-ins, the audit log.

Values typed by people (usernames, user agents, notes) are shown only in dataframe cells and
selectbox options, which render no Markdown. The log stores codes (`session.end`,
`sign_out 1a2b…`, `enterprise_contact enterprise`); the page shows each as a name or sentence
in the session's language, and "—" for what is empty. The CSV keeps the codes.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from token_analytics.accounts import audit, users
from token_analytics.accounts.audit import AuditAction, AuditLog
from token_analytics.accounts.users import AuthConfig, User
from token_analytics.engine.ledger_csv import neutralise
from token_analytics.settings import Settings
from token_analytics.web import auth, data, fmt
from token_analytics.web.i18n import STRINGS, t

MAX_ROWS = 5_000  # of the audit log on the page; the CSV has the same rows
MAX_PAUSED = 500  # paused names and addresses listed, latest first
EMPTY = "—"  # what an empty cell shows (never "None" or "nan")
_THRESHOLDS = {"balance_below": "alerts.balance_below", "runway_days_below": "alerts.runway_below",
               "usage_multiple": "alerts.usage_multiple"}  # fmt: skip


def _when(value: datetime | None, settings: Settings) -> str:
    return EMPTY if value is None or pd.isna(value) else fmt.when(value, settings.zone, with_zone=False)


def _text(value: object) -> str:
    """A stored value as a cell: "—" for nothing (None, NaN, blank)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return EMPTY
    text = str(value).strip()
    return text or EMPTY


def action_name(action: object) -> str:
    """An audit action's name in the session's language (an action this page does not know: its code)."""
    key = f"audit.{action}"
    return t(key) if key in STRINGS else _text(action)


def target_text(action: str, target: object) -> str:
    """The log's `target` as a person reads it."""
    if action == AuditAction.THROTTLE_UNLOCK and isinstance(target, str):
        scope, _, value = target.partition(" ")
        if scope in ("username", "address"):
            return f"{t(f'admin.scope_{scope}')}: {value}"
    return _text(target)


def detail_text(action: str, detail: object, count: object = 1) -> str:
    """The log's `detail` as a sentence in the session's language; free text (a note, a browser) as written."""
    code = detail if isinstance(detail, str) else ""
    if action == AuditAction.SIGN_IN_REFUSED:
        reason = "locked" if code == "locked" else "waiting"
        times = int(count) if isinstance(count, int | float) and not pd.isna(count) else 1
        return t(f"audit.detail.refused_{reason}", count=times)
    if action == AuditAction.SESSION_END and code:
        reason, _, rest = code.partition(" ")
        reason = reason.rstrip(":")
        if reason == "admin_all":
            number = rest.split(" ")[0]
            return t("audit.detail.end_admin_all", count=number if number.isdigit() else "?")
        if f"audit.detail.end_{reason}" in STRINGS:
            return t(f"audit.detail.end_{reason}", session=rest or EMPTY)
    if action == AuditAction.PLAN_REQUEST and code:
        kind, _, plan = code.partition(" ")
        if f"admin.kind.{kind}" in STRINGS:
            return t("audit.detail.plan_request", kind=t(f"admin.kind.{kind}"), plan=plan.capitalize() or EMPTY)
    if action == AuditAction.ALERT_THRESHOLDS and code:
        return _thresholds_text(code)
    return _text(detail)


def _thresholds_text(code: str) -> str:
    """`{"old": {...}, "new": {...}}` as "Balance below (tokens): off → 1,000; ..." (the changed ones)."""
    try:
        change = json.loads(code)
        old, new = change["old"], change["new"]
    except (ValueError, KeyError, TypeError):
        return _text(code)
    parts = []
    for name, label in _THRESHOLDS.items():
        before, after = old.get(name), new.get(name)
        if before != after:
            parts.append(f"{t(label)}: {_threshold(before)} → {_threshold(after)}")
    return "; ".join(parts) or EMPTY


def _threshold(value: object) -> str:
    if value is None:
        return t("alerts.off")
    return fmt.tokens(value) if isinstance(value, int) else f"{value:g}" if isinstance(value, float) else str(value)


def sessions_tab(settings: Settings, config: AuthConfig, admin: User) -> None:
    """Active sessions (end one, or all of a user's) and throttled sign-ins (unlock)."""
    sessions = auth.sessions_for(settings, config)
    now = users.clock()
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
                t("admin.column_address"): [_text(s.address) for s in active],
                t("admin.column_browser"): [_text(s.user_agent) for s in active],
                t("admin.column_session"): [s.session_key[:12] for s in active],
            }
        )
        st.dataframe(table, hide_index=True)
        labels = {
            s.session_key: " · ".join(
                [s.username, _text(s.address), _when(s.last_seen_at, settings), s.session_key[:12]]
            )
            for s in active
        }
        chosen = st.selectbox(t("admin.session_choice"), list(labels), format_func=labels.get, key="admin_session")
        end_one, end_all, _ = st.columns([1, 1, 2])
        if end_one.button(t("admin.end_session"), key="admin_end_session") and chosen:
            sessions.revoke_key(chosen, admin.username, users.clock())
            st.session_state["admin_sessions_done"] = t("admin.session_ended", user=_user_of(active, chosen))
            st.rerun()
        if end_all.button(t("admin.end_all"), key="admin_end_all") and chosen:
            username = _user_of(active, chosen)
            count = sessions.revoke_all(username, admin.username, users.clock())
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
    if len(entries) > MAX_PAUSED:  # a guess spread over thousands of addresses: the latest are shown
        st.caption(t("admin.throttle_more", shown=fmt.tokens(MAX_PAUSED), total=fmt.tokens(len(entries))))
        entries = entries[:MAX_PAUSED]
    st.dataframe(
        pd.DataFrame(
            {
                t("admin.column_scope"): [t(f"admin.scope_{e.scope}") for e in entries],
                t("admin.column_value"): [e.value for e in entries],
                t("admin.column_from"): [_text(e.address) if e.scope == "username" else EMPTY for e in entries],
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
        throttle.unlock(target[0], target[1], admin.username, users.clock())
        st.success(t("admin.unlocked", value=target[1]))


def _user_of(active: list, key: str) -> str:
    return next(s.username for s in active if s.session_key == key)


def audit_tab(settings: Settings) -> None:
    """The audit log filtered by kind, person, account and time, newest first; the same rows as a formula-safe CSV."""
    log = AuditLog(data.app_db().connection)
    today = users.clock().astimezone(settings.zone).date()
    kind_col, user_col, account_col = st.columns(3)
    kinds = [*audit.KINDS, "other"]
    chosen = kind_col.multiselect(
        t("admin.audit_kind"), kinds, format_func=lambda kind: t(f"audit.kind.{kind}"),
        placeholder=t("admin.audit_all"), key="admin_audit_kind",
    )  # fmt: skip
    user = user_col.text_input(t("admin.audit_actor"), help=t("admin.audit_actor_help"), key="admin_audit_actor")
    account = account_col.text_input(t("admin.audit_account"), key="admin_audit_account").strip()
    dates_col, from_col, to_col = st.columns([2, 1, 1])
    dates = dates_col.date_input(
        t("admin.audit_dates"), value=(today - timedelta(days=30), today), key="admin_audit_dates"
    )
    start = from_col.time_input(t("admin.audit_from"), value=time(0), step=300, key="admin_audit_from")
    end = to_col.time_input(t("admin.audit_to"), value=None, step=300, key="admin_audit_to")
    since = until = None
    if isinstance(dates, tuple | list) and len(dates) == 2:
        since = datetime.combine(dates[0], start or time(0), tzinfo=settings.zone)
        if end is None:  # to the end of the last day
            until = datetime.combine(dates[1] + timedelta(days=1), time(0), tzinfo=settings.zone)
        else:
            until = datetime.combine(dates[1], end, tzinfo=settings.zone) + timedelta(minutes=1)
    actions = [action for kind in chosen for action in audit.actions_of(kind)] if chosen else None
    rows = log.entries(since=since, until=until, user=user.strip(), actions=actions, account_id=account, limit=MAX_ROWS)
    if rows.empty:
        st.info(t("admin.audit_empty"))
        return
    st.caption(t("admin.audit_count", count=fmt.tokens(len(rows)), zone=settings.timezone))
    st.dataframe(audit_table(rows, settings), hide_index=True)
    st.download_button(
        t("admin.audit_csv"),
        audit_csv(rows, settings),
        file_name="audit-log.csv",
        mime="text/csv",
        key="admin_audit_download",
    )


def audit_table(rows: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The log's rows as the page shows them: names and sentences in the session's language, "—" for nothing."""
    records = rows.to_dict("records")
    return pd.DataFrame(
        {
            t("admin.column_when"): [_when(r["event_at"], settings) for r in records],
            t("admin.column_actor"): [_text(r["actor"]) for r in records],
            t("admin.column_action"): [action_name(r["action"]) for r in records],
            t("admin.column_account_id"): [_text(r["account_id"]) for r in records],
            t("admin.column_target"): [target_text(r["action"], r["target"]) for r in records],
            t("admin.column_detail"): [detail_text(r["action"], r["detail"], r["count"]) for r in records],
            t("admin.column_address"): [_text(r["address"]) for r in records],
        },
        dtype=object,
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

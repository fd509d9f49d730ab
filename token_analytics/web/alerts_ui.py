"""Alerts on the pages: the /analysis banner, the thresholds form, and the admin's delivery status.

The banner is computed by `alerts.rules.firing` (the same evaluation as `python -m token_analytics
alerts`), so the page and the notifications agree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from token_analytics.accounts.users import User
from token_analytics.alerts import rules as alerts
from token_analytics.alerts.rules import Condition
from token_analytics.alerts.state import Thresholds
from token_analytics.appdb import AppDB
from token_analytics.db.appfile import AppDBError
from token_analytics.engine.store import Store
from token_analytics.settings import Settings
from token_analytics.web import fmt, ui
from token_analytics.web.i18n import t

HISTORY_SHOWN = 5


def _text(condition: Condition) -> str:
    detail = condition.detail
    if condition.rule == "balance":
        return t(
            "alerts.banner.balance", balance=fmt.tokens(detail["balance"]), threshold=fmt.tokens(condition.threshold)
        )
    if condition.rule == "runway":
        if detail["status"] == "overdrawn":
            return t("alerts.banner.overdrawn")
        until = date.fromisoformat(str(detail["runs_out_on"]))
        return t(
            "alerts.banner.runway",
            days=fmt.tokens(condition.value),
            date=fmt.day_words(until),
            threshold=fmt.tokens(condition.threshold),
        )
    return t(
        "alerts.banner.usage_spike",
        today=fmt.tokens(detail["today"]),
        k=f"{condition.threshold:g}",
        median=fmt.tokens(detail["median"]),
    )


def section(store: Store, app: AppDB, account_id: str, user: User, settings: Settings) -> None:
    """/analysis: the banner of the account's firing alerts, then (manager, admin; SaaS) the thresholds form.

    The banner's place is taken first and filled after the form, so a save shows at once. Self-hosted,
    /analysis keeps only the usage card (SPEC §5): the form is on /admin (`admin_section`).
    """
    slot = st.container()
    if settings.saas:
        thresholds_form(app, account_id, user, settings)
    with slot:
        banner(store, app, account_id, settings.now(), settings.mode)


def banner(store: Store, app: AppDB, account_id: str, now: datetime, mode: str) -> None:
    """One red line per alert of the account firing now; nothing when none fires."""
    for condition in alerts.firing(store, app.alerts, account_id, now, mode):
        st.error(_text(condition), icon=":material/notifications_active:")


def _off(value: float | None) -> bool:
    return value is None or bool(pd.isna(value))


def _count(value: float | None) -> str:
    """A threshold in tokens or days, with the language's separators (5,000,000), or "off"."""
    return t("alerts.off") if _off(value) else fmt.tokens(value)


def _multiple(value: float | None) -> str:
    return t("alerts.off") if _off(value) else f"{value:g}"


_RULE_COLUMNS = (("balance", "balance_below"), ("runway", "runway_days_below"), ("multiple", "usage_multiple"))


def change_sentence(row: Any, zone: str | ZoneInfo) -> str:
    """One kept change as a sentence: when, who, and each threshold that changed with what it was before."""
    parts: list[str] = []
    for name, column in _RULE_COLUMNS:
        show = _multiple if name == "multiple" else _count
        old, new = getattr(row, f"old_{column}"), getattr(row, column)
        if (_off(old) and _off(new)) or (not _off(old) and not _off(new) and old == new):
            continue
        if _off(new):
            parts.append(t(f"alerts.change.{name}_off", old=show(old)))
        else:
            parts.append(t(f"alerts.change.{name}", new=show(new), old=show(old)))
    return t(
        "alerts.change",
        at=fmt.when(row.changed_at, zone, with_zone=False),
        by=fmt.plain(row.changed_by),  # a user name can come from single sign-on: shown literally
        what=t("alerts.change.and").join(parts),
    )


def current_sentence(thresholds: Thresholds, saas: bool) -> str:
    """The thresholds in force, formatted as numbers (the form's fields show them without separators)."""
    parts: list[str] = []
    if saas and thresholds.balance_below is not None:
        parts.append(t("alerts.now.balance", value=fmt.tokens(thresholds.balance_below)))
    if saas and thresholds.runway_days_below is not None:
        parts.append(t("alerts.now.runway", value=fmt.tokens(thresholds.runway_days_below)))
    if thresholds.usage_multiple is not None:
        parts.append(t("alerts.now.multiple", value=f"{thresholds.usage_multiple:g}"))
    return t("alerts.now", what=t("alerts.change.and").join(parts)) if parts else t("alerts.now.none")


def _threshold_input(label: str, minimum: float, step: float, value: float | None, key: str) -> float | None:
    """One threshold of the form, empty when off; ints in give an int field (Streamlit keeps the type)."""
    return st.number_input(label, min_value=minimum, step=step, value=value, placeholder=t("alerts.off"), key=key)


def thresholds_form(app: AppDB, account_id: str, user: User, settings: Settings, page: str = "analysis") -> None:
    """The account's thresholds for a manager or admin (an analyst sees nothing); every change is kept.

    `page` prefixes the widget keys (the form is on /analysis, and self-hosted on /admin).
    """
    if not user.can_buy:
        return
    current = app.alerts.thresholds(account_id)
    with st.expander(t("alerts.title"), icon=":material/notifications:"):
        st.caption(t("alerts.intro"))
        in_force = st.empty()  # filled after a save is handled, so it shows what was just saved
        with st.form(f"{page}_alerts_form"):
            balance = runway = None
            if settings.saas:
                balance = _threshold_input(
                    t("alerts.balance_below"), 1, 1000, current.balance_below, f"{page}_alerts_balance"
                )
                runway = _threshold_input(
                    t("alerts.runway_below"), 1, 1, current.runway_days_below, f"{page}_alerts_runway"
                )
            multiple = _threshold_input(
                t("alerts.usage_multiple"), 0.1, 0.5, current.usage_multiple, f"{page}_alerts_multiple"
            )
            saved = st.form_submit_button(t("alerts.save"), type="primary")
        if saved:
            new = Thresholds(
                None if balance is None else int(balance),
                None if runway is None else int(runway),
                None if multiple is None else float(multiple),
            )
            if not settings.saas:  # balance and runway do not exist self-hosted; keep what was set
                new = Thresholds(current.balance_below, current.runway_days_below, new.usage_multiple)
            try:
                changed = app.alerts.set_thresholds(account_id, new, user.username)
            except AppDBError as exc:
                ui.show_error(exc, ui.error_message(exc))
            else:
                st.success(t("alerts.saved" if changed else "alerts.unchanged"))
        in_force.caption(current_sentence(app.alerts.thresholds(account_id), settings.saas))
        changes = app.alerts.threshold_changes(account_id).head(HISTORY_SHOWN)
        if len(changes):
            st.markdown(t("alerts.history"))
            for row in changes.itertuples():
                st.caption(change_sentence(row, settings.zone))


def admin_section(app: AppDB, user: User, settings: Settings) -> None:
    """/admin's Alerts tab: the delivery status; self-hosted also the thresholds form of the sidebar's account."""
    st.subheader(t("alerts.deliveries"))
    if not settings.saas:
        thresholds_form(app, ui.current_account(user), user, settings, page="admin")
    delivery_status(app, settings)


def delivery_status(app: AppDB, settings: Settings) -> None:
    """The webhooks configured, and per receiver the last attempt, the last error and what waits."""
    st.caption(t("alerts.receivers", count=len(settings.alert_webhooks)))
    status = app.alerts.receiver_status()
    if status.empty:
        st.info(t("alerts.no_deliveries"))
        return
    for row in status.itertuples():
        if row.last_ok is not None and not pd.isna(row.last_ok) and not bool(row.last_ok):
            st.error(
                t(
                    "alerts.receiver_down",
                    # the error is the receiver's own text (an HTML page, a JSON errmsg): shown literally
                    receiver=fmt.plain(row.receiver),
                    at=fmt.when(row.last_failure_at, settings.zone),
                    error=fmt.plain(row.last_error),
                    pending=int(row.pending),
                )
            )
    st.dataframe(
        status,
        hide_index=True,
        column_config={name: t(f"alerts.column.{name}") for name in status.columns},
    )

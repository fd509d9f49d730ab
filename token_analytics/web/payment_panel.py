"""The payment flow shared by /recharge and /subscription (SPEC §6).

A session pays one order at a time: `start_order` stores it and remembers its id in the
session, and a repeat of the same order while it is still PENDING (a double click, a rerun)
returns that order instead of creating a second one. `payment_panel` draws how to pay it:
a QR code and payment link for WECHAT/ALIPAY, with the sandbox's "Simulate payment" button;
transfer instructions with the unique reference for BANK_TRANSFER, which stays PENDING until
an admin confirms it. Crediting is AppDB.mark_paid's job: exactly once per order.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from token_analytics.accounts.users import User
from token_analytics.appdb import AppDB
from token_analytics.billing.orders import Order, OrderStatus
from token_analytics.billing.payments import WALLET_METHODS, PaymentProvider
from token_analytics.billing.prices import Plan, Prices, PricesError, load_prices
from token_analytics.db.appfile import AppDBError
from token_analytics.web import fmt, ui
from token_analytics.web.i18n import current_language, t

ORDER_KEY = "recharge_order"  # session state: the id of the order this session is paying


@cache
def _prices(path: Path, mtime: float) -> Prices:
    return load_prices(path)


def plan_name(money: Prices, plan_id: object) -> str:
    """A plan's name in the session's language (config/prices.yaml `name_zh`, ...); an unknown id as it is."""
    try:
        return money.plan(str(plan_id)).name_in(current_language())
    except KeyError:
        return "" if plan_id is None or pd.isna(plan_id) else str(plan_id)


def plan_features(plan: Plan) -> tuple[str, ...]:
    """A plan's features in the session's language."""
    return plan.features_in(current_language())


def prices(path: Path) -> Prices:
    """The prices file (re-read when it changes); a broken file stops the page with one line."""
    try:
        return _prices(path, path.stat().st_mtime if path.exists() else 0.0)
    except PricesError as exc:
        ui.show_error(exc, ui.error_message(exc))
        st.stop()
        raise  # st.stop() raises; this line is for type checkers


def open_order(appdb: AppDB, account_id: str, kind: str) -> Order | None:
    """The order of `kind` ("recharge" or "plan") that the page shows for `account_id`.

    This session's order while it is PENDING; else the account's newest PENDING order of that
    kind, so an order started in an earlier visit (or another tab) can still be paid or
    cancelled; else this session's finished order, so its outcome is shown. An admin who
    switched account sees that account's orders only.
    """
    order_id = st.session_state.get(ORDER_KEY)
    mine = appdb.order(order_id) if order_id else None
    if mine is not None and (mine.account_id != account_id or mine.kind != kind):
        mine = None
    if mine is not None and mine.status == OrderStatus.PENDING:
        return mine
    orders = appdb.orders_for(account_id)  # newest first
    pending = orders[(orders["status"] == OrderStatus.PENDING) & (orders["kind"] == kind)]
    if len(pending):
        adopted = str(pending["order_id"].iloc[0])
        st.session_state[ORDER_KEY] = adopted  # from now on this session's order: its outcome stays shown
        return appdb.order(adopted)
    return mine


# What the Enterprise contact field accepts: an e-mail address, or a phone number of 7 to 15
# digits written with the usual separators (+86 138-0000-0000, (021) 5555 0100).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]{2,}")
_PHONE = re.compile(r"\+?[\d\s().-]+")


def valid_contact(text: str) -> bool:
    """Whether `text` is an e-mail address or a phone number someone can be reached at."""
    value = text.strip()
    if _EMAIL.fullmatch(value):
        return True
    return bool(_PHONE.fullmatch(value)) and 7 <= sum(char.isdigit() for char in value) <= 15


def is_open(order: Order | None, kind: str, tokens: int, method: str, plan: str | None = None) -> bool:
    """Whether `order` is a still-PENDING order with exactly this content."""
    return (
        order is not None
        and order.status == OrderStatus.PENDING
        and (order.kind, order.tokens, order.method, order.plan) == (kind, tokens, method, plan)
    )


def start_order(
    appdb: AppDB,
    account_id: str,
    user: User,
    kind: str,
    tokens: int,
    price_cents: int,
    method: str,
    currency: str,
    plan: str | None = None,
) -> Order:
    """Create the order, unless this session's open order is the same one (then return that)."""
    current = open_order(appdb, account_id, kind)
    if is_open(current, kind, tokens, method, plan):
        return current  # type: ignore[return-value]
    order = appdb.create_order(
        account_id, user.username, kind, tokens, price_cents, method, plan=plan, currency=currency
    )
    st.session_state[ORDER_KEY] = order.order_id
    return order


def show(order: Order, appdb: AppDB, provider: PaymentProvider, user: User, money: Prices) -> None:
    """How to pay `order`, or what became of it."""
    what = t("recharge.what_plan", plan=plan_name(money, order.plan)) if order.kind == "plan" else ""
    st.markdown(
        t(
            "recharge.order_summary",
            order=order.order_id,
            tokens=fmt.tokens(order.tokens),
            price=money.format_price(order.price_cents),
            method=fmt.method_label(order.method),
        )
        + what
    )
    if order.status == OrderStatus.PAID:
        st.success(t("recharge.paid", tokens=fmt.tokens(order.tokens)), icon=":material/check_circle:")
        return
    if order.status == OrderStatus.CANCELLED:
        st.warning(t("recharge.cancelled", note=order.status_note or t("method.none")))
        return
    if order.method in WALLET_METHODS:
        link = provider.payment_link(order)
        qr, how = st.columns([1, 2])
        qr.image(provider.qr_png(order), caption=t("recharge.scan", method=fmt.method_label(order.method)), width=220)
        how.code(link, language=None)
        if provider.is_sandbox:
            how.warning(t("recharge.sandbox_qr"), icon=":material/science:")
            if how.button(t("recharge.simulate"), type="primary", key="recharge_simulate"):
                try:
                    provider.simulate_payment(appdb, order.order_id, actor=user.username)  # type: ignore[attr-defined]
                except AppDBError as exc:
                    ui.show_error(exc, ui.error_message(exc))
                else:
                    st.rerun()  # so the balance above shows the credit
    else:
        instructions = provider.bank_instructions(order)
        st.info(t("recharge.bank_pending"), icon=":material/account_balance:")
        # one column headed in the person's language, each row named by its label (no "field" / "value" header)
        labels = [t(f"recharge.bank_{key}") for key in ("bank_name", "account_name", "account_number")]
        st.table(
            pd.DataFrame(
                {
                    t("recharge.bank_details"): [
                        str(instructions["bank_name"]),
                        str(instructions["account_name"]),
                        str(instructions["account_number"]),
                        str(instructions["reference"]),
                        money.format_price(order.price_cents),
                    ],
                },
                index=pd.Index([*labels, t("recharge.bank_reference"), t("recharge.bank_amount")]),
            )
        )
    if st.button(t("recharge.cancel"), key="recharge_cancel"):
        try:
            appdb.cancel(order.order_id, user.username, note=t("recharge.cancelled_by_buyer"))
        except AppDBError as exc:
            ui.show_error(exc, ui.error_message(exc))
        else:
            st.rerun()


def orders_frame(orders: pd.DataFrame, money: Prices, zone: ZoneInfo) -> pd.DataFrame:
    """An account's orders as people read them (AppDB.orders_for's rows, newest first)."""
    return pd.DataFrame(
        {
            "created_at": [fmt.when(at, zone, with_zone=False) for at in orders["created_at"]],
            "order_id": orders["order_id"],
            "kind": [
                t("recharge.kind_plan", plan=plan_name(money, plan)) if kind == "plan" else t("recharge.kind_recharge")
                for kind, plan in zip(orders["kind"], orders["plan"], strict=True)
            ],
            "tokens": orders["tokens"].astype("int64"),
            "price": [money.format_price(int(cents)) for cents in orders["price_cents"]],
            "method": [fmt.method_label(method) for method in orders["method"]],
            "reference": orders["reference"],
            "status": [t(OrderStatus(status).message_id) for status in orders["status"]],
            "created_by": orders["created_by"],
        }
    )


def orders_column_config(zone_name: str) -> dict[str, object]:
    return {
        "created_at": t("column.time_in", zone=zone_name),
        "order_id": t("recharge.column_order"),
        "kind": t("column.type"),
        "tokens": st.column_config.NumberColumn(t("column.tokens"), format="localized"),
        "price": t("recharge.column_price"),
        "method": t("column.method"),
        "reference": t("recharge.column_reference"),
        "status": t("recharge.column_status"),
        "created_by": t("recharge.column_by"),
    }

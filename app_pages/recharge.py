"""Recharge (/recharge, SaaS, managers and admins): buy tokens by WeChat Pay, Alipay or bank transfer."""

import streamlit as st

from token_analytics.billing.orders import METHODS
from token_analytics.billing.payments import get_provider
from token_analytics.db.appfile import AppDBError
from token_analytics.engine.figures import token_usage
from token_analytics.web import context, fmt, payment_panel, ui
from token_analytics.web.i18n import t

CUSTOM = 0  # the "custom amount" choice among the package sizes

page = context.current("buy")
user, account, settings, store, appdb = page.user, page.account, page.settings, page.store, page.app_db
provider = get_provider()
money = payment_panel.prices(settings.prices_file)

st.title(t("page.recharge"))
if provider.is_sandbox:
    st.warning(t("recharge.sandbox_banner", provider=provider.name), icon=":material/science:")
balance = token_usage(store, account, settings.mode, 0).remaining
st.metric(t("recharge.balance", account=ui.account_markdown(account)), fmt.tokens(balance))

# --- what to buy ---------------------------------------------------------------------------
st.subheader(t("recharge.choose"))
rule = money.custom
choice = st.radio(
    t("recharge.package"),
    [package.tokens for package in money.packages] + [CUSTOM],
    format_func=lambda tokens: (
        t("recharge.custom")
        if tokens == CUSTOM
        else t("recharge.package_label", tokens=fmt.tokens(tokens), price=money.format_price(money.price_for(tokens)))
    ),
    horizontal=True,
    key="recharge_package",
)
tokens = choice
if choice == CUSTOM:
    tokens = st.number_input(
        t("recharge.custom_tokens", step=fmt.tokens(rule.step_tokens)),
        min_value=rule.min_tokens,
        max_value=rule.max_tokens,
        step=rule.step_tokens,
        key="recharge_custom",
    )
method = st.radio(
    t("recharge.method"), METHODS, format_func=lambda m: t(f"method.{m}"), horizontal=True, key="recharge_method"
)
try:
    price = money.price_for(int(tokens))
except ValueError as exc:
    bounds = {
        "low": fmt.tokens(rule.min_tokens),
        "high": fmt.tokens(rule.max_tokens),
        "step": fmt.tokens(rule.step_tokens),
    }
    ui.show_error(exc, t("recharge.bad_amount", **bounds))
    st.stop()
st.metric(t("recharge.price"), money.format_price(price), help=t("recharge.price_help", tokens=fmt.tokens(tokens)))

# A second click on the same, still unpaid order shows that order instead of making another; an
# order left unpaid in an earlier visit is shown again, so it can be paid or cancelled.
current = payment_panel.open_order(appdb, account, "recharge")
already = payment_panel.is_open(current, "recharge", int(tokens), method)
if st.button(t("recharge.create"), type="primary", disabled=already, key="recharge_create"):
    try:
        current = payment_panel.start_order(
            appdb, account, user, "recharge", int(tokens), price, method, money.currency
        )
    except AppDBError as exc:
        ui.show_error(exc, ui.error_message(exc))
if already:
    st.caption(t("recharge.already_open"))

# --- the order being paid -------------------------------------------------------------------
if current is not None:
    st.subheader(t("recharge.your_order"))
    with st.container(border=True):
        payment_panel.show(current, appdb, provider, user, money)

# --- every order of the account -------------------------------------------------------------
st.subheader(t("recharge.orders"))
orders = appdb.orders_for(account)
if orders.empty:
    st.info(t("recharge.no_orders"))
else:
    st.dataframe(
        payment_panel.orders_frame(orders, money, settings.zone),
        hide_index=True,
        column_config=payment_panel.orders_column_config(settings.timezone),
    )

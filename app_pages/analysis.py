"""Analytics Center (/analysis): every figure of SPEC §4 for the signed-in user's account."""

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from token_analytics.engine.explore import daily_tokens
from token_analytics.engine.figures import LEADERBOARD_LIMIT, RECENT_LIMIT, analysis_figures, current_plan
from token_analytics.engine.periods import Windows
from token_analytics.web import alerts_ui, charts, data, explore_ui, fmt, payment_panel, tables, ui
from token_analytics.web.i18n import t

user = ui.require(ui.current_user())
account = ui.current_account(user)
settings = data.settings()
store = data.store()
figures = analysis_figures(store, account, settings.now(), settings.mode)
health = store.health()
usage = figures["token_usage"]
zone = settings.timezone
windows = Windows.at(settings.now(), settings.zone)
day, month_name = fmt.day(windows.today), fmt.month(windows.month_start)


def recent_rows(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """The recent-transactions table, formatted from the figures' Python values (None, never NaN)."""
    return pd.DataFrame(
        [
            {
                "type": t(f"txn.{entry['type']}"),
                "amount": entry["amount"],
                # fromisoformat, not pd.Timestamp: a time before 1901 has a seconds offset (+08:05:43, LMT)
                "created_at": fmt.when(datetime.fromisoformat(entry["created_at"]), settings.zone, with_zone=False),
                "payment_method": fmt.method_label(entry["payment_method"]),
                "description": entry["description"] or "",
            }
            for entry in entries
        ],
        columns=["type", "amount", "created_at", "payment_method", "description"],
    )


st.title(t("page.analysis"))
st.caption(t("analysis.account", account=ui.account_markdown(account)))
alerts_ui.section(store, data.app_db(), account, user, settings)
latest = health.latest_event_at
freshness = (
    t(
        "data.freshness",
        time=fmt.when(latest, settings.zone, with_zone=False),
        zone=settings.timezone,
        files=health.files_read,
    )
    if latest
    else t("data.no_events", files=health.files_read)
)


def quarantine_note(kinds: tuple[str, ...]) -> None:
    rows, files = health.problems(kinds)
    if rows or files:
        st.warning(t("data.quarantine", rows=fmt.tokens(rows), files=files), icon=":material/warning:")


with st.container(border=True):
    if not settings.saas:
        st.subheader(t("section.enterprise"))
        left, right = st.columns(2)
        left.metric(t("usage.total"), t("usage.unlimited"))
        right.metric(t("usage.used"), fmt.compact(usage["used"]), help=t("help.self_hosted_used"))
        right.caption(t("card.exact_all_time", tokens=fmt.tokens(usage["used"])))
        st.caption(t("usage.enterprise_note") + " · " + freshness)
        quarantine_note(("usage_events",))
        st.stop()
    st.subheader(t("section.token_usage"))
    st.caption(t("scope.usage"))
    st.markdown(t("usage.used_of_total", used=fmt.tokens(usage["used"]), total=fmt.tokens(usage["total"])))
    if usage["percent_used"] is None:
        st.progress(0.0, text=t("usage.no_total"))
    else:
        st.progress(
            min(usage["percent_used"] / 100, 1.0), text=t("usage.percent_used", percent=fmt.pct(usage["percent_used"]))
        )
    if usage["remaining"] < 0:
        overdrawn = "usage.overdrawn.buyer" if user.can_buy else "usage.overdrawn.reader"
        st.warning(t(overdrawn, balance=fmt.tokens(usage["remaining"])), icon=":material/warning:")
    explore_ui.show_runway(figures["runway"])
    if user.can_buy and st.button(t("button.recharge"), type="primary", key="analysis_recharge"):
        st.switch_page("app_pages/recharge.py")
    st.caption(t("usage.beta_notice"))
    quarantine_note(("transactions",))

# Offer only the next step up from the plan the account is on now (the same source as /subscription).
plan = current_plan(store, data.app_db(), account)
offer = {
    "free": ("button.upgrade_pro", "analysis_upgrade"),
    "pro": ("button.contact_enterprise", "analysis_enterprise"),
}
st.subheader(t("section.upgrade"))
plan_text, plan_button, _ = st.columns([1, 1, 2], vertical_alignment="center")
plan_text.markdown(t("plan.current", plan=payment_panel.plan_name(payment_panel.prices(settings.prices_file), plan)))
if plan == "enterprise":
    plan_button.caption(t("plan.top"))
elif user.can_buy and plan_button.button(t(offer[plan][0]), key=offer[plan][1]):
    st.switch_page("app_pages/subscription.py")

cards = figures["cards"]
last_day = settings.now().date()
sparkline = daily_tokens(store, account, last_day - timedelta(days=29), last_day)  # the last 30 local days
balance, today, month, calls = st.columns(4)
with balance.container(border=True):
    st.metric(t("card.balance"), fmt.compact(cards["balance"]["tokens"]), help=t("help.balance"))
    st.caption(t("card.exact_all_time", tokens=fmt.tokens(cards["balance"]["tokens"])))
    st.caption(t("card.owner", name=fmt.plain(cards["balance"]["owner_name"] or fmt.MISSING)))
for column, key, period in ((today, "today", "day"), (month, "month", "month")):
    card = cards[key]
    exact = (
        t("card.exact_day", tokens=fmt.tokens(card["tokens"]), day=day, zone=zone)
        if period == "day"
        else t("card.exact_month", tokens=fmt.tokens(card["tokens"]), month=month_name, zone=zone)
    )
    text, direction = fmt.growth_label(card["growth_pct"], card["previous"], card["tokens"], period)
    with column.container(border=True):
        st.metric(
            t(f"card.{key}"),
            fmt.compact(card["tokens"]),
            delta=text,
            delta_color="off" if direction == "same" else "normal",
            delta_arrow={"same": "off", "new": "up"}.get(direction, "auto"),
            help=t(f"help.{key}", day=day, month=month_name, zone=zone),
            chart_data=sparkline,
            chart_type="bar",
        )
        st.caption(exact)
        if key == "month":
            explore_ui.show_month_to_date(figures["month_to_date"])
with calls.container(border=True):
    st.metric(t("card.services"), fmt.compact(cards["service_calls"]), help=t("help.calls"))
    st.caption(t("card.calls_all_time", calls=fmt.tokens(cards["service_calls"])))
st.caption(freshness)
if store.refreshing:
    st.caption(t("data.refreshing"))
quarantine_note(("usage_events",))

st.subheader(t("section.comparison"))
last_month_name = fmt.month(windows.last_month_start)
st.caption(
    t(
        "scope.comparison",
        today=day,
        yesterday=fmt.day(windows.yesterday),
        month=month_name,
        last_month=last_month_name,
        zone=zone,
    )
)
comparison = figures["comparison"]
cols = st.columns(4)
for col, (key, labels) in zip(
    cols,
    [(("today_vs_yesterday", m), (t("period.today"), t("period.yesterday"))) for m in ("tokens", "calls")]
    + [(("month_vs_last_month", m), (t("period.this_month"), t("period.last_month"))) for m in ("tokens", "calls")],
    strict=True,
):
    pair, metric = key
    title = f"{t('comparison.' + pair)} · {t('metric.' + metric)}"
    col.plotly_chart(charts.pair(title, labels, comparison[pair][metric]), key=f"analysis_{pair}_{metric}")

st.subheader(t("section.services"))
st.caption(t("scope.month", month=month_name, zone=zone))
chart_tokens, chart_calls, table = st.columns([2, 2, 3])
chart_tokens.plotly_chart(charts.services(figures["services"], "tokens"), key="analysis_services_tokens")
chart_calls.plotly_chart(charts.services(figures["services"], "calls"), key="analysis_services_calls")
services = pd.DataFrame(figures["services"])
services["service"] = services["service"].map(lambda s: t(f"service.{s}"))
table.dataframe(
    services,
    hide_index=True,
    column_config={
        "service": t("column.service"),
        "tokens": st.column_config.NumberColumn(t("column.tokens"), format="localized"),
        "calls": st.column_config.NumberColumn(t("column.calls"), format="localized"),
    },
)

st.subheader(t("section.recent"))
st.caption(t("scope.recent", limit=RECENT_LIMIT, zone=zone))
entries = figures["recent_transactions"]
if not entries:
    st.info(t("recent.empty"))
else:
    shown = recent_rows(entries)
    st.dataframe(
        tables.style_ledger(shown, pd.Series([entry["type"] for entry in entries])),
        hide_index=True,
        column_config=tables.ledger_columns(
            shown,
            {
                "type": t("column.type"),
                "amount": t("column.amount"),
                "created_at": t("column.time_in", zone=zone),
                "payment_method": t("column.method"),
                "description": t("column.description"),
            },
        ),
    )
if st.button(t("button.view_all"), key="analysis_view_all"):
    st.switch_page("app_pages/token_history.py")

st.subheader(t("section.leaderboard"))
st.caption(t("scope.leaderboard", limit=LEADERBOARD_LIMIT, month=month_name, zone=zone))
leaders = figures["leaderboard"]
if not leaders:
    st.info(t("leaderboard.empty"))
else:
    # Usage without a user_id has no name: "—", never "None".
    board = pd.DataFrame(
        [{**row, "display_name": row["display_name"] or fmt.MISSING} for row in leaders],
        columns=["rank", "display_name", "tokens", "calls", "share_pct"],
    )
    st.dataframe(
        board,
        hide_index=True,
        column_config={
            "rank": t("column.rank"),
            "display_name": t("column.member"),
            "tokens": st.column_config.NumberColumn(t("column.tokens"), format="localized"),
            "calls": st.column_config.NumberColumn(t("column.calls"), format="localized"),
            "share_pct": st.column_config.ProgressColumn(
                t("column.share"), format="%.1f%%", min_value=0, max_value=100
            ),
        },
    )

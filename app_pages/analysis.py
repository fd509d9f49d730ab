"""Analytics Center (/analysis): every figure of SPEC §4 for the signed-in user's account."""

import pandas as pd
import streamlit as st

from token_analytics.engine.figures import analysis_figures
from token_analytics.web import charts, data, fmt, tables, ui
from token_analytics.web.i18n import t

user = ui.require(ui.current_user())
account = ui.current_account(user)
settings = data.settings()
store = data.store()
figures = analysis_figures(store, account, settings.now(), settings.mode)
health = store.health()
usage = figures["token_usage"]

st.title(t("page.analysis"))
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
        right.metric(t("usage.used"), fmt.compact(usage["used"]), help=fmt.tokens(usage["used"]))
        st.caption(t("usage.enterprise_note") + " · " + freshness)
        quarantine_note(("usage_events",))
        st.stop()
    st.subheader(t("section.token_usage"))
    st.markdown(t("usage.used_of_total", used=fmt.tokens(usage["used"]), total=fmt.tokens(usage["total"])))
    if usage["percent_used"] is None:
        st.progress(0.0, text=t("usage.no_total"))
    else:
        st.progress(
            min(usage["percent_used"] / 100, 1.0), text=t("usage.percent_used", percent=fmt.pct(usage["percent_used"]))
        )
    if user.can_buy and st.button(t("button.recharge"), type="primary", key="analysis_recharge"):
        st.switch_page("app_pages/recharge.py")
    st.caption(t("usage.beta_notice"))
    quarantine_note(("transactions",))

if user.can_buy:
    st.subheader(t("section.upgrade"))
    pro, enterprise, _ = st.columns([1, 1, 2])
    if pro.button(t("button.upgrade_pro"), key="analysis_upgrade"):
        st.switch_page("app_pages/subscription.py")
    if enterprise.button(t("button.contact_enterprise"), key="analysis_enterprise"):
        st.switch_page("app_pages/subscription.py")

cards = figures["cards"]
balance, today, month, calls = st.columns(4)
with balance.container(border=True):
    st.metric(t("card.balance"), fmt.compact(cards["balance"]["tokens"]), help=fmt.tokens(cards["balance"]["tokens"]))
    st.caption(t("card.owner", name=cards["balance"]["owner_name"] or "—"))
for column, key, period in ((today, "today", "day"), (month, "month", "month")):
    card = cards[key]
    text, direction = fmt.growth_label(card["growth_pct"], card["previous"], card["tokens"], period)
    with column.container(border=True):
        st.metric(
            t(f"card.{key}"),
            fmt.compact(card["tokens"]),
            delta=text,
            delta_color="off" if direction == "same" else "normal",
            delta_arrow={"same": "off", "new": "up"}.get(direction, "auto"),
            help=fmt.tokens(card["tokens"]),
        )
with calls.container(border=True):
    st.metric(t("card.services"), fmt.compact(cards["service_calls"]), help=fmt.tokens(cards["service_calls"]))
    st.caption(t("card.calls_all_time"))
st.caption(freshness)
if store.refreshing:
    st.caption(t("data.refreshing"))
quarantine_note(("usage_events",))

st.subheader(t("section.comparison"))
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
recent = pd.DataFrame(figures["recent_transactions"])
if recent.empty:
    st.info(t("recent.empty"))
else:
    recent["created_at"] = recent["created_at"].map(lambda v: fmt.when(pd.Timestamp(v), settings.zone, with_zone=False))
    recent["label"] = recent["type"].map(lambda v: t(f"txn.{v}"))
    recent["payment_method"] = recent["payment_method"].map(lambda v: t(f"method.{v}") if v else t("method.none"))
    shown = recent[["label", "amount", "created_at", "payment_method", "description"]].rename(columns={"label": "type"})
    st.dataframe(
        tables.style_ledger(shown, recent["type"]),
        hide_index=True,
        column_config=tables.ledger_columns(
            shown,
            {
                "type": t("column.type"),
                "amount": t("column.amount"),
                "created_at": t("column.time_in", zone=settings.timezone),
                "payment_method": t("column.method"),
                "description": t("column.description"),
            },
        ),
    )
if st.button(t("button.view_all"), key="analysis_view_all"):
    st.switch_page("app_pages/token_history.py")

st.subheader(t("section.leaderboard"))
board = pd.DataFrame(figures["leaderboard"])
if board.empty:
    st.info(t("leaderboard.empty"))
else:
    st.dataframe(
        board[["rank", "display_name", "tokens", "calls", "share_pct"]],
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

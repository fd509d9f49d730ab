"""How /analysis looks, section by section: the usage card, the plan offer, the cards, the comparison, services,
recent entries and the leaderboard (the figures are engine/figures.py's; the page lists the sections in order).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from token_analytics.engine.explore import previous_month_to_date_end
from token_analytics.engine.figures import LEADERBOARD_LIMIT, RECENT_LIMIT
from token_analytics.engine.periods import TodaySoFar, Windows
from token_analytics.engine.store import Health
from token_analytics.engine.values import FigureSet, Transaction
from token_analytics.web import charts, data, explore_ui, fmt, payment_panel, tables
from token_analytics.web.context import PageContext
from token_analytics.web.i18n import current_language, t

# The progress bar turns the warning colour when more than everything credited has been used. Static CSS
# (no data in it), scoped to the keyed container the bar is drawn in.
OVERDRAWN_CSS = (
    "<style>.st-key-analysis_usage_overdrawn [data-testid='stProgressBarTrack'] > div"
    " { background-color: #dc2626 !important; }</style>"
)


@dataclass(frozen=True)
class Analysis:
    """One run of /analysis: the page context, the account's figure set and data health, and the time words."""

    page: PageContext
    figures_key: tuple[Hashable, ...]  # the charts are kept by it too
    figures: FigureSet
    health: Health
    windows: Windows
    so_far: TodaySoFar
    day: str
    month_name: str
    now_time: str

    @classmethod
    def of(cls, page: PageContext) -> Analysis:
        """The figures once per run (the app-entry count is read once: it keys both the figure set and its charts)."""
        settings, store, account, now = page.settings, page.store, page.account, page.now
        figures_key = data.figure_key(store, account, now, settings.mode)
        windows = Windows.at(now, settings.zone)
        return cls(
            page=page,
            figures_key=figures_key,
            figures=data.figure_set(store, account, now, settings.mode, figures_key),
            health=data.health(store),
            windows=windows,
            so_far=TodaySoFar.at(now, settings.zone),
            day=fmt.day(windows.today),
            month_name=fmt.month(windows.month_start),
            now_time=fmt.clock(now, settings.zone),
        )

    def chart(self, name: str, build: Callable[[], charts.Spec]) -> charts.Spec:
        """A chart built once per figure set and language (building a chart costs more than the figures)."""
        return data.memo(self.page.store, "chart", build, *self.figures_key, current_language(), name)

    def freshness(self) -> str:
        """When the newest event of the exports happened, and how many files were read."""
        settings, health = self.page.settings, self.health
        latest = health.latest_event_at
        return (
            t(
                "data.freshness",
                time=fmt.when(latest, settings.zone, with_zone=False),
                zone=settings.timezone,
                files=health.files_read,
            )
            if latest
            else t("data.no_events", files=health.files_read)
        )

    def quarantine_note(self, kinds: tuple[str, ...]) -> None:
        """The page's one data-health warning: rows and files of every export kind its figures read, counted once."""
        rows, files = self.health.problems(kinds)
        if rows or files:
            st.warning(t("data.quarantine", rows=fmt.tokens(rows), files=files), icon=":material/warning:")


def enterprise_usage(run: Analysis) -> None:
    """Self-hosted: the whole usage card, unlimited total and tokens used so far."""
    usage = run.figures.token_usage
    st.subheader(t("section.enterprise"))
    left, right = st.columns(2)
    left.metric(t("usage.total"), t("usage.unlimited"))
    right.metric(t("usage.used"), fmt.compact(usage.used), help=t("help.self_hosted_used"))
    right.caption(t("card.exact_all_time", tokens=fmt.tokens(usage.used)))
    st.caption(t("usage.enterprise_note") + " · " + run.freshness())
    run.quarantine_note(("usage_events",))


def token_usage(run: Analysis) -> None:
    """SaaS: used of total, the progress bar, the balance (red when overdrawn), the runway and the recharge button."""
    user, usage = run.page.user, run.figures.token_usage
    remaining = usage.remaining
    assert remaining is not None  # SaaS: a ledger always gives a balance
    st.subheader(t("section.token_usage"))
    st.caption(t("scope.usage"))
    st.markdown(t("usage.used_of_total", used=fmt.tokens(usage.used), total=fmt.tokens(usage.total)))
    overdrawn = remaining < 0 or (usage.percent_used or 0) > 100
    bar = st.container(key="analysis_usage_overdrawn" if overdrawn else "analysis_usage_bar")
    if usage.percent_used is None:
        bar.progress(0.0, text=t("usage.no_total"))
    else:
        percent = t("usage.percent_used", percent=fmt.pct(usage.percent_used))
        bar.progress(min(usage.percent_used / 100, 1.0), text=f":red[**{percent}**]" if overdrawn else percent)
    if overdrawn:
        st.html(OVERDRAWN_CSS)
    balance_line = t("usage.balance_line", balance=fmt.tokens(remaining))
    st.markdown(f":red[**{balance_line}**]" if remaining < 0 else balance_line)
    if remaining < 0:
        advice = "usage.overdrawn.buyer" if user.can_buy else "usage.overdrawn.reader"
        st.warning(t(advice, balance=fmt.tokens(remaining)), icon=":material/warning:")
    explore_ui.show_runway(run.figures.runway)
    if user.can_buy and st.button(t("button.recharge"), type="primary", key="analysis_recharge"):
        st.switch_page("app_pages/recharge.py")
    st.caption(t("usage.beta_notice"))


def plan_offer(run: Analysis) -> None:
    """The current plan, and only the next step up from it (the same source as /subscription)."""
    page = run.page
    user, account, settings, store = page.user, page.account, page.settings, page.store
    plan = page.app_db.current_plan(account, data.exported_plan_of(store, account))
    offer = {
        "free": ("button.upgrade_pro", "analysis_upgrade"),
        "pro": ("button.contact_enterprise", "analysis_enterprise"),
    }
    plan_text, plan_button, _ = st.columns([1, 1, 2], vertical_alignment="center")
    plan_text.markdown(
        t("plan.current", plan=payment_panel.plan_name(payment_panel.prices(settings.prices_file), plan))
    )
    if plan == "enterprise":
        plan_button.caption(t("plan.top"))
    elif user.can_buy and plan_button.button(t(offer[plan][0]), key=offer[plan][1]):
        st.switch_page("app_pages/subscription.py")


def arrow(current: int, previous: int, growth: float | None, period: str) -> dict[str, Any]:
    """st.metric's delta arguments for a like-for-like growth (SPEC §9): the text and how its arrow is drawn."""
    text, direction = fmt.growth_label(growth, previous, current, period)  # type: ignore[arg-type]
    return {
        "delta": text,
        "delta_color": "off" if direction == "same" else "normal",
        "delta_arrow": {"same": "off", "new": "up"}.get(direction, "auto"),
    }


def month_span_text(run: Analysis) -> str:
    """What the Monthly card's arrow compares with: "Nov 1 – 6 to 10:42", the same span of last month."""
    settings, windows, mtd = run.page.settings, run.windows, run.figures.month_to_date
    end = previous_month_to_date_end(run.page.now, settings.zone).astimezone(settings.zone)
    if end.date() == windows.month_start:  # last month is shorter: all of it
        return t("card.vs_all_last_month", previous=fmt.tokens(mtd.previous))
    if end.date() == windows.last_month_start and end.time() == end.time().min:
        return t("card.vs_month_nothing")
    if end.time() == end.time().min:  # ends at a midnight: whole days, up to the day before
        span = fmt.day_span(windows.last_month_start, end.date() - timedelta(days=1))
    else:
        days = fmt.day_span(windows.last_month_start, end.date())
        span = t("card.span_to_time", days=days, time=fmt.clock(end, settings.zone))
    return t("card.vs_month_span", span=span, previous=fmt.tokens(mtd.previous))


def spark(run: Analysis, where: Any, values: list[int], labels: list[str], metric: str, caption: str, key: str) -> None:
    figure = run.chart(key, partial(charts.sparkline, values, labels, metric))
    charts.draw(where, figure, key)
    where.caption(caption)


def four_cards(run: Analysis) -> None:
    """The four cards: balance, today so far, this month so far, service calls; each with its sparkline."""
    page, figures, day, month_name = run.page, run.figures, run.day, run.month_name
    zone = page.settings.timezone
    cards = figures.cards
    assert cards is not None and figures.comparison is not None  # SaaS: the self-hosted page stopped above
    series = data.card_series_of(page.store, page.account, page.now)
    tsf, mtd = figures.today_so_far, figures.month_to_date
    day_labels = [fmt.day(d) for d in series["days"]]
    balance, today, month, calls = st.columns(4)
    with balance.container(border=True):
        st.metric(t("card.balance"), fmt.compact(cards.balance.tokens), help=t("help.balance"))
        st.caption(t("card.exact_all_time", tokens=fmt.tokens(cards.balance.tokens)))
        if cards.balance.tokens is not None and cards.balance.tokens < 0:
            st.markdown(":red[**" + t("card.overdrawn", tokens=fmt.tokens(-cards.balance.tokens)) + "**]")
        st.caption(t("card.owner", name=fmt.plain(cards.balance.owner_name or fmt.MISSING)))
    with today.container(border=True):
        st.metric(
            t("card.today"),
            fmt.compact(cards.today.tokens),
            **arrow(tsf.tokens, tsf.previous, tsf.growth_pct, "day"),
            help=t("help.today", day=day, zone=zone),
        )
        st.caption(t("card.exact_day", tokens=fmt.tokens(cards.today.tokens), day=day, zone=zone))
        if run.so_far.previous_is_whole_day:
            st.caption(t("card.vs_all_yesterday", previous=fmt.tokens(tsf.previous)))
        else:
            st.caption(t("card.vs_yesterday_to", time=run.now_time, previous=fmt.tokens(tsf.previous)))
        st.caption(t("card.all_yesterday", tokens=fmt.compact(cards.today.previous)))
        spark(run, st, series["day_tokens"], day_labels, "tokens", t("card.spark_day_tokens"), "analysis_spark_today")
    with month.container(border=True):
        st.metric(
            t("card.month"),
            fmt.compact(cards.month.tokens),
            **arrow(mtd.tokens, mtd.previous, mtd.growth_pct, "month"),
            help=t("help.month", month=month_name, zone=zone),
        )
        st.caption(t("card.exact_month", tokens=fmt.tokens(cards.month.tokens), month=month_name, zone=zone))
        st.caption(month_span_text(run))
        st.caption(t("card.all_last_month", tokens=fmt.compact(cards.month.previous)))
        spark(
            run,
            st,
            series["month_tokens"],
            [fmt.month(m) for m in series["months"]],
            "tokens",
            t("card.spark_month_tokens"),
            "analysis_spark_month",
        )
    with calls.container(border=True):
        st.metric(
            t("card.services"), t("card.calls_value", calls=fmt.compact(cards.service_calls)), help=t("help.calls")
        )
        st.caption(t("card.calls_all_time", calls=fmt.tokens(cards.service_calls)))
        spark(run, st, series["day_calls"], day_labels, "calls", t("card.spark_day_calls"), "analysis_spark_calls")


def data_notes(run: Analysis) -> None:
    """Under the cards: how fresh the exports are, a refresh under way, and what the ingest quarantined."""
    st.caption(run.freshness())
    if run.page.store.refreshing:
        st.caption(t("data.refreshing"))
    run.quarantine_note(("usage_events", "transactions"))


def comparison_charts(run: Analysis) -> None:
    """Today against yesterday and this month against last month, tokens and calls: four bar pairs."""
    windows, zone = run.windows, run.page.settings.timezone
    st.caption(
        t(
            "scope.comparison",
            today=run.day,
            yesterday=fmt.day(windows.yesterday),
            month=run.month_name,
            last_month=fmt.month(windows.last_month_start),
            zone=zone,
        )
    )
    comparison = run.figures.comparison
    cols = st.columns(4)
    for col, (key, labels) in zip(
        cols,
        [(("today_vs_yesterday", m), (t("period.today"), t("period.yesterday"))) for m in ("tokens", "calls")]
        + [(("month_vs_last_month", m), (t("period.this_month"), t("period.last_month"))) for m in ("tokens", "calls")],
        strict=True,
    ):
        pair, metric = key
        title = f"{t('comparison.' + pair)}<br>{t('metric.' + metric)}"  # two lines: a quarter width cuts one
        values = getattr(getattr(comparison, pair), metric)
        figure = run.chart(
            f"{pair}_{metric}", partial(charts.pair, title, labels, values, metric, partial=(True, False))
        )
        charts.draw(col, figure, f"analysis_{pair}_{metric}")
    st.caption(t("comparison.partial_note", time=run.now_time))


def services_breakdown(run: Analysis) -> None:
    """This month by service: a tokens chart, a calls chart and the table."""
    figures, month_name = run.figures, run.month_name
    st.caption(t("scope.month", month=month_name, zone=run.page.settings.timezone))
    chart_tokens, chart_calls, table = st.columns([2, 2, 3])
    for where, metric in ((chart_tokens, "tokens"), (chart_calls, "calls")):
        title = f"{t('metric.' + metric)} · {month_name}"
        figure = run.chart(f"services_{metric}", partial(charts.services, figures.services or (), metric, title))
        charts.draw(where, figure, f"analysis_services_{metric}")
    services = pd.DataFrame([row.to_json() for row in figures.services or ()], columns=["service", "tokens", "calls"])
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


def recent_rows(entries: Sequence[Transaction], zone: Any) -> pd.DataFrame:
    """The recent-transactions table, formatted from the figures' Python values (None, never NaN)."""
    return pd.DataFrame(
        [
            {
                "type": t(f"txn.{entry.type}"),
                "amount": entry.amount,
                # fromisoformat, not pd.Timestamp: a time before 1901 has a seconds offset (+08:05:43, LMT)
                "created_at": fmt.when(datetime.fromisoformat(str(entry.created_at)), zone, with_zone=False),
                "payment_method": fmt.method_label(entry.payment_method),
                "description": entry.description or "",
            }
            for entry in entries
        ],
        columns=["type", "amount", "created_at", "payment_method", "description"],
    )


def recent_entries(run: Analysis) -> None:
    """The newest ledger entries, coloured by type, and the button to the whole history."""
    settings = run.page.settings
    zone = settings.timezone
    st.caption(t("scope.recent", limit=RECENT_LIMIT, zone=zone))
    entries = run.figures.recent_transactions
    if not entries:
        st.info(t("recent.empty"))
    else:
        shown = recent_rows(entries, settings.zone)
        labels = {
            "type": t("column.type"),
            "amount": t("column.amount_tokens"),
            "created_at": t("column.time_in", zone=zone),
            "payment_method": t("column.method"),
            "description": t("column.description"),
        }
        columns = tables.ledger_columns(shown, labels)
        # the description in full: as wide as its longest text (the table scrolls sideways rather than cut it)
        columns["description"] = st.column_config.Column(
            labels["description"],
            width=max(tables.text_px(text) for text in [labels["description"], *shown["description"]])
            + tables.CELL_PADDING_PX,
        )
        st.dataframe(
            tables.style_ledger(shown, pd.Series([entry.type for entry in entries])),
            hide_index=True,
            column_config=columns,
        )
    if st.button(t("button.view_all"), key="analysis_view_all"):
        st.switch_page("app_pages/token_history.py")


def leaderboard(run: Analysis) -> None:
    """This month's top members by tokens, with their share."""
    st.caption(t("scope.leaderboard", limit=LEADERBOARD_LIMIT, month=run.month_name, zone=run.page.settings.timezone))
    leaders = run.figures.leaderboard
    if not leaders:
        st.info(t("leaderboard.empty"))
    else:
        # Usage without a user_id has no name: "—", never "None".
        board = pd.DataFrame(
            [{**row.to_json(), "display_name": row.display_name or fmt.MISSING} for row in leaders],
            columns=["rank", "display_name", "tokens", "calls", "share_pct"],
        )
        st.dataframe(
            board,
            hide_index=True,
            column_config=tables.ranking_columns(),
        )

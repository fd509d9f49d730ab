"""Explore (/explore): usage by period, granularity, metric, group and filters; drill-down; rankings (SPEC §8)."""

from dataclasses import replace
from datetime import timedelta

import streamlit as st

from token_analytics.engine import explore as ex
from token_analytics.web import context, fmt, ui
from token_analytics.web import explore_ui as view_ui
from token_analytics.web.i18n import t

page = context.current()
user, account, settings, store, now = page.user, page.account, page.settings, page.store, page.now
zone = settings.zone
today = now.date()
keys = ex.labels_of(store, account)
first_hour_day = ex.hourly_from(store)  # hours exist for a recent window only

st.title(t("page.explore"))
st.caption(t("explore.intro", account=ui.account_markdown(account), zone=settings.timezone))
foreign = view_ui.account_in_url(user, account)
if foreign is not None:
    st.info(t("sidebar.unknown_account", account=fmt.plain(foreign)), icon=":material/link_off:")
for notice in view_ui.seed_from_url(keys, account, today, first_hour_day):
    st.info(t(f"explore.notice.{notice}", max=ex.MAX_BUCKETS), icon=":material/link_off:")

# the saved views live in the sidebar (a fragment draws only in its own place)
view_ui.saved_views_sidebar(page.app_db, user)


# A widget change reruns only its section (st.fragment), not the router and the whole page: the sign-in was
# checked by the full run that drew the section, and is checked again on the next full run (DECISIONS).
@st.fragment
def view_section() -> None:
    """The explore view: controls, chart, table, download and drill-down."""
    # --- controls: every choice is a constant of an allowlist, or a key this account has ----------------
    # two rows of three: every label and choice has room at 1280 px in both languages
    period_col, gran_col, metric_col = st.columns(3)
    preset = period_col.selectbox(
        t("explore.period"), ex.PRESETS, format_func=lambda p: t(f"explore.period.{p}"), key=view_ui.PERIOD
    )
    first = last = None
    if preset == "custom":
        first, last = view_ui.custom_range(st, view_ui.CUSTOM, (today - timedelta(days=6), today))
    period, previous = ex.periods_for(preset, now, zone, first, last)
    granularities = ex.granularities_for(period, first_hour_day)
    chosen_granularity = st.session_state.get(view_ui.GRANULARITY)
    if chosen_granularity not in granularities:
        if chosen_granularity == "hour" and "day" in granularities:
            st.session_state[view_ui.GRANULARITY] = "day"
            st.info(t("explore.notice.hour_too_long"), icon=":material/schedule:")
        else:
            cleaned, _ = ex.clean_view(
                ex.View(period=preset, start=first, end=last, granularity=chosen_granularity or "day"),
                now,
                first_hour_day,
                zone,
            )
            st.session_state[view_ui.GRANULARITY] = cleaned.granularity
            st.info(t("explore.notice.too_many_buckets", max=ex.MAX_BUCKETS), icon=":material/schedule:")
    granularity = gran_col.selectbox(
        t("explore.granularity"),
        granularities,
        format_func=lambda g: t(f"explore.granularity.{g}"),
        key=view_ui.GRANULARITY,
    )
    metric = metric_col.selectbox(
        t("explore.metric"), ex.METRICS, format_func=lambda m: t(f"explore.metric.{m}"), key=view_ui.METRIC
    )
    group_col, top_col, sort_col = st.columns(3)
    group = group_col.selectbox(
        t("explore.group"), ex.GROUPS, format_func=lambda g: t(f"explore.group.{g}"), key=view_ui.GROUP
    )
    top = top_col.selectbox(t("explore.top"), ex.TOP_NS, key=view_ui.TOP, disabled=group == "none")
    sort = sort_col.selectbox(
        t("explore.sort"), ex.SORTS, format_func=lambda k: t(f"explore.sort.{k}"), key=view_ui.SORT
    )
    filter_cols = st.columns(3)
    chosen = {}
    for col, (name, key) in zip(filter_cols, view_ui.FILTERS.items(), strict=True):
        names = keys[name]
        chosen[name] = col.multiselect(
            t(f"explore.filter.{name}"),
            list(names),
            format_func=(lambda k: t(f"service.{k}")) if name == "service" else (lambda k, n=names: n.get(k, k)),
            placeholder=t("explore.filter.any"),
            key=key,
        )
    view = ex.View(
        period=preset,
        start=period.start if preset == "custom" else None,
        end=period.last if preset == "custom" else None,
        granularity=granularity,
        metric=metric,
        group=group,
        top=top,
        services=tuple(chosen["service"]),
        members=tuple(chosen["member"]),
        models=tuple(chosen["model"]),
        sort=sort,
    )
    compare = st.toggle(t("explore.compare"), key=view_ui.COMPARE)
    view_ui.write_url(view, compare)

    # --- the figures -----------------------------------------------------------------------------------
    with view_ui.VIEW_SLOT:
        result = ex.explore(store, account, view, now)
    if not result.available:
        st.info(t("explore.not_in_exports"), icon=":material/info:")
    elif result.total == 0 and result.previous_total == 0:
        # nothing to draw or list: say so rather than show an empty chart and table
        st.info(t("explore.empty_period", span=view_ui.span_words(result.period, zone, now)), icon=":material/info:")
    else:
        growth = ex.growth_pct(result.total, result.previous_total)
        change = t("rankings.new") if growth is None else f"{growth:+.1f}%"
        span = view_ui.span_words(result.period, zone, now)
        st.markdown(
            t(
                "explore.summary",
                metric=t(f"explore.metric.{metric}"),
                span=span,
                total=fmt.tokens(result.total),
                previous_span=view_ui.span_words(result.previous, zone),
                previous=fmt.tokens(result.previous_total),
                change=change,
            )
        )
        if metric in ex.IO_METRICS and result.io_calls < result.calls:
            st.caption(t("explore.io_partial", io_calls=fmt.tokens(result.io_calls), calls=fmt.tokens(result.calls)))
        title = view_ui.chart_title(result, group, span)
        with view_ui.VIEW_SLOT:
            figure = view_ui.stacked_bars(
                result,
                zone,
                group,
                title=title,
                compare=view_ui.previous_totals(store, account, result) if compare else None,
            )
        st.plotly_chart(figure, key="explore_chart")
        table = view_ui.group_table(result, group)
        selection = st.dataframe(
            table,
            hide_index=True,
            on_select="rerun" if group == "member" else "ignore",
            selection_mode="single-row",
            key=f"explore_table_{group}",
            height=35 * (len(table) + 1) + 3,  # every row visible: top N and Other, no inner scrolling
            column_config={
                "group": t(f"explore.group.{group}") if group != "none" else t("explore.column.group"),
                # the key is a fact of its own only for members (an id beside a name); elsewhere it repeats the name
                "key": t("explore.column.member_id") if view_ui.key_differs(result) else None,
                "value": st.column_config.NumberColumn(t(f"explore.metric.{metric}"), format="localized"),
                "share_pct": st.column_config.ProgressColumn(
                    t("explore.column.share"), format="%.1f%%", min_value=0, max_value=100
                ),
                "previous": st.column_config.NumberColumn(t("explore.column.previous"), format="localized"),
                "change": t("explore.column.change"),
                "change_pct": t("explore.column.change_pct"),
            },
        )
        view_ui.csv_download(
            t("explore.download"),
            ex.explore_csv(result),
            f"explore-{account}-{view.period}-{view.group}.csv",
            key="explore_csv",
        )
        # --- drill-down: one member by service and by model ------------------------------------------
        if group == "member":
            rows = selection.selection.rows if selection else []
            picked_row = result.table.iloc[rows[0]] if rows and rows[0] < len(result.table) else None
            if picked_row is None or picked_row["is_other"]:
                st.caption(t("explore.select_hint"))
            else:
                member = str(picked_row["key"])
                st.subheader(
                    t("explore.drill", name=view_ui.plain(picked_row["label"])), anchor=False
                )  # data: no Markdown
                by_service, by_model = st.columns(2)
                for col, dimension in ((by_service, "service"), (by_model, "model")):
                    drill = ex.explore(store, account, replace(view, group=dimension, members=(member,), top=20), now)
                    col.plotly_chart(
                        view_ui.stacked_bars(drill, zone, dimension, title=view_ui.chart_title(drill, dimension, span)),
                        key=f"explore_drill_{dimension}",
                    )


# --- rankings, for everyone who sees the account --------------------------------------------------------
@st.fragment
def rankings_section() -> None:
    """The rankings of members: period, sort, table and download."""
    st.subheader(t("rankings.title"), anchor=False)
    rank_col, rank_sort_col, range_col = st.columns([1, 1, 2])
    st.session_state.setdefault(view_ui.RANK_PERIOD, "this_month")
    rank_preset = rank_col.selectbox(
        t("rankings.period"),
        ex.RANKING_PRESETS,
        format_func=lambda p: t(f"explore.period.{p}"),
        key=view_ui.RANK_PERIOD,
    )
    rank_sort = rank_sort_col.selectbox(
        t("rankings.sort"), view_ui.RANK_SORTS, format_func=lambda k: t(f"rankings.sort.{k}"), key=view_ui.RANK_SORT
    )
    rank_first = rank_last = None
    if rank_preset == "custom":
        rank_first, rank_last = view_ui.custom_range(
            range_col, view_ui.RANK_CUSTOM, (today - timedelta(days=29), today)
        )
    rank_period, rank_previous = ex.periods_for(rank_preset, now, zone, rank_first, rank_last)
    ranks = ex.rankings(store, account, rank_period, rank_previous)
    st.caption(
        t(
            "rankings.caption",
            span=view_ui.span_words(rank_period, zone, now),
            previous_span=view_ui.span_words(rank_previous, zone),
        )
    )
    if ranks.empty:
        st.info(t("rankings.empty"))
    else:
        ranks = view_ui.sort_rankings(ranks, rank_sort)
        shown = ranks[["rank", "display_name", "user_id", "tokens", "calls", "share_pct", "previous_rank"]].copy()
        shown["change"] = [
            view_ui.rank_change_text(c, bool(n)) for c, n in zip(ranks["rank_change"], ranks["is_new"], strict=True)
        ]
        st.dataframe(
            shown,
            hide_index=True,
            key="explore_rankings",
            height=35 * (len(shown) + 1) + 3,  # every member visible
            column_config={
                "rank": t("column.rank"),
                "display_name": t("column.member"),
                "user_id": t("explore.column.member_id"),
                "tokens": st.column_config.NumberColumn(t("column.tokens"), format="localized"),
                "calls": st.column_config.NumberColumn(t("column.calls"), format="localized"),
                "share_pct": st.column_config.ProgressColumn(
                    t("column.share"), format="%.1f%%", min_value=0, max_value=100
                ),
                "previous_rank": st.column_config.NumberColumn(t("rankings.column.previous_rank")),
                "change": t("rankings.column.change"),
            },
        )
        view_ui.csv_download(
            t("rankings.download"),
            ex.rankings_csv(ranks),
            f"rankings-{account}-{rank_period.start}-{rank_period.last}.csv",
            key="explore_rankings_csv",
        )


view_section()
rankings_section()

"""How /token-history looks: the ledger's filters, the totals of the filtered set, one page of entries, paging
and the CSV download, all in one fragment (the ledger itself is engine/ledger.py's).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import pandas as pd
import streamlit as st

from token_analytics.accounts import users
from token_analytics.engine import ledger, ledger_csv
from token_analytics.settings import Settings
from token_analytics.strings import language
from token_analytics.web import data, fmt, tables, ui
from token_analytics.web.context import PageContext
from token_analytics.web.i18n import current_language, t

T = TypeVar("T")

# The filters: every choice is a constant from an allowlist or a bound value.
ANY = ""  # "all" in the selectboxes; not None, which Streamlit shows as "Choose an option"
PERIOD_WIDTH_PX = 270  # fits "2026-11-01 – 2026-11-30" and the calendar icon (measured in Chromium)
PAGE_BOX_WIDTH_PX = 150  # five digits beside the - and + steppers


def user_names(settings: Settings) -> dict[str, str]:
    """Sign-in username -> person's name: the app's own ledger entries carry the username."""
    try:
        config = data.auth_config(settings.auth_file)
    except users.AuthConfigError as exc:  # the router has read it this run; a file changed since
        ui.show_error(exc, t("history.no_names"))
        return {}
    return {user.username: user.name for user in config.users.values()}


def column_labels(settings: Settings) -> dict[str, str]:
    """The ledger's column labels in the page's language, shared by the table and the CSV's label row (each adds
    its own member columns)."""
    return {
        "created_at": t("column.time_in", zone=settings.timezone),
        "txn_id": t("history.column_txn"),
        "type": t("column.type"),
        "amount": t("column.amount"),
        "running_balance": t("history.column_balance"),
        "payment_method": t("column.method"),
        "description": t("column.description"),
    }


def kept(page: PageContext, name: str, compute: Callable[[], T], *key: Hashable) -> T:
    """A ledger read once per account, data generation and count of the app's own entries (as the figure set).

    The ledger is the exports' transactions (a new data generation when they change) plus the app's own
    entries, which are only ever appended: their count is their version, so nothing kept is older than the
    ledger. A copy of a frame is not needed: the page only reads what it gets.
    """
    entries = data.app_entries(page.store, page.account)
    return data.memo(page.store, name, compute, page.account, entries, *key)


# A filter or page change reruns only this section (st.fragment), not the router and the whole page; the
# sign-in is checked again on the next full run (DECISIONS).
@st.fragment
def ledger_section(page: PageContext) -> None:
    """Filters, totals, one page of the ledger, paging and the CSV download."""
    # The session's language read once for the whole section: a page of entries formats ~500 numbers and
    # labels, and each would otherwise look the language up in the session state.
    with language(current_language()):
        _ledger_section(page)


def _ledger_section(page: PageContext) -> None:
    account, settings, store = page.account, page.settings, page.store
    saas = settings.saas
    if not saas:
        st.caption(t("history.not_billed"))
    usernames = user_names(settings)
    names = kept(
        page, "ledger_names", lambda: ledger.member_names(store, account, usernames), tuple(sorted(usernames.items()))
    )
    methods = ledger.METHODS if saas else ()
    for key, choices in (("history_member", (ANY, *names)), ("history_method", (ANY, *methods))):
        # a member of the account shown before an admin switched, or None from an older session
        if key in st.session_state and st.session_state[key] not in choices:
            del st.session_state[key]
    filters = st.columns([3, 3, 2, 2] if saas else [3, 3, 2])
    types = filters[0].multiselect(
        t("history.filter_types"),
        ledger.types_for(saas),
        format_func=lambda kind: t(f"txn.{kind}"),
        placeholder=t("history.any_type"),
        key="history_type",
    )
    period = filters[1].date_input(
        t("history.filter_period"), value=(), format="YYYY-MM-DD", width=PERIOD_WIDTH_PX, key="history_period"
    )
    member = filters[2].selectbox(
        t("history.filter_member"),
        [ANY, *names],
        format_func=lambda user_id: t("history.any_member") if user_id == ANY else f"{names[user_id]} ({user_id})",
        key="history_member",
    )
    method = ANY
    if saas:
        method = filters[3].selectbox(
            t("history.filter_method"),
            [ANY, *methods],
            format_func=lambda m: t("history.any_method") if m == ANY else fmt.method_label(m),
            key="history_method",
        )
    start, end = (*period, None, None)[:2]  # while a range is being picked only its start is set
    try:
        flt = ledger.for_mode(
            ledger.LedgerFilter(
                types=tuple(types), start_day=start, end_day=end, user_id=member or None, payment_method=method or None
            ),
            saas,
        )
    except ValueError as exc:
        ui.show_error(exc, t("history.bad_filter"))
        st.stop()

    # --- totals of the filtered set ------------------------------------------------------------
    totals = kept(page, "ledger_totals", lambda: ledger.totals(store, account, flt), flt)
    st.subheader(t("history.totals", count=fmt.tokens(totals.count)))
    kinds = (*ledger.types_for(saas), None)  # None: the net of all types
    # three to a row, so exact signed totals of many digits stay readable
    columns = [column for _ in range(0, len(kinds), 3) for column in st.columns(3)]
    for column, kind in zip(columns, kinds, strict=False):
        if kind is None and not saas:
            # not billed: no net (a negative sum read as a debt), but what it is: the tokens the entries consumed
            column.metric(t("history.net_used"), fmt.tokens(-totals.amounts["CONSUME"]))
            column.caption(t("history.net_used_note"))
        elif kind is None:
            column.metric(t("history.net"), fmt.signed(totals.net))
        else:
            column.metric(t(f"txn.{kind}"), fmt.signed(totals.amounts[kind]))
            column.caption(t("history.entries", count=fmt.tokens(totals.entries[kind])))

    # --- one page of the table; a new filter or account starts again at page 1 ---------------------
    pages = ledger.page_count(totals.count)
    if st.session_state.get("history_shown") != (account, flt):
        st.session_state["history_shown"] = (account, flt)
        st.session_state["history_page"] = 1
    st.session_state["history_page"] = ledger.clamp_page(st.session_state.get("history_page", 1) - 1, totals.count) + 1
    number = st.session_state["history_page"] - 1
    rows = kept(page, "ledger_page", lambda: ledger.page(store, account, flt, number), flt, number)
    if rows.empty:
        st.info(t("history.empty"))
    else:
        shown = pd.DataFrame(
            {
                "created_at": rows["created_at"].map(lambda at: fmt.when(at, settings.zone, with_zone=False)),
                "type": rows["type"].map(lambda kind: t(f"txn.{kind}")),
                "amount": rows["amount"],
                "running_balance": rows["running_balance"],
                "member": rows["user_id"].map(lambda u: t("method.none") if pd.isna(u) else names.get(u, u)),
                "payment_method": rows["payment_method"].map(fmt.method_label),
                "txn_id": rows["txn_id"],
                "description": rows["description"].fillna(""),  # last: free text is what may be cut
            }
        )
        if not saas:  # not billed: no balance to run down, no way of paying
            shown = shown.drop(columns=["running_balance", "payment_method"])
        labels = {**column_labels(settings), "member": t("column.member")}
        st.dataframe(
            tables.style_ledger(shown, rows["type"]),
            hide_index=True,
            height="content",  # the whole page of rows, no scroll box inside the page
            column_config=tables.ledger_columns(shown, labels),
        )

    def step(by: int) -> None:
        st.session_state["history_page"] = min(max(st.session_state["history_page"] + by, 1), pages)

    current = st.session_state["history_page"]
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.button(t("history.previous"), on_click=step, args=(-1,), disabled=current <= 1, key="history_previous")
        st.number_input(
            t("history.page"), min_value=1, max_value=pages, step=1, width=PAGE_BOX_WIDTH_PX, key="history_page"
        )
        st.caption(t("history.page_of", pages=fmt.tokens(pages), count=fmt.tokens(totals.count)), width="content")
        st.button(t("history.next"), on_click=step, args=(1,), disabled=current >= pages, key="history_next")
        with_labels = st.checkbox(
            t("history.download_labels"), help=t("history.download_labels_help"), key="history_csv_labels"
        )
        # Labels are made now, in the page's language: the file itself is built later, outside this run.
        csv_labels = {
            **column_labels(settings),
            "user_id": t("history.column_user_id"),
            "member_name": t("column.member"),
        }
        st.download_button(
            t("history.download"),
            data=lambda: ledger_csv.ledger_csv(  # built only when clicked
                store, account, flt, usernames, csv_labels if with_labels else None
            ),
            file_name=f"token-history-{account}.csv",
            mime="text/csv",
            on_click="ignore",
            help=t("history.download_help"),
            icon=":material/download:",
            key="history_csv",
        )

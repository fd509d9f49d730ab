"""Token History (/token-history): the account's full ledger with filters, totals, paging and CSV export."""

import pandas as pd
import streamlit as st

from token_analytics.engine import ledger, ledger_csv
from token_analytics.web import data, fmt, tables, ui
from token_analytics.web.i18n import t

user = ui.require(ui.current_user())
account = ui.current_account(user)
settings = data.settings()
store = data.store()

st.title(t("page.token_history"))
st.caption(t("history.intro", account=account, zone=settings.timezone))
rows_out, files_out = store.health().problems(("transactions",))
if rows_out or files_out:
    st.warning(t("data.quarantine", rows=fmt.tokens(rows_out), files=files_out), icon=":material/warning:")

# --- filters: every choice is a constant from an allowlist or a bound value -----------------
people = ledger.members(store, account)
names = dict(zip(people["user_id"], people["display_name"], strict=True))
if st.session_state.get("history_member") not in (None, *names):
    del st.session_state["history_member"]  # a member of the account shown before an admin switched
types_col, period_col, member_col, method_col = st.columns([3, 2, 2, 2])
types = types_col.multiselect(
    t("history.filter_types"),
    ledger.TYPES,
    format_func=lambda kind: t(f"txn.{kind}"),
    placeholder=t("history.any_type"),
    key="history_type",
)
period = period_col.date_input(t("history.filter_period"), value=(), format="YYYY-MM-DD", key="history_period")
member = member_col.selectbox(
    t("history.filter_member"),
    [None, *names],
    format_func=lambda user_id: t("history.any_member") if user_id is None else f"{names[user_id]} ({user_id})",
    key="history_member",
)
method = method_col.selectbox(
    t("history.filter_method"),
    [None, *ledger.METHODS],
    format_func=lambda m: t("history.any_method") if m is None else t(f"method.{m}"),
    key="history_method",
)
start, end = (*period, None, None)[:2]  # while a range is being picked only its start is set
try:
    flt = ledger.LedgerFilter(types=tuple(types), start_day=start, end_day=end, user_id=member, payment_method=method)
except ValueError as exc:
    ui.show_error(exc, t("history.bad_filter"))
    st.stop()

# --- totals of the filtered set ------------------------------------------------------------
totals = ledger.totals(store, account, flt)
st.subheader(t("history.totals", count=fmt.tokens(totals.count)))
kinds = (*ledger.TYPES, None)  # None: the net of all types
# three to a row, so exact signed totals of many digits stay readable
columns = [column for _ in range(0, len(kinds), 3) for column in st.columns(3)]
for column, kind in zip(columns, kinds, strict=True):
    if kind is None:
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
rows = ledger.page(store, account, flt, st.session_state["history_page"] - 1)
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
            "payment_method": rows["payment_method"].map(
                lambda m: t("method.none") if pd.isna(m) else t(f"method.{m}")
            ),
            "description": rows["description"].fillna(""),
            "txn_id": rows["txn_id"],
        }
    )
    styled = tables.style_ledger(shown, rows["type"])
    st.dataframe(
        styled,
        hide_index=True,
        column_config={
            "created_at": t("column.time_in", zone=settings.timezone),
            "type": t("column.type"),
            "amount": t("column.amount"),
            "running_balance": t("history.column_balance"),
            "member": t("column.member"),
            "payment_method": t("column.method"),
            "description": t("column.description"),
            "txn_id": t("history.column_txn"),
        },
    )


def step(by: int) -> None:
    st.session_state["history_page"] = min(max(st.session_state["history_page"] + by, 1), pages)


previous, number, of, following, download = st.columns([1, 1, 2, 1, 2], vertical_alignment="bottom")
current = st.session_state["history_page"]
previous.button(t("history.previous"), on_click=step, args=(-1,), disabled=current <= 1, key="history_previous")
number.number_input(t("history.page"), min_value=1, max_value=pages, step=1, key="history_page")
of.caption(t("history.page_of", pages=fmt.tokens(pages), count=fmt.tokens(totals.count)))
following.button(t("history.next"), on_click=step, args=(1,), disabled=current >= pages, key="history_next")
download.download_button(
    t("history.download"),
    data=lambda: ledger_csv.ledger_csv(store, account, flt),  # built only when clicked
    file_name=f"token-history-{account}.csv",
    mime="text/csv",
    on_click="ignore",
    help=t("history.download_help"),
    icon=":material/download:",
    key="history_csv",
)

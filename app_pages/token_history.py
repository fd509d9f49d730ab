"""Token History (/token-history): the account's full ledger with filters, totals, paging and CSV export."""

import streamlit as st

from token_analytics.web import context, data, fmt, ledger_ui, ui
from token_analytics.web.i18n import t

page = context.current()

st.title(t("page.token_history"))
st.caption(t("history.intro", account=ui.account_markdown(page.account), zone=page.settings.timezone))
rows_out, files_out = data.health(page.store).problems(("transactions",))
if rows_out or files_out:
    st.warning(t("data.quarantine", rows=fmt.tokens(rows_out), files=files_out), icon=":material/warning:")

# filters, totals, one page of entries, paging and the download: one fragment, so a filter reruns only it
ledger_ui.ledger_section(page)

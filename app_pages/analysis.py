"""Analytics Center (/analysis): every figure of SPEC §4 for the signed-in user's account.

The page top to bottom; each section is drawn by web/analysis_ui.py from one figure set per run.
"""

import streamlit as st

from token_analytics.web import alerts_ui, analysis_ui, context, explore_ui, ui
from token_analytics.web.i18n import t

page = context.current()
run = analysis_ui.Analysis.of(page)  # the figure set, the data health and the day and month names

st.title(t("page.analysis"))
st.caption(t("analysis.account", account=ui.account_markdown(page.account)))
alerts_ui.section(page.store, page.app_db, page.account, page.user, page.settings)

with st.container(border=True):
    if not page.settings.saas:
        analysis_ui.enterprise_usage(run)
        st.stop()  # self-hosted: no ledger, so no balance, plan, cards or comparisons
    analysis_ui.token_usage(run)

st.subheader(t("section.upgrade"))
analysis_ui.plan_offer(run)

st.subheader(t("section.cards"))
analysis_ui.four_cards(run)
analysis_ui.data_notes(run)

with st.container(border=True, key="analysis_why"):
    explore_ui.show_month_to_date(run.figures.month_to_date)

st.subheader(t("section.comparison"))
analysis_ui.comparison_charts(run)

st.subheader(t("section.services"))
analysis_ui.services_breakdown(run)

st.subheader(t("section.recent"))
analysis_ui.recent_entries(run)

st.subheader(t("section.leaderboard"))
analysis_ui.leaderboard(run)

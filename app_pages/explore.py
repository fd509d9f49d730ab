"""Explore (/explore): usage by period, granularity, metric, group and filters; drill-down; rankings (SPEC §8).

The page top to bottom; the view and the rankings are fragments of web/explore_ui.py (a widget change reruns
only its own section).
"""

import streamlit as st

from token_analytics.engine import explore as ex
from token_analytics.web import context, fmt, ui
from token_analytics.web import explore_ui as view_ui
from token_analytics.web.i18n import t

page = context.current()
keys = ex.labels_of(page.store, page.account)
first_hour_day = ex.hourly_from(page.store)  # hours exist for a recent window only

st.title(t("page.explore"))
st.caption(t("explore.intro", account=ui.account_markdown(page.account), zone=page.settings.timezone))
foreign = view_ui.account_in_url(page.user, page.account)
if foreign is not None:
    st.info(t("sidebar.unknown_account", account=fmt.plain(foreign)), icon=":material/link_off:")
for notice in view_ui.seed_from_url(keys, page.account, page.now.date(), first_hour_day):
    st.info(t(f"explore.notice.{notice}", max=ex.MAX_BUCKETS), icon=":material/link_off:")

# the saved views live in the sidebar (a fragment draws only in its own place)
view_ui.saved_views_sidebar(page.app_db, page.user)

# controls, the figures' summary, chart, table, download and the drill-down into one member
view_ui.view_section(page, keys, first_hour_day)
# the members' rankings, with a period and sort of their own
view_ui.rankings_section(page)

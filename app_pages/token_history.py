"""PLACEHOLDER: only a title, so the router can be tested; the real page replaces this file."""

import streamlit as st

from token_analytics.i18n import t

st.title(t("page.token_history"))

"""Admin (/admin, role admin): bank transfers, adjustments, plan requests and the data-health report.

Self-hosted deployments have no payments and no ledger to adjust: data health, sessions and audit.
Everything here is append-only: a confirmed transfer or a posted adjustment is corrected by a
new entry, never edited. Each tab is one function of web/admin_ui.py in TABS; a new tab is one more entry.
"""

import streamlit as st

from token_analytics.web import admin_ui, context, data
from token_analytics.web.i18n import t

page = context.current("admin")

# (label id, what the tab draws), in the order of the tab bar
TABS: list[admin_ui.Tab] = [
    ("admin.tab_transfers", admin_ui.transfers),
    ("admin.tab_adjustments", admin_ui.adjustments),
    ("admin.tab_requests", admin_ui.requests),
    ("admin.tab_health", admin_ui.health),
    ("admin.tab_sessions", admin_ui.sessions),
    ("admin.tab_audit", admin_ui.audit),
    ("alerts.title", admin_ui.alerts),
]
# self-hosted deployments have no payments and no ledger to adjust
SAAS_ONLY_TABS = frozenset({"admin.tab_transfers", "admin.tab_adjustments", "admin.tab_requests"})

st.title(t("page.admin"))
if data.cli_service_problem() is not None:  # the reason, with paths and pids, is in the server log
    st.warning(t("admin.cli_socket_down"), icon=":material/terminal:")
admin_ui.show_tabs(page, TABS, SAAS_ONLY_TABS)

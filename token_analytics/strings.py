"""Every user-facing string, in one translation table, and the language a page is drawn in.

`STRINGS[message_id][language]`. English ("en") is complete and is the fallback; the Simplified
Chinese ("zh") texts live in catalogue_zh.py under the same ids and are merged in below.
Pages hold no prose of their own: they call `t("message.id", **values)`, which uses the current
language: the one `language()` set, else the session's (`SESSION_KEY`), else English.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from token_analytics.catalogue_zh import ZH

DEFAULT_LANGUAGE = "en"
# Shown in the switch in their own language, so a reader finds theirs whatever is on screen.
LANGUAGES: dict[str, str] = {"en": "English", "zh": "简体中文"}
# The Babel locale of each language (numbers and dates in web/fmt.py).
LOCALES: dict[str, str] = {"en": "en_US", "zh": "zh_CN"}

log = logging.getLogger("token_analytics.i18n")

_forced: ContextVar[str | None] = ContextVar("ui_language", default=None)

STRINGS: dict[str, dict[str, str]] = {
    # --- app and pages ---------------------------------------------------------------
    "app.title": {"en": "Token Analytics Center"},
    "page.analysis": {"en": "Analytics Center"},
    "analysis.account": {"en": "Account {account}"},
    "page.token_history": {"en": "Token History"},
    "page.recharge": {"en": "Recharge"},
    "page.subscription": {"en": "Subscription"},
    "page.admin": {"en": "Admin"},
    # --- sign-in ---------------------------------------------------------------------
    "login.form_name": {"en": "Sign in"},
    "login.intro": {"en": "Sign in to see your team's token usage."},
    "login.username": {"en": "Username"},
    "login.password": {"en": "Password"},
    "login.submit": {"en": "Sign in"},
    "login.failed": {"en": "The username or password is incorrect; check them and try again."},
    "login.demo_hint": {"en": "Demo users (admin, manager, analyst, manager2, manager3) are listed in the README."},
    "login.signing_in": {"en": "Signed in; opening the page…"},
    "login.signed_out": {"en": "You have been signed out."},
    "login.expired": {"en": "Your sign-in is no longer valid; please sign in again."},
    "sso.sign_in": {"en": "Sign in with single sign-on"},
    "sso.refused": {"en": "{who} has no access to Token Analytics Center; ask an administrator to add you."},
    "sso.not_configured": {"en": "Single sign-on is not set up on this server; sign in with a username instead."},
    "login.missing": {"en": "Enter your username and password, then sign in."},
    "login.wait": {"en": "Too many failed sign-ins; wait {seconds} seconds, then try again."},
    "login.locked": {
        "en": "Sign-in is paused after too many failed attempts; try again in {minutes} minutes "
        "or ask an administrator to unlock it."
    },
    # --- sidebar ---------------------------------------------------------------------
    "sidebar.signed_in_as": {"en": "Signed in as **{name}**"},
    "sidebar.role": {"en": "Role: {role} · {mode}"},
    "sidebar.account": {"en": "Account"},
    "sidebar.account_value": {"en": "Account: {account}"},
    "sidebar.logout": {"en": "Sign out"},
    "sidebar.language": {"en": "Language · 语言"},
    "sidebar.language_not_saved": {
        "en": "The language was switched but could not be saved as your default; choose it again at the next sign-in."
    },
    "mode.saas": {"en": "SaaS"},
    "mode.self-hosted": {"en": "Self-hosted"},
    "role.admin": {"en": "Administrator"},
    "role.manager": {"en": "Manager"},
    "role.analyst": {"en": "Analyst"},
    # --- errors (one sentence: what is wrong and what to do) -------------------------
    "error.unexpected": {
        "en": "Something went wrong while showing this page; reload it, and if it happens again check the server log."
    },
    # Errors made below the web layer (billing's AppDBError, the engine's StoreError, the price list), by
    # their message_id; the English is the raising code's own sentence (tests/web/test_i18n.py checks they agree).
    "error.appdb.refused": {"en": "This change was refused; check the values and try again."},
    "error.appdb.not_text": {"en": "{name} must be a non-empty text."},
    "error.appdb.not_count": {"en": "{name} must be a whole number >= {minimum}, got {value}."},
    "error.appdb.not_choice": {"en": "{name} must be one of {allowed}, got {value}."},
    "error.appdb.threshold_balance": {"en": "The balance threshold must be a whole number >= {minimum}, got {value}."},
    "error.appdb.threshold_runway": {
        "en": "The runway threshold (days) must be a whole number >= {minimum}, got {value}."
    },
    "error.appdb.threshold_multiple": {"en": "The usage multiple must be a number above 0, got {value}."},
    "error.appdb.adjustment_amount": {"en": "An adjustment needs a non-zero whole number of tokens."},
    "error.appdb.adjustment_reason": {"en": "An adjustment needs a reason."},
    "error.appdb.adjustment_conflict": {"en": "Adjustment {adjustment} was already posted with different values."},
    "error.appdb.store_adjustment": {"en": "Could not store the adjustment; please try again."},
    "error.appdb.plan_for_plan_orders": {"en": "plan is only given for plan orders."},
    "error.appdb.store_order": {"en": "Could not store the order; please try again."},
    "error.appdb.store_status": {"en": "Could not record the status of order {order}; please try again."},
    "error.appdb.unknown_order": {"en": "There is no order {order}."},
    "error.appdb.order_paid_not_cancelled": {
        "en": "Order {order} is already paid and cannot be cancelled; place a new order instead."
    },
    "error.appdb.order_cancelled_not_paid": {
        "en": "Order {order} is already cancelled and cannot be paid; place a new order instead."
    },
    "error.appdb.order_cancelled_not_cancelled": {
        "en": "Order {order} is already cancelled and cannot be cancelled; place a new order instead."
    },
    "error.appdb.not_bank_transfer": {"en": "Order {order} is not a bank transfer."},
    "error.appdb.no_payment_link": {"en": "Order {order} is paid by bank transfer; it has no payment link."},
    "error.appdb.transfer_not_simulated": {
        "en": "A bank transfer is confirmed by an admin once the money arrives, not by the sandbox."
    },
    "error.appdb.contact_plan": {"en": "An enterprise contact request is for the enterprise plan."},
    "error.appdb.store_request": {"en": "Could not store the request; please try again."},
    "error.store.app_db_clash": {
        "en": "Another app database ({path}) is already open with {cache}; "
        "give each ANALYTICS_APP_DB its own ANALYTICS_CACHE_DB."
    },
    "error.store.locked": {
        "en": "The database {cache} or {app} is in use by another process (probably the running dashboard); "
        "stop it or point ANALYTICS_APP_DB elsewhere."
    },
    "error.store.cannot_open": {"en": "Cannot open the database: {detail}"},
    "error.store.no_data_dir": {"en": "ANALYTICS_DATA_DIR={path} does not exist; point it at an export folder."},
    "error.prices_file": {"en": "The price list cannot be used: {detail}"},
    # --- the first load's progress bar (engine.ingest.Step: the English text is the engine's own) ---
    "progress.first_read": {"en": "Reading the exports for the first time…"},
    "progress.reading": {"en": "Reading {path}"},
    "progress.reading_batch": {"en": "Reading {count} files: {path} and the others"},
    "progress.building": {"en": "Building rollups"},
    "error.sign_in_required": {"en": "Please sign in to see this page."},
    "error.permission.buy": {"en": "Only managers and administrators can buy tokens or change the plan."},
    "error.permission.admin": {"en": "Only administrators can open this page."},
    "error.auth.missing_file": {
        "en": "The sign-in file {path} does not exist; set ANALYTICS_AUTH_FILE to a streamlit-authenticator YAML file."
    },
    "error.auth.unreadable": {"en": "The sign-in file {path} is not valid YAML ({reason}); fix the file."},
    "error.auth.no_users": {
        "en": "The sign-in file {path} has no credentials.usernames section; add at least one user."
    },
    "error.auth.bad_user": {"en": "User {user!r} in {path} is not a mapping of name, password, roles and account_id."},
    "error.auth.no_account": {"en": "User {user!r} in {path} has no account_id; add the account the user belongs to."},
    "error.auth.bad_role": {
        "en": "User {user!r} in {path} has role {role!r}; use one or more of: {allowed}.",
    },
    "error.auth.no_roles": {"en": "User {user!r} in {path} has no roles; use one or more of: {allowed}."},
    "error.auth.no_password": {
        "en": "User {user!r} in {path} has no bcrypt-hashed password; hash one with bcrypt and put it in the file."
    },
    "error.auth.bad_cookie": {
        "en": "The cookie section of {path} needs a name and a positive expiry_days; fix the file."
    },
    # --- Analytics Center: token usage -----------------------------------------------
    "section.token_usage": {"en": "Token Usage"},
    "usage.used": {"en": "Used"},
    "usage.total": {"en": "Total"},
    "usage.remaining": {"en": "Remaining"},
    "usage.used_of_total": {"en": "{used} of {total} tokens used"},
    "usage.percent_used": {"en": "{percent} used"},
    "usage.no_total": {"en": "No tokens have been credited to this account yet."},
    "button.recharge": {"en": "Recharge Tokens"},
    "usage.beta_notice": {
        "en": "Token billing is in beta: figures are computed from the latest export and may change as data arrives."
    },
    "section.enterprise": {"en": "Enterprise Privileges"},
    "usage.unlimited": {"en": "Unlimited"},
    "usage.enterprise_note": {"en": "Self-hosted deployment: usage is unlimited and not billed."},
    # --- upgrade options -------------------------------------------------------------
    "section.upgrade": {"en": "Plan"},
    "button.upgrade_pro": {"en": "Upgrade to Pro"},
    "button.contact_enterprise": {"en": "Contact for Enterprise"},
    # --- billing cards ---------------------------------------------------------------
    "card.balance": {"en": "Token Balance"},
    "card.today": {"en": "Today's Usage"},
    "card.month": {"en": "Monthly Usage"},
    "card.services": {"en": "Service Usage"},
    "card.owner": {"en": "Owner: {name}"},
    "card.calls_all_time": {"en": "{calls} calls · all time"},
    # --- /analysis: what each card and section covers -----------------------
    "card.exact_all_time": {"en": "{tokens} tokens · all time"},
    "card.exact_day": {"en": "{tokens} tokens · today, {day} ({zone})"},
    "card.exact_month": {"en": "{tokens} tokens · this month, {month} ({zone})"},
    "help.balance": {
        "en": "Tokens left on the account, all time: everything credited (recharges, bonuses, refunds, "
        "adjustments) minus everything consumed."
    },
    "help.today": {
        "en": "Tokens used by the account's members today ({day}, from local midnight in {zone}). The arrow "
        "compares today so far with yesterday up to the same time."
    },
    "help.month": {
        "en": "Tokens used by the account's members this month ({month}, from the 1st in {zone}). The arrow "
        "compares this month so far with the same span of last month."
    },
    "help.self_hosted_used": {"en": "Tokens used by the account's members, all time (not billed)."},
    "help.calls": {"en": "Service calls (agent, operator and assistant) of the account's members, all time."},
    "scope.usage": {"en": "All time: every ledger entry of the account."},
    "scope.comparison": {
        "en": "Today ({today}) vs yesterday ({yesterday}); {month} vs {last_month}; days and months in {zone}."
    },
    "scope.month": {"en": "This month: {month}, days in {zone}."},
    "scope.leaderboard": {"en": "Top {limit} members this month: {month}, days in {zone}."},
    "scope.recent": {"en": "The {limit} latest ledger entries, all time; times in {zone}."},
    "usage.overdrawn.buyer": {
        "en": "This account is overdrawn: its balance is {balance} tokens. Recharge tokens to bring it above zero."
    },
    "usage.overdrawn.reader": {
        "en": "This account is overdrawn: its balance is {balance} tokens. Ask a manager of the account to "
        "recharge tokens."
    },
    "plan.current": {"en": "Current plan: {plan}"},
    "plan.top": {"en": "Enterprise is the highest plan: nothing to upgrade."},
    "growth.same_day": {"en": "Same as yesterday"},
    "growth.same_month": {"en": "Same as last month"},
    "growth.new": {"en": "new"},
    # --- comparison ------------------------------------------------------------------
    "section.comparison": {"en": "Usage Comparison"},
    "comparison.today_vs_yesterday": {"en": "Today vs Yesterday"},
    "comparison.month_vs_last_month": {"en": "This Month vs Last Month"},
    "metric.tokens": {"en": "Tokens"},
    "metric.calls": {"en": "Calls"},
    "period.today": {"en": "Today"},
    "period.yesterday": {"en": "Yesterday"},
    "period.this_month": {"en": "This Month"},
    "period.last_month": {"en": "Last Month"},
    # --- service details -------------------------------------------------------------
    "section.services": {"en": "Service Usage Details"},
    "service.agent": {"en": "Agent"},
    "service.operator": {"en": "Operator"},
    "service.assistant": {"en": "Assistant"},
    # --- recent transactions ---------------------------------------------------------
    "section.recent": {"en": "Recent Transactions"},
    "button.view_all": {"en": "View All"},
    "column.type": {"en": "Type"},
    "column.service": {"en": "Service"},
    "column.time_in": {"en": "Time ({zone})"},
    "column.amount": {"en": "Amount"},
    "column.time": {"en": "Time"},
    "column.method": {"en": "Method"},
    "column.description": {"en": "Description"},
    "recent.empty": {"en": "No transactions yet."},
    "txn.CONSUME": {"en": "Consume"},
    "txn.RECHARGE": {"en": "Recharge"},
    "txn.BONUS": {"en": "Bonus"},
    "txn.REFUND": {"en": "Refund"},
    "txn.ADJUSTMENT": {"en": "Adjustment"},
    "method.WECHAT": {"en": "WeChat Pay"},
    "method.ALIPAY": {"en": "Alipay"},
    "method.BANK_TRANSFER": {"en": "Bank transfer"},
    "method.none": {"en": "—"},
    # --- leaderboard -----------------------------------------------------------------
    "section.leaderboard": {"en": "Usage Leaderboard"},
    "column.rank": {"en": "Rank"},
    "column.member": {"en": "Member"},
    "column.tokens": {"en": "Tokens"},
    "column.calls": {"en": "Calls"},
    "column.share": {"en": "Share"},
    "leaderboard.empty": {"en": "No usage this month yet."},
    # --- data freshness and health ---------------------------------------------------
    "data.freshness": {"en": "Data as of {time} ({zone}) · {files} files read"},
    "data.refreshing": {"en": "Reading new export files in the background; figures update when it is done."},
    "data.no_events": {"en": "No usage events have been read yet · {files} files read"},
    "data.first_read": {"en": "Reading the exports for the first time…"},
    "data.quarantine": {
        "en": "{rows} rows and {files} files were quarantined; figures may be incomplete. See data health."
    },
    # --- token history ---------------------------------------------------------------
    "history.intro": {"en": "Every token credited to or used by account {account}, newest first; times in {zone}."},
    "history.filter_types": {"en": "Types"},
    "history.any_type": {"en": "All types"},
    "history.filter_period": {"en": "Period"},
    "history.filter_member": {"en": "Member"},
    "history.any_member": {"en": "All members"},
    "history.filter_method": {"en": "Payment method"},
    "history.any_method": {"en": "All methods"},
    "history.totals": {"en": "Totals of the {count} matching entries"},
    "history.net": {"en": "Net"},
    "history.net_used": {"en": "Tokens used"},
    "history.net_used_note": {
        "en": "Tokens consumed by the matching entries: usage, not a debt (self-hosted usage is not billed)."
    },
    "history.entries": {"en": "Entries: {count}"},
    "history.column_balance": {"en": "Balance after"},
    "history.column_txn": {"en": "Transaction ID"},
    "history.column_user_id": {"en": "Member ID"},
    "history.empty": {"en": "No ledger entries match these filters; widen the period or clear a filter."},
    "history.previous": {"en": "Previous"},
    "history.next": {"en": "Next"},
    "history.page": {"en": "Page"},
    "history.page_of": {"en": "of {pages} · {count} entries"},
    "history.download": {"en": "Download CSV"},
    "history.download_help": {
        "en": "The matching entries as CSV. Text that a spreadsheet would run as a formula starts with an apostrophe."
    },
    "history.download_labels": {"en": "Include a row of column labels"},
    "history.download_labels_help": {
        "en": "The first row always holds the fixed column identifiers; "
        "ticked, a second row holds the column names in the page's language."
    },
    "history.bad_filter": {"en": "The period starts after it ends; pick the start date first."},
    "history.not_billed": {
        "en": "Self-hosted: usage is not billed, so there are no recharges, payment methods or balances here."
    },
    "history.no_names": {"en": "The sign-in file could not be read again, so app entries show usernames."},
    # --- recharge ------------------------------------------------------------------------
    "recharge.sandbox_banner": {
        "en": "SANDBOX: payments go to {provider}. No money moves; use the simulate button to mark an order paid."
    },
    "recharge.balance": {"en": "Token balance of {account}"},
    "recharge.choose": {"en": "Buy tokens"},
    "recharge.package": {"en": "Package"},
    "recharge.package_label": {"en": "{tokens} tokens · {price}"},
    "recharge.custom": {"en": "Custom amount"},
    "recharge.custom_tokens": {"en": "Tokens (in steps of {step})"},
    "recharge.bad_amount": {"en": "Choose between {low} and {high} tokens, in steps of {step}."},
    "recharge.method": {"en": "Payment method"},
    "recharge.price": {"en": "Price"},
    "recharge.price_help": {"en": "For {tokens} tokens, from the price list."},
    "recharge.create": {"en": "Create order"},
    "recharge.already_open": {"en": "This order is already waiting for payment below."},
    "recharge.your_order": {"en": "Your order"},
    "recharge.order_summary": {"en": "Order **{order}**: {tokens} tokens for {price}, paid by {method}."},
    "recharge.what_plan": {"en": " ({plan} plan, one month)"},
    "recharge.scan": {"en": "Scan with {method} to pay"},
    "recharge.sandbox_qr": {
        "en": "SANDBOX payment link: no wallet can pay it and nothing is charged. Simulate the payment instead."
    },
    "recharge.simulate": {"en": "Simulate payment (sandbox)"},
    "recharge.bank_pending": {
        "en": "Transfer the amount with the reference below. The order stays pending until an administrator "
        "confirms the money arrived; the tokens are credited then."
    },
    "recharge.bank_bank_name": {"en": "Bank"},
    "recharge.bank_account_name": {"en": "Account name"},
    "recharge.bank_account_number": {"en": "Account number"},
    "recharge.bank_reference": {"en": "Reference (put it in the transfer memo)"},
    "recharge.bank_amount": {"en": "Amount"},
    "recharge.paid": {"en": "Paid: {tokens} tokens were credited to the account."},
    "recharge.cancelled": {"en": "This order was cancelled ({note}); create a new one to buy tokens."},
    "recharge.cancelled_by_buyer": {"en": "cancelled by the buyer"},
    "recharge.cancel": {"en": "Cancel order"},
    "recharge.orders": {"en": "Orders of this account"},
    "recharge.no_orders": {"en": "No orders yet."},
    "recharge.kind_recharge": {"en": "Recharge"},
    "recharge.kind_plan": {"en": "{plan} plan"},
    "recharge.status_PENDING": {"en": "Pending"},
    "recharge.status_PAID": {"en": "Paid"},
    "recharge.status_CANCELLED": {"en": "Cancelled"},
    "recharge.column_order": {"en": "Order"},
    "recharge.column_price": {"en": "Price"},
    "recharge.column_reference": {"en": "Reference"},
    "recharge.column_status": {"en": "Status"},
    "recharge.column_by": {"en": "Ordered by"},
    # --- subscription ----------------------------------------------------------------
    "plans.current": {"en": "{account} is on the **{plan}** plan."},
    "plans.read_only": {"en": "Only managers and administrators can change the plan."},
    "plans.current_badge": {"en": "Current plan"},
    "plans.price": {"en": "Price"},
    "plans.monthly_price": {"en": "{price} / month"},
    "plans.contact_price": {"en": "Contact us"},
    "plans.included": {"en": "Included tokens per month: {tokens}"},
    "plans.by_contract": {"en": "by contract"},
    "plans.contact": {"en": "E-mail or phone"},
    "plans.message": {"en": "What do you need? (optional)"},
    "plans.contact_required": {"en": "Enter an e-mail address or phone number so we can reach you."},
    "plans.request_sent": {"en": "Thank you: request {request} was sent; our team will contact you."},
    # --- admin -----------------------------------------------------------------------
    "admin.cli_socket_down": {
        "en": "The command line (`ingest`, `report`, `alerts`) cannot reach this dashboard: its socket is not "
        "listening, and those commands refuse until it is. The server log says why; it is tried again every 30 seconds."
    },
    "admin.tab_transfers": {"en": "Pending transfers"},
    "admin.tab_adjustments": {"en": "Adjustments"},
    "admin.tab_requests": {"en": "Plan requests"},
    "admin.tab_health": {"en": "Data health"},
    # Sessions, paused sign-ins and the audit log
    "admin.tab_sessions": {"en": "Sessions"},
    "admin.tab_audit": {"en": "Audit log"},
    "admin.sessions_title": {"en": "Active sessions"},
    "admin.sessions_intro": {
        "en": "A session ends when its person signs out, after {hours} hours unused, at its expiry, "
        "when the user's password, roles or account change in the auth file, or when you end it here. "
        "Times in {zone}."
    },
    "admin.no_sessions": {"en": "Nobody is signed in."},
    "admin.column_user": {"en": "User"},
    "admin.column_signed_in": {"en": "Signed in"},
    "admin.column_last_seen": {"en": "Last seen"},
    "admin.column_expires": {"en": "Expires"},
    "admin.column_address": {"en": "Address"},
    "admin.column_browser": {"en": "Browser"},
    "admin.column_session": {"en": "Session"},
    "admin.session_choice": {"en": "Session"},
    "admin.end_session": {"en": "End this session"},
    "admin.end_all": {"en": "Sign this user out everywhere"},
    "admin.session_ended": {"en": "Ended a session of {user}; it is signed out at its next page."},
    "admin.sessions_ended": {"en": "Signed {user} out everywhere ({count} sessions)."},
    "admin.throttle_title": {"en": "Paused sign-ins"},
    "admin.no_locks": {"en": "No username or address is paused after failed sign-ins."},
    "admin.column_scope": {"en": "Kind"},
    "admin.column_value": {"en": "Username or address"},
    "admin.column_failures": {"en": "Failed attempts"},
    "admin.column_state": {"en": "State"},
    "admin.column_until": {"en": "Until"},
    "admin.scope_username": {"en": "Username"},
    "admin.scope_address": {"en": "Address"},
    "admin.state_locked": {"en": "Locked"},
    "admin.state_waiting": {"en": "Slowed down"},
    "admin.unlock_choice": {"en": "Unlock"},
    "admin.unlock": {"en": "Unlock"},
    "admin.unlocked": {"en": "Unlocked {value}; its failed attempts no longer count."},
    "admin.audit_action": {"en": "Action"},
    "admin.audit_all": {"en": "All actions"},
    "admin.audit_actor": {"en": "Who"},
    "admin.audit_account": {"en": "Account"},
    "admin.audit_dates": {"en": "Dates"},
    "admin.audit_empty": {"en": "Nothing in the audit log matches these filters."},
    "admin.audit_count": {"en": "{count} entries, newest first; times in {zone}."},
    "admin.audit_csv": {"en": "Download CSV"},
    "admin.column_when": {"en": "Time"},
    "admin.column_actor": {"en": "Who"},
    "admin.column_action": {"en": "Action"},
    "admin.column_target": {"en": "What"},
    "admin.column_detail": {"en": "Detail"},
    "audit.sign_in.success": {"en": "Signed in"},
    "audit.sign_in.failure": {"en": "Failed sign-in"},
    "audit.sign_in.refused": {"en": "Sign-in refused (paused)"},
    "audit.session.end": {"en": "Session ended"},
    "audit.throttle.unlock": {"en": "Sign-in unlocked"},
    "audit.transfer.confirm": {"en": "Transfer confirmed"},
    "audit.transfer.reject": {"en": "Transfer rejected"},
    "audit.order.paid": {"en": "Order paid"},
    "audit.order.cancel": {"en": "Order cancelled"},
    "audit.plan.change": {"en": "Plan changed"},
    "audit.plan.request": {"en": "Plan requested"},
    "audit.adjustment.post": {"en": "Adjustment posted"},
    "audit.alert.thresholds": {"en": "Alert thresholds changed", "zh": "修改告警阈值"},
    "audit.account.switch": {"en": "Admin switched account"},
    # --- the audit page's kinds and sentences (security_panel.py) ---
    "admin.column_from": {"en": "From"},
    "admin.throttle_more": {
        "en": "{total} names and addresses are paused; the {shown} with the latest failures are listed. "
        "Unlocking a username clears it at every address."
    },
    "admin.audit_kind": {"en": "Kind"},
    "admin.audit_actor_help": {"en": "A username: what they did, and the ends of their sessions."},
    "admin.audit_from": {"en": "From (time of day)"},
    "admin.audit_to": {"en": "To (time of day)"},
    "audit.kind.sign_in": {"en": "Sign-ins"},
    "audit.kind.session": {"en": "Sessions"},
    "audit.kind.unlock": {"en": "Unlocks"},
    "audit.kind.money": {"en": "Payments and adjustments"},
    "audit.kind.plan": {"en": "Plans"},
    "audit.kind.alert": {"en": "Alerts"},
    "audit.kind.account": {"en": "Account switches"},
    "audit.kind.other": {"en": "Other"},
    "audit.detail.refused_locked": {"en": "{count} attempt(s) refused: sign-in is paused after too many failures"},
    "audit.detail.refused_waiting": {"en": "{count} attempt(s) refused: too soon after a failed attempt"},
    "audit.detail.end_sign_out": {"en": "Signed out (session {session})"},
    "audit.detail.end_admin": {"en": "Ended by an administrator (session {session})"},
    "audit.detail.end_admin_all": {"en": "Ended by an administrator with all the user's sessions ({count})"},
    "audit.detail.end_credentials": {"en": "Ended: the password, role or account changed (session {session})"},
    "audit.detail.end_idle": {"en": "Ended after being idle too long (session {session})"},
    "audit.detail.end_expired": {"en": "Ended at its longest lifetime (session {session})"},
    "audit.detail.end_unknown_user": {"en": "Ended: the user is no longer in the auth file (session {session})"},
    "audit.detail.plan_request": {"en": "{kind} request for the {plan} plan"},
    "admin.no_transfers": {"en": "No bank transfers are waiting for confirmation."},
    "admin.transfer": {
        "en": "**{reference}** · account {account} · {tokens} tokens for {price} · ordered by {by} at {at}"
    },
    "admin.note": {"en": "Note (required to reject)"},
    "admin.confirm": {"en": "Confirm receipt"},
    "admin.reject": {"en": "Reject"},
    "admin.note_required": {"en": "Write a note saying why the transfer is rejected."},
    "admin.adjust_account": {"en": "Account"},
    "admin.adjust_amount": {"en": "Tokens (negative to deduct)"},
    "admin.adjust_reason": {"en": "Reason"},
    "admin.adjust_post": {"en": "Post adjustment"},
    "admin.adjust_invalid": {"en": "An adjustment needs a non-zero number of tokens and a reason."},
    "admin.adjust_done": {"en": "Posted {amount} tokens to {account} as {txn}."},
    "admin.adjust_repeat": {
        "en": "{amount} tokens to {account} were already posted as {txn}; to post it again, change the reason."
    },
    "admin.no_requests": {"en": "No plan requests yet."},
    "admin.files_read": {"en": "Files read"},
    "admin.bad_files": {"en": "Rejected files"},
    "admin.quarantined_rows": {"en": "Quarantined rows"},
    "admin.health_clean": {"en": "Every file was read and no row was quarantined."},
    "admin.rejected_files": {"en": "Rejected files"},
    "admin.reasons": {"en": "Quarantined rows by reason"},
    "admin.files": {"en": "Every export file"},
    "admin.column_created_at": {"en": "Time"},
    "admin.column_account_id": {"en": "Account"},
    "admin.column_amount": {"en": "Amount"},
    "admin.column_reason": {"en": "Reason"},
    "admin.column_created_by": {"en": "By"},
    "admin.column_txn_id": {"en": "Transaction ID"},
    "admin.column_requested_by": {"en": "Requested by"},
    "admin.column_plan": {"en": "Plan"},
    "admin.column_kind": {"en": "Kind"},
    "admin.column_contact": {"en": "Contact"},
    "admin.column_message": {"en": "Message"},
    "admin.column_path": {"en": "File"},
    "admin.column_error": {"en": "Error"},
    "admin.column_status": {"en": "Status"},
    "admin.column_rows_read": {"en": "Rows read"},
    "admin.column_accepted": {"en": "Accepted"},
    "admin.column_quarantined": {"en": "Quarantined"},
    "admin.column_duplicates": {"en": "Duplicates"},
    "admin.column_conflicts": {"en": "Conflicts"},
    "admin.column_latest_at": {"en": "Latest time"},
    "admin.column_rows": {"en": "Rows"},
    # --- routes, accounts, plans, admin history (engineer "pages") -----------------
    "error.no_access": {"en": "You don't have access to this page."},
    "error.no_access_hint": {"en": "Your role does not include it; ask an administrator if you need it."},
    "error.no_access_back": {"en": "Back to the Analytics Center"},
    # an unknown URL path: the app's own page, in the session's language (not Streamlit's English dialog)
    "error.not_found": {"en": "Page not found", "zh": "页面不存在"},
    "error.not_found_hint": {
        "en": "There is no page at /{path}. Check the address, or go back to the Analytics Center.",
        "zh": "/{path} 没有对应的页面。请检查地址，或返回分析中心。",
    },
    "plans.enterprise_nothing_to_buy": {
        "en": "Enterprise is the highest plan: there is nothing to upgrade here. "
        "Your account manager handles changes to the contract."
    },
    "plans.enterprise_recharge": {"en": "Need more tokens? Recharge"},
    "plans.contact_placeholder": {"en": "name@example.com or +86 138 0000 0000"},
    "plans.contact_invalid": {
        "en": "Enter a valid e-mail address (name@example.com) or phone number (7 to 15 digits)."
    },
    "admin.confirmed": {"en": "Confirmed {reference}: {tokens} tokens ({price}) credited to {account}."},
    "admin.rejected": {"en": "Rejected {reference} ({tokens} tokens, {price}) of {account}: {note}."},
    "admin.transfer_history": {"en": "Confirmed and rejected transfers"},
    "admin.no_transfer_history": {"en": "No transfer has been confirmed or rejected yet."},
    "admin.decision_PAID": {"en": "Confirmed"},
    "admin.decision_CANCELLED": {"en": "Rejected"},
    "admin.column_decision": {"en": "Decision"},
    "admin.column_status_by": {"en": "Decided by"},
    "admin.column_reference": {"en": "Reference"},
    "admin.column_tokens": {"en": "Tokens"},
    "admin.column_price": {"en": "Amount paid"},
    "admin.column_note": {"en": "Note"},
    "admin.column_ordered_by": {"en": "Ordered by"},
    "admin.kind.enterprise_contact": {"en": "Enterprise contact"},
    "admin.kind.upgrade": {"en": "Upgrade"},
    "admin.export.accounts": {"en": "Accounts"},
    "admin.export.members": {"en": "Members"},
    "admin.export.usage_events": {"en": "Usage events"},
    "admin.export.transactions": {"en": "Transactions"},
    "admin.file_status.ok": {"en": "Read"},
    "admin.file_status.rejected": {"en": "Rejected"},
    "sidebar.unknown_account": {"en": "There is no account {account}; showing your own account instead."},
    # --- /explore, rankings, runway and month to date (SPEC §8) ----------------------------
    "page.explore": {"en": "Explore"},
    "explore.intro": {"en": "Usage of account {account} by period, group and filter; days are local to {zone}."},
    "explore.period": {"en": "Period"},
    "explore.period.today": {"en": "Today"},
    "explore.period.yesterday": {"en": "Yesterday"},
    "explore.period.this_week": {"en": "This week (so far)"},
    "explore.period.last_week": {"en": "Last week"},
    "explore.period.this_month": {"en": "This month (so far)"},
    "explore.period.last_month": {"en": "Last month"},
    "explore.period.this_year": {"en": "This year (so far)"},
    "explore.period.last_year": {"en": "Last year"},
    "explore.period.last_7_days": {"en": "Last 7 complete days"},
    "explore.period.last_30_days": {"en": "Last 30 complete days"},
    "explore.period.last_90_days": {"en": "Last 90 complete days"},
    "explore.period.last_7_days_today": {"en": "Last 7 days, including today so far"},
    "explore.period.last_30_days_today": {"en": "Last 30 days, including today so far"},
    "explore.period.last_90_days_today": {"en": "Last 90 days, including today so far"},
    "explore.period.custom": {"en": "Custom"},
    "explore.custom_range": {"en": "First and last day"},
    "explore.granularity": {"en": "Granularity"},
    "explore.granularity.hour": {"en": "Hour"},
    "explore.granularity.day": {"en": "Day"},
    "explore.granularity.week": {"en": "Week"},
    "explore.granularity.month": {"en": "Month"},
    "explore.metric": {"en": "Metric"},
    "explore.metric.tokens": {"en": "Tokens"},
    "explore.metric.calls": {"en": "Calls"},
    "explore.metric.input_tokens": {"en": "Input tokens"},
    "explore.metric.output_tokens": {"en": "Output tokens"},
    "explore.group": {"en": "Group by"},
    "explore.group.none": {"en": "Nothing"},
    "explore.group.service": {"en": "Service"},
    "explore.group.member": {"en": "Member"},
    "explore.group.model": {"en": "Model"},
    "explore.top": {"en": "Top"},
    "explore.filter.service": {"en": "Services"},
    "explore.filter.member": {"en": "Members"},
    "explore.filter.model": {"en": "Models"},
    "explore.filter.any": {"en": "Any"},
    "explore.other": {"en": "Other"},
    "explore.total": {"en": "Total"},
    "explore.summary": {"en": "{metric}, {span}: **{total}**; previous period, {previous_span}: {previous} ({change})"},
    "explore.span": {"en": "{first} to {last}"},
    "explore.day_until": {"en": "{day} until {time}"},
    "explore.days_one": {"en": "1 day"},
    "explore.days_many": {"en": "{days} days"},
    "explore.so_far": {"en": "{days}, so far"},
    "explore.sort": {"en": "Sort by"},
    "explore.sort.value": {"en": "Current period"},
    "explore.sort.previous": {"en": "Previous period"},
    "explore.sort.change": {"en": "Change"},
    "explore.sort.change_pct": {"en": "Change %"},
    "explore.compare": {"en": "Draw the previous period on the chart"},
    "explore.previous_line": {"en": "Previous period (total)"},
    "explore.chart_title": {"en": "{what}, {span}, by {granularity}"},
    "explore.chart_by": {"en": "{metric} by {group}"},
    "explore.column.member_id": {"en": "User id"},
    "explore.notice.too_many_buckets": {
        "en": "A chart draws at most {max} bars, so this period is shown with coarser bars; "
        "pick a shorter period for finer ones."
    },
    "explore.notice.bad_sort": {
        "en": "The link asked for an unknown order; the table is sorted by the current period."
    },
    "explore.not_in_exports": {
        "en": "The exports carry no input or output tokens for this period, so there is nothing to show; "
        "pick tokens or calls."
    },
    "explore.io_partial": {"en": "Only {io_calls} of {calls} calls carry input and output tokens."},
    "explore.empty": {"en": "No usage in this period with these filters."},
    "explore.empty_period": {
        "en": "No usage in {span} or in the period before it with these filters; pick another period or filter."
    },
    "explore.column.group": {"en": "Group"},
    "explore.column.key": {"en": "Key"},
    "explore.column.value": {"en": "Value"},
    "explore.column.share": {"en": "Share"},
    "explore.column.previous": {"en": "Previous period"},
    "explore.column.change": {"en": "Change"},
    "explore.column.change_pct": {"en": "Change %"},
    "explore.select_hint": {"en": "Select a member's row to see that member by service and by model."},
    "explore.drill": {"en": "{name} by service and by model"},
    "explore.download": {"en": "Download CSV"},
    "explore.hover_range": {"en": "{start} to {end}"},
    "explore.notice.bad_period": {"en": "The link asked for an unknown period; showing the default view."},
    "explore.notice.bad_custom": {
        "en": "The link's custom days are not valid dates in order between 2000 and 2099; showing the default period."
    },
    "explore.notice.bad_granularity": {"en": "The link asked for an unknown granularity; showing days."},
    "explore.notice.bad_metric": {"en": "The link asked for an unknown metric; showing tokens."},
    "explore.notice.bad_group": {"en": "The link asked for an unknown grouping; showing the default grouping."},
    "explore.notice.bad_top": {"en": "The link asked for an unknown top N; showing the top 10."},
    "explore.notice.bad_service": {"en": "The link named a service this account has no usage of; it is left out."},
    "explore.notice.bad_member": {"en": "The link named a member this account has no usage of; it is left out."},
    "explore.notice.bad_model": {"en": "The link named a model this account has no usage of; it is left out."},
    "explore.notice.hour_too_long": {
        "en": "Hours are shown for periods of up to 14 days within the last few weeks; showing days."
    },
    "views.title": {"en": "Saved views"},
    "views.none": {"en": "No saved views yet: name the view you are looking at and save it."},
    "views.name": {"en": "Name this view"},
    "views.name_hint": {"en": "e.g. Agent use by member, last month"},
    "views.save": {"en": "Save view"},
    "views.saved": {"en": "Saved “{name}”."},
    "views.empty_name": {"en": "Give the view a name first."},
    "views.remove": {"en": "Remove “{name}”"},
    "views.link": {"en": "The address in your browser's bar is this view's link: share it to show the same view."},
    "error.appdb.view_name_long": {"en": "A view's name has at most {max} characters; shorten it."},
    "error.appdb.view_too_long": {"en": "This view has too many filters to save; remove a few and save again."},
    "rankings.title": {"en": "Rankings"},
    "rankings.period": {"en": "Ranking period"},
    "rankings.caption": {"en": "Members by tokens, {span}; the rank change is against {previous_span}."},
    "rankings.sort": {"en": "Order"},
    "rankings.sort.rank": {"en": "By rank"},
    "rankings.sort.rise": {"en": "Largest rise first"},
    "rankings.sort.fall": {"en": "Largest fall first"},
    "rankings.column.previous_rank": {"en": "Previous rank"},
    "rankings.empty": {"en": "No member used tokens in this period."},
    "rankings.column.change": {"en": "Rank change"},
    "rankings.new": {"en": "new"},
    "rankings.same": {"en": "="},
    "rankings.download": {"en": "Download rankings CSV"},
    "runway.title": {"en": "Balance runway"},
    "runway.ok": {
        "en": "At the pace of the last {days} days ({burn} a day), tokens last until {date}, about {left} days."
    },
    "runway.not_running_out": {"en": "At the pace of the last {days} days: not running out (no consumption)."},
    "runway.overdrawn": {"en": "The balance is used up; recharge to keep using the services."},
    "mtd.title": {"en": "Why it changed"},
    "mtd.summary": {
        "en": "This month so far: **{current}** tokens, against **{previous}** in the same span of last month "
        "({change})."
    },
    "mtd.contributors": {"en": "Largest contributors by {dimension}:"},
    "mtd.dimension.member": {"en": "member"},
    "mtd.dimension.service": {"en": "service"},
    "mtd.dimension.model": {"en": "model"},
    "mtd.contribution": {"en": "{change} from {label}"},
    "mtd.no_change": {"en": "No change."},
    # --- alerts: banner, thresholds form, delivery status -------------------------
    "alerts.title": {"en": "Alerts", "zh": "告警"},
    "alerts.intro": {
        "en": "Notified through the configured webhooks when an alert starts and when it clears. "
        "Leave a field empty to switch that alert off.",
        "zh": "告警开始和解除时各通过已配置的通知地址通知一次。留空即关闭该项告警。",
    },
    "alerts.balance_below": {"en": "Balance below (tokens)", "zh": "余额低于（Token）"},
    "alerts.runway_below": {
        "en": "Runway below (days, at the last 7 days' pace)",
        "zh": "可用天数低于（天，按近 7 天用量）",
    },
    "alerts.usage_multiple": {
        "en": "Today's usage above k × the median of the last 30 days (k)",
        "zh": "今日用量高于近 30 天每日中位数的倍数",
    },
    "alerts.off": {"en": "off", "zh": "关闭"},
    "alerts.save": {"en": "Save alerts", "zh": "保存告警"},
    "alerts.saved": {"en": "Alert thresholds saved.", "zh": "告警阈值已保存。"},
    "alerts.unchanged": {"en": "Nothing changed.", "zh": "没有变化。"},
    "alerts.history": {"en": "Latest changes:", "zh": "最近的修改："},
    "alerts.change": {"en": "{at}: {by} {what}.", "zh": "{at}：{by} {what}。"},
    "alerts.change.and": {"en": "; ", "zh": "；"},
    "alerts.change.balance": {
        "en": "set the balance alert to below {new} tokens (before: {old})",
        "zh": "将余额告警设为低于 {new} Token（之前：{old}）",
    },
    "alerts.change.balance_off": {
        "en": "switched the balance alert off (before: below {old} tokens)",
        "zh": "关闭了余额告警（之前：低于 {old} Token）",
    },
    "alerts.change.runway": {
        "en": "set the runway alert to below {new} days (before: {old})",
        "zh": "将可用天数告警设为低于 {new} 天（之前：{old}）",
    },
    "alerts.change.runway_off": {
        "en": "switched the runway alert off (before: below {old} days)",
        "zh": "关闭了可用天数告警（之前：低于 {old} 天）",
    },
    "alerts.change.multiple": {
        "en": "set the usage alert to {new} × the 30-day median (before: {old})",
        "zh": "将用量告警设为近 30 天中位数的 {new} 倍（之前：{old}）",
    },
    "alerts.change.multiple_off": {
        "en": "switched the usage alert off (before: {old} × the median)",
        "zh": "关闭了用量告警（之前：中位数的 {old} 倍）",
    },
    "alerts.now": {"en": "Set now: {what}.", "zh": "当前设置：{what}。"},
    "alerts.now.none": {"en": "No alert is set.", "zh": "尚未设置告警。"},
    "alerts.now.balance": {"en": "balance below {value} tokens", "zh": "余额低于 {value} Token"},
    "alerts.now.runway": {"en": "runway below {value} days", "zh": "可用天数低于 {value} 天"},
    "alerts.now.multiple": {
        "en": "today's usage above {value} × the 30-day median",
        "zh": "今日用量高于近 30 天中位数的 {value} 倍",
    },
    "alerts.banner.balance": {
        "en": "Balance alert: {balance} tokens left, below the threshold of {threshold}.",
        "zh": "余额告警：剩余 {balance} Token，低于阈值 {threshold}。",
    },
    "alerts.banner.overdrawn": {
        "en": "Runway alert: the balance is used up; recharge to keep the services running.",
        "zh": "可用天数告警：余额已用完，请充值以免服务中断。",
    },
    "alerts.banner.runway": {
        "en": "Runway alert: at the last 7 days' pace the tokens last {days} more days (until {date}), "
        "below the threshold of {threshold} days.",
        "zh": "可用天数告警：按近 7 天用量，Token 还可用 {days} 天（至 {date}），低于阈值 {threshold} 天。",
    },
    "alerts.banner.usage_spike": {
        "en": "Usage alert: today's {today} tokens are above {k} × the 30-day median ({median} a day).",
        "zh": "用量告警：今日用量 {today} Token，高于近 30 天中位数（每天 {median}）的 {k} 倍。",
    },
    "alerts.deliveries": {"en": "Alert notifications", "zh": "告警通知"},
    "alerts.receivers": {
        "en": "{count} webhook(s) configured in ANALYTICS_ALERT_WEBHOOKS; `python -m token_analytics alerts` sends.",
        "zh": "已配置 {count} 个告警通知地址，由定时运行的告警命令发送。",
    },
    "alerts.no_deliveries": {"en": "No alert notification yet.", "zh": "还没有告警通知。"},
    "alerts.receiver_down": {
        "en": "{receiver}: the last delivery failed at {at} ({error}); "
        "{pending} notification(s) wait for the next run.",
        "zh": "{receiver}：{at} 发送失败（{error}）；{pending} 条通知等待下次运行发送。",
    },
    "alerts.column.receiver": {"en": "Receiver", "zh": "接收方"},
    "alerts.column.last_attempt_at": {"en": "Last attempt", "zh": "最近一次发送"},
    "alerts.column.last_ok": {"en": "Delivered", "zh": "已送达"},
    "alerts.column.last_failure_at": {"en": "Last failure", "zh": "最近一次失败"},
    "alerts.column.last_error": {"en": "Error", "zh": "错误"},
    "alerts.column.pending": {"en": "Pending", "zh": "待发送"},
    # --- /analysis: like-for-like cards, spans, sparklines, partial bars ----------
    "section.cards": {"en": "Overview", "zh": "概览"},
    "card.calls_value": {"en": "{calls} calls", "zh": "{calls} 次"},
    "card.vs_yesterday_to": {
        "en": "vs yesterday to {time}: {previous} tokens",
        "zh": "对比昨日截至 {time}：{previous} 个 Token",
    },
    "card.vs_all_yesterday": {
        "en": "vs all of yesterday: {previous} tokens",
        "zh": "对比昨日全天：{previous} 个 Token",
    },
    "card.vs_month_span": {
        "en": "vs {span}, same span: {previous} tokens",
        "zh": "对比上月同期 {span}：{previous} 个 Token",
    },
    "card.vs_all_last_month": {
        "en": "vs all of last month (shorter): {previous} tokens",
        "zh": "对比上月全月（上月较短）：{previous} 个 Token",
    },
    "card.vs_month_nothing": {
        "en": "vs the same span of last month: none yet",
        "zh": "对比上月同期：尚无时段",
    },
    "card.span_to_time": {"en": "{days} to {time}", "zh": "{days} {time}"},
    "card.all_yesterday": {"en": "All of yesterday: {tokens}", "zh": "昨日全天：{tokens}"},
    "card.all_last_month": {"en": "All of last month: {tokens}", "zh": "上月全月：{tokens}"},
    "card.overdrawn": {"en": "Overdrawn by {tokens} tokens", "zh": "已透支 {tokens} 个 Token"},
    "card.spark_day_tokens": {
        "en": "Last 30 days, daily (last bar: today so far)",
        "zh": "最近 30 天，按日（最后一根：今日截至目前）",
    },
    "card.spark_month_tokens": {
        "en": "Last 12 months, monthly (last bar: this month so far)",
        "zh": "最近 12 个月，按月（最后一根：本月截至目前）",
    },
    "card.spark_day_calls": {
        "en": "Calls, last 30 days, daily (last bar: today so far)",
        "zh": "调用次数，最近 30 天，按日（最后一根：今日截至目前）",
    },
    "usage.balance_line": {"en": "Balance: {balance} tokens", "zh": "余额：{balance} 个 Token"},
    "comparison.partial_note": {
        "en": "Hatched, lighter bars are partial: today so far (to {time}) and this month so far; "
        "the grey bars are the complete previous day and month.",
        "zh": "带斜线的浅色柱为未完整时段：今日截至 {time}、本月截至目前；灰色柱为完整的前一天和上个月。",
    },
    "chart.so_far": {"en": "{label} (so far)", "zh": "{label}（截至目前）"},
    "chart.hover_value": {"en": "{label}: {value} {unit}", "zh": "{label}：{value} {unit}"},
    "unit.tokens": {"en": "tokens", "zh": "个 Token"},
    "unit.calls": {"en": "calls", "zh": "次调用"},
    "column.amount_tokens": {"en": "Amount (tokens)", "zh": "金额（Token）"},
    "recharge.bank_details": {"en": "Transfer details", "zh": "转账信息"},
}


for _key, _text in ZH.items():
    if _key in STRINGS:  # a Chinese text for a message that no longer exists is reported by the tests
        STRINGS[_key]["zh"] = _text


def language_of_locale(tag: str | None) -> str:
    """The language for a browser's `navigator.language` ("zh-CN", "zh-Hans-SG", "en-GB"): Chinese or English."""
    # Only Simplified Chinese exists; a zh-TW or zh-HK reader still reads it more easily than English.
    primary = (tag or "").replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    """The language to draw in: `language()`'s, else the Streamlit session's, else English."""
    forced = _forced.get()
    if forced:
        return forced
    source = _session_source
    chosen = source() if source is not None else None
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


# The session's language, when a user interface has one: web/i18n.py installs its reader (Streamlit's
# session state) here, so this module, below every concern, never imports Streamlit.
_session_source: Callable[[], str | None] | None = None


def use_session_language(source: Callable[[], str | None]) -> None:
    """Install the reader of the session's language (the web layer's, once at import)."""
    global _session_source
    _session_source = source


@contextmanager
def language(lang: str) -> Iterator[None]:
    """Draw (or format) in `lang` inside the block, whatever the session says; for tools and tests."""
    if lang not in LANGUAGES:
        raise ValueError(f"Unknown language {lang!r}; use one of: {', '.join(LANGUAGES)}.")
    token = _forced.set(lang)
    try:
        yield
    finally:
        _forced.reset(token)


def t(key: str, lang: str | None = None, **fmt: object) -> str:
    """The message `key` in `lang` (default: the current language; English when not translated).

    An unknown `key`, or a placeholder left without a value, raises KeyError: a typo must fail a
    test, not show an id to a person.
    """
    entry = STRINGS[key]
    text = entry.get(lang or current_language()) or entry[DEFAULT_LANGUAGE]
    return text.format(**fmt)

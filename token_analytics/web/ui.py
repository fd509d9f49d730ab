"""Shared page helpers: the page table, who is signed in, account scoping, page guards.

The router (dashboard.py) decides the user and the known accounts on every run, before any
page runs, and publishes them with `publish_session`; pages read them with `current_user()`
and `current_account()`. Scoping lives in `account_for`: only an admin ever gets an account
other than their own. The admin's choice is also kept in the URL (`?account=acct-004`) so a
reload or a shared link opens the same account; everyone else's URL parameter is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from token_analytics.accounts.audit import AuditAction, AuditLog
from token_analytics.accounts.users import User
from token_analytics.billing.prices import PricesError
from token_analytics.settings import Mode
from token_analytics.web import data, fmt
from token_analytics.web.i18n import STRINGS, t

log = logging.getLogger(__name__)

USER_KEY = "nav_user"
ACCOUNT_IDS_KEY = "nav_account_ids"
SWITCHER_KEY = "nav_account"  # the admin's selectbox
CHOICE_KEY = "nav_account_choice"  # survives runs in which the selectbox is not drawn
NAMES_KEY = "nav_account_names"  # account id -> name, as the router read them on this run
ACCOUNT_PARAM = "account"  # the admin's account in the URL: ?account=acct-004
UNKNOWN_KEY = "nav_account_unknown"  # an unknown ?account= the admin asked for, until they pick one
AUDITED_KEY = "nav_account_audited"  # (admin, account) last written to the audit log in this session

PERMISSIONS = ("signed_in", "buy", "admin")


@dataclass(frozen=True)
class PageSpec:
    key: str
    file: str  # in app_pages/
    title_key: str  # i18n id
    icon: str
    url_path: str


# The landing page. Streamlit serves a `default=True` page at "/" and never at its url_path,
# so the router makes a hidden root page that switches to this one: the landing URL is /analysis.
LANDING = "analysis"

PAGES: tuple[PageSpec, ...] = (
    PageSpec("analysis", "analysis.py", "page.analysis", ":material/analytics:", "analysis"),
    PageSpec("explore", "explore.py", "page.explore", ":material/query_stats:", "explore"),
    PageSpec("token_history", "token_history.py", "page.token_history", ":material/receipt_long:", "token-history"),
    PageSpec("recharge", "recharge.py", "page.recharge", ":material/add_card:", "recharge"),
    PageSpec("subscription", "subscription.py", "page.subscription", ":material/workspace_premium:", "subscription"),
    PageSpec("admin", "admin.py", "page.admin", ":material/admin_panel_settings:", "admin"),
)
SAAS_ONLY = frozenset({"recharge", "subscription"})
BUYER_ONLY = frozenset({"recharge", "subscription"})
ADMIN_ONLY = frozenset({"admin"})


def allowed_pages(mode: str, user: User | None, ledger_exists: Callable[[], bool] = lambda: True) -> list[PageSpec]:
    """The pages to register for `mode` and `user` (SPEC §5).

    Signed out: every page of the mode (the router registers them hidden so a deep link keeps
    its URL, and runs none). Self-hosted: no recharge or subscription; token history only when
    `ledger_exists()`. Analysts: no recharge or subscription. Admin page: role admin only.
    """
    saas = mode == Mode.SAAS
    pages = [page for page in PAGES if saas or page.key not in SAAS_ONLY]
    if user is None:
        return pages
    if not user.can_buy:
        pages = [page for page in pages if page.key not in BUYER_ONLY]
    if not user.can_admin:
        pages = [page for page in pages if page.key not in ADMIN_ONLY]
    if not saas and any(page.key == "token_history" for page in pages) and not ledger_exists():
        pages = [page for page in pages if page.key != "token_history"]
    return pages


def denied_pages(mode: str, user: User) -> list[PageSpec]:
    """The pages of `mode` that `user`'s role may not open (answered "no access", never run).

    Only role limits count: a page the mode does not have (SaaS pages in self-hosted mode, a
    history without a ledger) stays unknown, as SPEC §5 asks.
    """
    saas = mode == Mode.SAAS
    denied = set()
    if not user.can_buy:
        denied |= BUYER_ONLY
    if not user.can_admin:
        denied |= ADMIN_ONLY
    return [page for page in PAGES if page.key in denied and (saas or page.key not in SAAS_ONLY)]


def no_access(back: object) -> None:
    """What a signed-in person sees on a page their role may not open, with the way back (`back`: a page)."""
    st.warning(t("error.no_access"), icon=":material/lock:")
    st.caption(t("error.no_access_hint"))
    st.page_link(back, label=t("error.no_access_back"), icon=":material/arrow_back:")  # type: ignore[arg-type]


def account_for(user: User, requested: str | None, known: Sequence[str] = ()) -> str:
    """THE scoping rule: the account whose data `user` sees.

    An admin gets `requested` when it is one of the `known` accounts, otherwise their own
    (or the first known one when their own is not among them). Everyone else gets their own
    account, whatever the URL, query parameters or widget state asked for.
    """
    if not user.is_admin:
        return user.account_id
    if requested and requested in known:
        return requested
    if not known or user.account_id in known:
        return user.account_id
    return known[0]


def publish_session(user: User | None, account_ids: Sequence[str] = (), names: Mapping[str, str] | None = None) -> None:
    """Called by the router on every run, before a page runs."""
    st.session_state[USER_KEY] = user
    st.session_state[ACCOUNT_IDS_KEY] = tuple(account_ids)
    st.session_state[NAMES_KEY] = dict(names or {})


def account_names(accounts: pd.DataFrame) -> dict[str, str]:
    """account_id -> account_name from `Store.accounts()`; accounts without a name are left out."""
    names = {}
    for account_id, name in zip(accounts["account_id"], accounts["account_name"], strict=True):
        if pd.isna(account_id) or pd.isna(name) or not str(name).strip():
            continue
        names[str(account_id)] = str(name).strip()
    return names


def known_names() -> dict[str, str]:
    """The account names the router published for this run (a copy: safe to capture in a format_func)."""
    return dict(st.session_state.get(NAMES_KEY, {}))


def account_label(account_id: str, names: Mapping[str, str] | None = None) -> str:
    """ "Acme Corp (acct-001)", or the bare id when the account has no name. Plain text, not Markdown."""
    names = st.session_state.get(NAMES_KEY, {}) if names is None else names
    name = names.get(account_id)
    return f"{name} ({account_id})" if name else account_id


def account_markdown(account_id: str) -> str:
    """`account_label` escaped for Markdown (titles, captions, metric labels)."""
    return fmt.plain(account_label(account_id))


def current_user() -> User | None:
    """The signed-in user of this session, as the router decided it on this run."""
    user = st.session_state.get(USER_KEY)
    return user if isinstance(user, User) else None


def requested_account() -> str | None:
    """The admin's latest choice: the switcher in this session, else the URL's `?account=`.

    The selectbox value is updated before the run starts. `account_for` ignores the answer
    for everyone but an admin.
    """
    chosen = st.session_state.get(SWITCHER_KEY) or st.session_state.get(CHOICE_KEY)
    return chosen or st.query_params.get(ACCOUNT_PARAM)


def current_account(user: User | None = None) -> str:
    """The account the current page must show; stops the page when nobody is signed in."""
    user = require(user or current_user())
    return account_for(user, requested_account(), st.session_state.get(ACCOUNT_IDS_KEY, ()))


def account_switcher(user: User, account_ids: Sequence[str], names: Mapping[str, str]) -> str:
    """Sidebar account picker for admins (others just see their account); returns the scoped account."""
    ids = list(dict.fromkeys(account_ids))
    current = account_for(user, requested_account(), ids)
    if not user.is_admin:
        st.sidebar.caption(t("sidebar.account_value", account=fmt.plain(account_label(current, names))))
        return current
    asked = st.query_params.get(ACCOUNT_PARAM)
    if asked and asked not in ids:
        st.session_state[UNKNOWN_KEY] = asked  # said until the admin picks an account (the URL is replaced below)
    if st.session_state.get(UNKNOWN_KEY):
        st.sidebar.warning(t("sidebar.unknown_account", account=fmt.plain(st.session_state[UNKNOWN_KEY])))
    options = ids if current in ids else [current, *ids]
    if st.session_state.get(SWITCHER_KEY) not in options:
        st.session_state[SWITCHER_KEY] = current  # before the widget exists, so no value/index clash
    choice = st.sidebar.selectbox(
        t("sidebar.account"),
        options,
        format_func=lambda account: account_label(account, names),
        key=SWITCHER_KEY,
        on_change=lambda: st.session_state.pop(UNKNOWN_KEY, None),
    )
    st.session_state[CHOICE_KEY] = choice
    scoped = account_for(user, choice, ids)
    if st.query_params.get(ACCOUNT_PARAM) != scoped:
        st.query_params[ACCOUNT_PARAM] = scoped  # a reload or a shared link opens the same account
    audit_switch(user, scoped)
    return scoped


def audit_switch(user: User, account: str) -> None:
    """One audit row each time an admin's account changes in this session (switcher or URL), none on a rerun.

    A session starts on the admin's own account, so opening a link to another account is a switch too.
    """
    before = st.session_state.get(AUDITED_KEY)
    previous = before[1] if isinstance(before, tuple) and before[0] == user.username else user.account_id
    if account != previous:
        AuditLog(data.app_db().connection).record(
            AuditAction.ACCOUNT_SWITCH,
            user.username,
            account_id=account,
            target=previous,
            detail=f"{previous} -> {account}",
        )
    st.session_state[AUDITED_KEY] = (user.username, account)


def require(user: User | None, permission: str = "signed_in") -> User:
    """Page guard: the user when they hold `permission`, else a one-line error and `st.stop()`."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; use one of {PERMISSIONS}")
    if user is None:
        st.error(t("error.sign_in_required"))
        st.stop()
    allowed = {"signed_in": True, "buy": user.can_buy, "admin": user.can_admin}[permission]
    if not allowed:
        st.error(t(f"error.permission.{permission}"))
        st.stop()
    return user


def error_message(exc: BaseException) -> str:
    """`exc`'s one sentence in the session's language.

    Billing's AppDBError and the engine's StoreError carry a `message_id` (and `params`) naming the
    sentence in the catalogue (`error.<message_id>`): they do not know the session, the page does.
    A broken price list keeps its detail (file and field, for the operator) inside a translated sentence.
    """
    if isinstance(exc, PricesError):
        return t("error.prices_file", detail=str(exc))
    key = f"error.{getattr(exc, 'message_id', None)}"
    if key in STRINGS:
        try:
            return t(key, **getattr(exc, "params", {}))
        except KeyError:  # a placeholder the raising code did not fill: its own sentence is still right
            log.warning("message %s without all its placeholders", key)
    return str(exc)


def show_error(exc: BaseException, message: str | None = None) -> None:
    """One sentence for the person (`message` or a generic one); the traceback goes to the log."""
    log.error("error shown to the user: %s", exc, exc_info=exc)
    st.error(message or t("error.unexpected"))

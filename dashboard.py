"""Token Analytics Center: the entry point and the only router (SPEC §1, §5).

Order matters (FIELD-NOTES): who is signed in is known from session state or the signed
cookie, checked against the server-side session, *before* `st.navigation`, so a reloaded
deep link stays on its page; no page runs for a signed-out visitor.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from token_analytics.accounts import audit, sso, users
from token_analytics.db import StoreError
from token_analytics.settings import VARIABLES, Settings, SettingsError, load_settings
from token_analytics.web import auth, context, data, fmt, i18n, oidc, ui
from token_analytics.web.i18n import t

PAGE_DIR = Path(__file__).parent / "app_pages"
DEMO_AUTH_FILE = Path(__file__).parent / VARIABLES["ANALYTICS_AUTH_FILE"][0]

log = logging.getLogger("token_analytics.dashboard")
HIDE_SIDEBAR = "<style>[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'] { display: none; }</style>"


def start() -> tuple[Settings, users.AuthConfig]:
    """Settings and users, or a one-line error and a stop."""
    try:
        settings = load_settings()
        config = data.auth_config(settings.auth_file)
        if settings.oidc_mapping_file is not None:
            sso.load_mapping(settings.oidc_mapping_file)  # a broken mapping stops start-up, in one line
    except (SettingsError, users.AuthConfigError, sso.OidcMappingError) as exc:
        log.error("start-up stopped: %s", exc)
        st.error(ui.error_message(exc))
        st.stop()
    return settings, config


def known_accounts() -> list[str]:
    """The accounts an admin may switch to: every account in the exports."""
    return data.store().account_ids()


def known_names() -> dict[str, str]:
    """Account id -> name, for labels such as "Acme Corp (acct-001)"; read again after each ingest.

    Kept per store and data generation: two stores (another data folder, a test) both start at
    generation 0, and must not share names. A copy: the caller may change it.
    """
    store = data.store()
    return dict(data.memo(store, "account_names", lambda: ui.account_names(store.accounts())))


def ledger_exists(account_id: str) -> bool:
    """Whether the account has a token ledger (decides /token-history in self-hosted mode)."""
    return data.store().has_ledger(account_id)


def requested_path() -> str:
    """The page path the browser asked for on this run ("" for the root or a run that names its page by id).

    Streamlit keeps it on the run's page manager; st.context has no field for it.
    """
    manager = getattr(get_script_run_ctx(), "pages_manager", None)
    return str(getattr(manager, "intended_page_name", None) or "")


def not_found_page(path: str, landing: st.Page) -> st.Page:
    """A hidden page registered at an unknown `path`: Streamlit then runs it instead of showing its English
    "Page not found" dialog over the landing page (st.navigation has no catch-all route)."""

    def not_found() -> None:
        st.title(t("error.not_found"))
        st.caption(t("error.not_found_hint", path=fmt.plain(path)))
        st.page_link(landing, label=t("error.no_access_back"), icon=":material/arrow_back:")

    return st.Page(not_found, title=t("error.not_found"), url_path=path, visibility="hidden")


def st_pages(specs: list[ui.PageSpec], denied: Sequence[ui.PageSpec] = ()) -> list[st.Page]:
    """The registered pages, plus a hidden root page that sends "/" to /analysis.

    `denied` pages (the role may not open them) are registered hidden, so their URL answers
    "no access" instead of "page not found"; `main` never runs them. Any other path the browser
    asks for gets the app's own "page not found" page, in the session's language.
    """
    pages = {
        spec.key: st.Page(PAGE_DIR / spec.file, title=t(spec.title_key), icon=spec.icon, url_path=spec.url_path)
        for spec in specs
    }
    hidden = [
        st.Page(PAGE_DIR / spec.file, title=t(spec.title_key), url_path=spec.url_path, visibility="hidden")
        for spec in denied
    ]

    def landing() -> None:
        st.switch_page(pages[ui.LANDING])

    root = st.Page(landing, title=t(f"page.{ui.LANDING}"), url_path="home", default=True, visibility="hidden")
    registered = [root, *pages.values(), *hidden]
    path = requested_path()
    if path and "/" not in path and path not in {page.url_path for page in registered}:
        registered.append(not_found_page(path, pages[ui.LANDING]))
    return registered


def sign_in_and_stop(settings: Settings, config: users.AuthConfig, key: str) -> None:
    """Signed out: the mode's pages registered hidden (the URL is kept), the form, and nothing else."""
    registered = st_pages(ui.allowed_pages(settings.mode, None))
    page = st.navigation(registered, position="hidden")
    # No sidebar for a signed-out visitor. Without this, signing out while the page was still drawing
    # left the signed-in page's sidebar behind as an empty grey panel (seen on a loaded machine).
    st.html(HIDE_SIDEBAR)
    ui.publish_session(None)
    context.publish(None)
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title(t("app.title"))
        st.caption(t("login.intro"))
        try:
            # A successful sign-in reruns into the user's pages; at the root straight into the landing page
            # (one script run less than through the root page's own switch).
            landing = next(p for p in registered if p.url_path == ui.LANDING) if page is registered[0] else None
            auth.sign_in_form(settings, config, key, landing)
        except StoreError as exc:
            log.error("sign-in unavailable: %s", exc)
            st.error(ui.error_message(exc))
        if oidc.enabled(settings):
            oidc.login_button()
        if settings.auth_file == DEMO_AUTH_FILE:
            st.caption(t("login.demo_hint"))
    auth.preload_page_code()
    st.stop()


def main() -> None:
    i18n.start_session_language(st.context.locale)
    st.set_page_config(page_title=t("app.title"), page_icon="📊", layout="wide")
    settings, config = start()
    key = auth.cookie_key(settings)
    audit.set_address(auth.client_address(settings))  # "from where" of whatever this run writes
    # A session that ends (signed out elsewhere, ended by an admin, idle) also ends the provider's sign-in.
    had_session = bool(st.session_state.get(auth.SESSION_KEY) or auth._request_cookie(config.cookie_name))
    try:
        user = auth.resolve_user(settings, config, key)
        if user is None:  # single sign-on: a provider's identity starts a session here, or is refused
            auth.sso_sign_in(settings, config, ended=had_session)
    except StoreError as exc:
        log.error("data unavailable: %s", exc)
        st.error(ui.error_message(exc))
        st.stop()
    if user is None:
        sign_in_and_stop(settings, config, key)
        return

    i18n.apply_stored_language(user.username, lambda name: data.app_db().language(name))
    try:
        account_ids = known_accounts()
    except StoreError as exc:
        log.error("data unavailable: %s", exc)
        st.error(ui.error_message(exc))
        st.stop()
    names = known_names()
    account = ui.account_for(user, ui.requested_account(), account_ids)
    specs = ui.allowed_pages(settings.mode, user, lambda: ledger_exists(account))
    denied = ui.denied_pages(settings.mode, user)
    pages = st_pages(specs, denied)
    page = st.navigation(pages, position="sidebar")

    with st.sidebar:
        st.markdown(t("sidebar.signed_in_as", name=fmt.plain(user.name)))
        st.caption(t("sidebar.role", role=t(f"role.{user.role}"), mode=t(f"mode.{settings.mode}")))
        account = ui.account_switcher(user, account_ids, names)
        i18n.language_switch(user.username, lambda name, lang: data.app_db().set_language(name, lang))
        if st.button(t("sidebar.logout"), key="nav_logout"):
            auth.sign_out(settings, config, user)  # ends the session on the server, then the sign-in form
            if oidc.identity() is not None:
                oidc.logout()  # and the provider's sign-in, which would otherwise start a new session
            # To the sign-in page at "/", without this page's query (?account=...): a plain rerun kept the
            # URL and left the signed-in page's empty sidebar behind.
            st.query_params.clear()
            st.switch_page(pages[0])
        auth.remember_cookie(config, key)

    ui.publish_session(user, account_ids, names)
    context.publish(context.build(user, account, settings))
    if page.url_path in {spec.url_path for spec in denied}:
        ui.no_access(next(p for p in pages if p.url_path == ui.LANDING))
        return
    try:
        page.run()
    except Exception as exc:  # st.stop / st.switch_page are BaseExceptions and pass through
        ui.show_error(exc)


main()

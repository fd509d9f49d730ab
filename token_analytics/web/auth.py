"""Sign-in in the browser (SPEC §5): the form, single sign-on's session start, the cookie, who is signed in.

The users file (streamlit-authenticator's `credentials.usernames` YAML plus `account_id`), the bcrypt
check, the throttle and the sessions are accounts/'s (users.py, throttle.py, sessions.py); this module
reads the request and keeps the Streamlit session. The library's own login and cookie are not used: its
cookie is a stateless token that still signs in after sign-out, its attempt limit is per process, and
its cookie component reruns the script, which lost clicks. The cookie here holds only the signed
session id.

Who is signed in is worked out *before* `st.navigation` (from session state, or on a fresh
session from the cookie), and checked against the session record on every run, so the
router registers the right pages, a reloaded deep link stays on its page (FIELD-NOTES), and
an ended session is signed out at its next page.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from datetime import timedelta

import streamlit as st

from token_analytics.accounts import sso
from token_analytics.accounts.sessions import Sessions
from token_analytics.accounts.throttle import Throttle
from token_analytics.accounts.users import (
    AuthConfig,
    User,
    authenticate,
    clock,
    fingerprint,
    normalise_address,
    sign_cookie,
    unsign_cookie,
)
from token_analytics.settings import Settings
from token_analytics.web import data, fmt, oidc
from token_analytics.web.i18n import t

log = logging.getLogger(__name__)


_random_key: str | None = None
_random_key_lock = threading.Lock()


def cookie_key(settings: Settings) -> str:
    """The key that signs the sign-in cookie: env, then secrets.toml, then a random key for this process."""
    if settings.cookie_key:
        return settings.cookie_key
    from_secrets = _secrets_cookie_key()
    if from_secrets:
        return from_secrets
    global _random_key
    with _random_key_lock:
        if _random_key is None:
            _random_key = secrets.token_hex(32)
            log.warning("no ANALYTICS_COOKIE_KEY or secrets cookie_key: using a random key; sign-ins end on restart")
        return _random_key


def _secrets_cookie_key() -> str:
    try:
        value = st.secrets.get("cookie_key")
    except FileNotFoundError:  # no secrets.toml at all (StreamlitSecretNotFoundError)
        return ""
    except Exception:  # a broken secrets.toml must not stop sign-in; say so in the log
        log.warning("could not read cookie_key from .streamlit/secrets.toml", exc_info=True)
        return ""
    return str(value).strip() if value else ""


# --- the cookie: a signed session id ------------------------------------------------------


# --- the request ----------------------------------------------------------------------------


def client_address(settings: Settings) -> str | None:
    """The client's address, normalised: the trusted proxy header's right-most entry when one is set, else the socket's.

    A proxy that appends its own header line (HAProxy's `option forwardfor`) leaves the client's
    own line first: every line is merged in order and the last entry, the one the proxy itself
    saw, is taken; what comes before it is whatever the client wrote.
    """
    try:
        if settings.trusted_proxy_header:
            headers = st.context.headers
            lines = headers.get_all(settings.trusted_proxy_header) if hasattr(headers, "get_all") else []
            hops = [hop.strip() for line in lines if isinstance(line, str) for hop in line.split(",") if hop.strip()]
            if hops:
                return normalise_address(hops[-1])
    except Exception:  # no request context (bare mode, AppTest)
        log.debug("no request headers", exc_info=True)
    return normalise_address(_peer_address())


def _peer_address() -> str | None:
    """The socket's peer address, loopback included (`st.context.ip_address` hides 127.0.0.1 and ::1 as None)."""
    try:
        from streamlit import runtime
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        if ctx is None or not runtime.exists():
            return None
        client = runtime.get_instance().get_client(ctx.session_id)
        context = getattr(client, "client_context", None) if client is not None else None
        address = getattr(context, "remote_ip", None)
        return address if isinstance(address, str) else None
    except Exception:  # no runtime (bare mode, AppTest)
        log.debug("no client address", exc_info=True)
        return None


def user_agent() -> str | None:
    try:
        agent = st.context.headers.get("User-Agent")
    except Exception:  # no request context
        return None
    return agent if isinstance(agent, str) else None


def _request_cookie(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no request context (bare mode)
        log.debug("no request cookies", exc_info=True)
        return None
    return value if isinstance(value, str) and value else None


# --- signing in and out ---------------------------------------------------------------------

SESSION_KEY = "auth_session"  # this Streamlit session's sign-in session id
IGNORE_COOKIE_KEY = "auth_ignore_cookie"  # st.context.cookies is frozen at connect time: after a sign-out, ignore it
NOTICE_KEY = "auth_notice"  # one message for the next sign-in form (i18n id)


def sessions_for(settings: Settings, config: AuthConfig) -> Sessions:
    """The app database's sessions with this deployment's idle time and the auth file's cookie lifetime."""
    return Sessions(
        data.app_db().connection,
        idle=timedelta(hours=settings.session_idle_hours),
        lifetime=timedelta(days=config.cookie_expiry_days),
    )


def throttle_for() -> Throttle:
    return Throttle(data.app_db().connection)


def resolve_user(settings: Settings, config: AuthConfig, key: str) -> User | None:
    """Who is signed in, known before `st.navigation`: the live server-side session of this browser.

    The session id comes from session state (signed in during this session) or, on a fresh
    session or reload, from the signed cookie. Every run asks the app database whether the
    session still holds (not signed out, not ended by an admin, not idle or expired, and the
    user's password, roles and account unchanged); if not, the person is signed out here.
    """
    state = st.session_state
    session_id = state.get(SESSION_KEY)
    if session_id is None and not state.get(IGNORE_COOKIE_KEY):
        session_id = unsign_cookie(_request_cookie(config.cookie_name), key)
        state[IGNORE_COOKIE_KEY] = True  # read once: a rejected cookie is not asked about on every run
    if session_id is None:
        return None
    sessions = sessions_for(settings, config)
    record = sessions.get(session_id)
    if record is not None:
        user, current = session_user(config, record.username)
        # validate() ends the session for good when `current` is None (the user was removed).
        if sessions.validate(session_id, current, clock()) and user is not None:
            state[SESSION_KEY] = session_id
            return user
    if state.get(SESSION_KEY):
        state[NOTICE_KEY] = "login.expired"
    state[SESSION_KEY] = None
    return None


def session_user(config: AuthConfig, username: str) -> tuple[User | None, str | None]:
    """The user a session belongs to and their current fingerprint; (None, None) when no longer known.

    The one place that maps a session's username to a person: another sign-in method (single
    sign-on) extends this lookup and starts sessions with `begin_session`.
    """
    user = config.user(username)
    if user is None:
        return oidc.session_user(username)  # single sign-on's users live in its mapping file, not here
    return user, fingerprint(config, username)


def begin_session(session_id: str) -> None:
    """This Streamlit session is now signed in with `session_id` (from `Sessions.start`); rerun to show the pages."""
    st.session_state[SESSION_KEY] = session_id
    st.session_state[IGNORE_COOKIE_KEY] = True


def sign_in_form(settings: Settings, config: AuthConfig, key: str, landing: st.Page | None = None) -> None:
    """The sign-in form; a successful submit starts a session and reruns into the user's pages.

    A plain st.form: no component iframe reruns the script while a person types or clicks, so
    a click is never lost, and `st.rerun()` is safe here. `landing`: the page to open instead of
    rerunning this one (the form shown at the root), with the URL's query kept.
    """
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(t(notice))
    with st.form("nav_login"):
        st.subheader(t("login.form_name"))
        username = st.text_input(t("login.username"), key="nav_login_username")
        password = st.text_input(t("login.password"), type="password", key="nav_login_password")
        submitted = st.form_submit_button(t("login.submit"), type="primary")
    forget_cookie(config)
    if not submitted:
        return
    attempt = authenticate(
        config,
        sessions_for(settings, config),
        throttle_for(),
        username,
        password,
        client_address(settings),
        user_agent(),
        clock(),
    )
    if attempt.session_id is None:
        st.error(attempt.message or t("login.failed"))
        return
    begin_session(attempt.session_id)
    if landing is not None:
        st.switch_page(landing, query_params=st.query_params.to_dict())
    st.rerun()


def sign_out(settings: Settings, config: AuthConfig, user: User) -> None:
    """End this browser's session on the server (a copied cookie then signs nobody in) and forget it here."""
    session_id = st.session_state.get(SESSION_KEY)
    if session_id:
        sessions_for(settings, config).revoke(session_id, user.username, clock())
    st.session_state[SESSION_KEY] = None
    st.session_state[IGNORE_COOKIE_KEY] = True
    st.session_state[NOTICE_KEY] = "login.signed_out"


# The element kinds the landing page and /token-history draw, drawn once hidden under the sign-in form: the
# browser fetches and compiles their code (Vega's 0.8 MB, the data grid's 1.2 MB, the date and list pickers'
# 0.25 MB) while the person types, instead of after "Sign in" or on the first page switch (docs/BENCHMARK.md,
# "Sign-in and /token-history"). Static CSS and constants only, no data.
PRELOAD_KEY = "login_preload"
_PRELOAD_CSS = "<style>.st-key-login_preload { display: none; }</style>"
_PRELOAD_CHART = {
    "data": {"values": [{"x": "a", "y": 1}]},
    "mark": "bar",
    "encoding": {"x": {"field": "x", "type": "nominal"}, "y": {"field": "y", "type": "quantitative"}},
}


def preload_page_code() -> None:
    """Hidden copies of the element kinds the next pages draw, so their code is loaded before it is needed.

    Hidden with CSS, not left out: the browser loads an element's code only when it is drawn. No text
    input and no button among them (the form's own stay the first of their kind), and no metric: a
    signed-out page shows no figure, not even a hidden constant (its code is small).
    """
    st.html(_PRELOAD_CSS)
    with st.container(key=PRELOAD_KEY):
        st.vega_lite_chart(_PRELOAD_CHART, width=40, height=20)
        st.dataframe({"x": [1]}, hide_index=True)
        st.progress(0.5)
        hidden = {"label_visibility": "collapsed", "disabled": True}
        st.multiselect("x", ["x"], key="login_preload_multiselect", **hidden)
        st.date_input("x", value=(), key="login_preload_date", **hidden)
        st.number_input("x", min_value=1, max_value=2, key="login_preload_number", **hidden)
        st.checkbox("x", key="login_preload_checkbox", **hidden)


# The browser keeps the session id in a cookie written by script: Streamlit has no way to send
# Set-Cookie from a page. SameSite=Strict keeps it off cross-site requests; Secure under https.
_COOKIE_SCRIPT = """<script>
document.cookie = {cookie} + "; Path=/; SameSite=Strict" + (location.protocol === "https:" ? "; Secure" : "");
</script>"""


def remember_cookie(config: AuthConfig, key: str) -> None:
    """Write this session's signed id into the browser's cookie (drawn on every signed-in run; idempotent)."""
    session_id = st.session_state.get(SESSION_KEY)
    if not session_id:
        return
    max_age = int(config.cookie_expiry_days * 86400)
    cookie = f"{config.cookie_name}={sign_cookie(session_id, key)}; Max-Age={max_age}"
    st.html(_COOKIE_SCRIPT.format(cookie=json.dumps(cookie)), unsafe_allow_javascript=True)


def forget_cookie(config: AuthConfig) -> None:
    """Delete the browser's cookie (drawn with the sign-in form; the session it named has ended anyway)."""
    cookie = f"{config.cookie_name}=; Max-Age=0"
    st.html(_COOKIE_SCRIPT.format(cookie=json.dumps(cookie)), unsafe_allow_javascript=True)


# --- single sign-on: a browser signed in with the provider gets a session ---------------------


def sso_sign_in(settings: Settings, config: AuthConfig, ended: bool) -> None:
    """No session here yet: a browser signed in with the provider gets one, or is refused in one sentence.

    `ended`: this Streamlit session had a session that has just ended (revoked by an admin, idle,
    a changed mapping): the provider's sign-in is ended too, so it does not start a new one by itself.
    """
    claims = oidc.identity() if oidc.enabled(settings) else None
    if claims is None:
        return
    if ended:
        oidc.logout()
        st.stop()
    assert settings.oidc_mapping_file is not None
    user = sso.load_mapping(settings.oidc_mapping_file).user_for(claims)
    if user is None:
        shown = sso.text(claims.get("email")) or sso.text(claims.get("sub"))
        log.warning("single sign-on refused for unmapped identity %r", shown)
        st.info(t("sso.refused", who=fmt.plain(shown)))  # from the provider: plain text
        st.button(t("sidebar.logout"), key="sso_refused_logout", on_click=oidc.logout)
        st.stop()
    sessions = sessions_for(settings, config)
    session_id = sessions.start(user.username, sso.fingerprint(user), user_agent(), client_address(settings), clock())
    begin_session(session_id)
    st.rerun()

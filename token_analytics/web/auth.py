"""Sign-in (SPEC §5): the auth YAML, server-side sessions, throttled sign-in, who is signed in.

The YAML is streamlit-authenticator's standard `credentials.usernames` format (bcrypt
hashes, `roles`) plus `account_id` per user. The cookie key never lives in that file: it
comes from ANALYTICS_COOKIE_KEY, `.streamlit/secrets.toml` (`cookie_key`) or, for the demo,
a random key made once per process.

The library's own login and cookie are not used: its cookie is a stateless token that still
signs in after sign-out, its attempt limit is per process, and its cookie component reruns
the script, which lost clicks (issues 8, 9). Instead: a plain form, bcrypt checked here
(against a dummy hash for unknown users, so both take as long), throttling and sessions in
the app database (billing/throttle.py, billing/sessions.py), and a cookie holding only the
signed session id.

Who is signed in is worked out *before* `st.navigation` (from session state, or on a fresh
session from the cookie), and checked against the session record on every run, so the
router registers the right pages, a reloaded deep link stays on its page (FIELD-NOTES), and
an ended session is signed out at its next page.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import streamlit as st
import yaml

from token_analytics.billing.sessions import Sessions
from token_analytics.billing.throttle import Throttle, normalise
from token_analytics.settings import Settings
from token_analytics.web import data
from token_analytics.web.i18n import t

log = logging.getLogger(__name__)

ROLES = ("admin", "manager", "analyst")  # most to least privileged
DEFAULT_COOKIE_NAME = "tac_auth"
DEFAULT_COOKIE_EXPIRY_DAYS = 1.0
_BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$")

_random_key: str | None = None
_random_key_lock = threading.Lock()


class AuthConfigError(ValueError):
    """The auth YAML is wrong; the message is one line that names the file and what to fix."""


@dataclass(frozen=True)
class User:
    username: str
    name: str
    roles: tuple[str, ...]
    account_id: str
    email: str | None = None

    @property
    def role(self) -> str:
        """The most privileged role, for display."""
        return next(role for role in ROLES if role in self.roles)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_buy(self) -> bool:
        """May recharge and change the plan (admin, manager)."""
        return self.is_admin or "manager" in self.roles

    @property
    def can_admin(self) -> bool:
        """May open the admin tools."""
        return self.is_admin


@dataclass(frozen=True)
class AuthConfig:
    path: Path
    users: dict[str, User]
    credentials: dict[str, Any] = field(repr=False)
    cookie_name: str = DEFAULT_COOKIE_NAME
    cookie_expiry_days: float = DEFAULT_COOKIE_EXPIRY_DAYS

    def user(self, username: str | None) -> User | None:
        return self.users.get((username or "").strip().lower())

    @property
    def account_ids(self) -> tuple[str, ...]:
        """The accounts the users of this file belong to, sorted."""
        return tuple(sorted({user.account_id for user in self.users.values()}))

    def credentials_copy(self) -> dict[str, Any]:
        """A fresh copy for `Authenticate`, which writes login state into what it is given."""
        return copy.deepcopy(self.credentials)


def load_auth(path: Path | str) -> AuthConfig:
    """Read and validate the auth YAML; raise AuthConfigError (one line) when it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise AuthConfigError(t("error.auth.missing_file", path=path))
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        reason = " ".join(str(exc).split())
        raise AuthConfigError(t("error.auth.unreadable", path=path, reason=reason)) from None
    usernames = (document.get("credentials") or {}).get("usernames") if isinstance(document, dict) else None
    if not isinstance(usernames, dict) or not usernames:
        raise AuthConfigError(t("error.auth.no_users", path=path))

    users: dict[str, User] = {}
    credentials: dict[str, Any] = {}
    for raw_name, entry in usernames.items():
        username = str(raw_name).strip().lower()  # the library lower-cases usernames too
        if not isinstance(entry, dict):
            raise AuthConfigError(t("error.auth.bad_user", user=username, path=path))
        password = entry.get("password")
        if not isinstance(password, str) or not _BCRYPT_HASH.match(password):
            raise AuthConfigError(t("error.auth.no_password", user=username, path=path))
        account_id = entry.get("account_id")
        if not isinstance(account_id, str) or not account_id.strip():
            raise AuthConfigError(t("error.auth.no_account", user=username, path=path))
        roles = entry.get("roles")
        if isinstance(roles, str):
            roles = [roles]
        if not roles or not isinstance(roles, list):
            raise AuthConfigError(t("error.auth.no_roles", user=username, path=path, allowed=", ".join(ROLES)))
        for role in roles:
            if role not in ROLES:
                raise AuthConfigError(
                    t("error.auth.bad_role", user=username, path=path, role=role, allowed=", ".join(ROLES))
                )
        name = str(entry.get("name") or " ".join(str(entry.get(k) or "") for k in ("first_name", "last_name")))
        users[username] = User(
            username=username,
            name=name.strip() or username,
            roles=tuple(roles),
            account_id=account_id.strip(),
            email=entry.get("email"),
        )
        credentials[username] = dict(entry, roles=list(roles))

    cookie = document.get("cookie") or {}
    if not isinstance(cookie, dict):
        raise AuthConfigError(t("error.auth.bad_cookie", path=path))
    if cookie.get("key"):
        log.warning("%s has a cookie key; it is ignored: set ANALYTICS_COOKIE_KEY or secrets.toml instead", path)
    cookie_name = cookie.get("name", DEFAULT_COOKIE_NAME)
    expiry_days = cookie.get("expiry_days", DEFAULT_COOKIE_EXPIRY_DAYS)
    if (
        not isinstance(cookie_name, str)
        or not cookie_name.strip()
        or isinstance(expiry_days, bool)
        or not isinstance(expiry_days, int | float)
        or expiry_days <= 0
    ):
        raise AuthConfigError(t("error.auth.bad_cookie", path=path))
    return AuthConfig(
        path=path,
        users=users,
        credentials={"usernames": credentials},
        cookie_name=cookie_name.strip(),
        cookie_expiry_days=float(expiry_days),
    )


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


def sign_cookie(session_id: str, key: str) -> str:
    """The cookie value: the session id and its HMAC-SHA256 under the cookie key (Django's signed cookie)."""
    return f"{session_id}.{_signature(session_id, key)}"


def unsign_cookie(value: str | None, key: str) -> str | None:
    """The session id of a cookie signed with `key`, else None (never raises)."""
    if not value or "." not in value:
        return None
    session_id, _, signature = value.rpartition(".")
    if not session_id or not hmac.compare_digest(signature, _signature(session_id, key)):
        return None
    return session_id


def _signature(session_id: str, key: str) -> str:
    digest = hmac.new(key.encode("utf-8"), b"tac-session:" + session_id.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def fingerprint(config: AuthConfig, username: str) -> str | None:
    """What a session remembers of its user: a hash of the password hash, roles and account; None when unknown.

    A changed password, role or account in the auth file changes it, which ends the user's sessions.
    """
    entry = config.credentials["usernames"].get(username)
    user = config.user(username)
    if entry is None or user is None:
        return None
    material = "\0".join([str(entry.get("password")), ",".join(sorted(user.roles)), user.account_id])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# --- the request ----------------------------------------------------------------------------


def clock() -> datetime:
    """The wall clock for sessions and throttling (never ANALYTICS_NOW: a pinned demo clock must not freeze expiry)."""
    return datetime.now(tz=UTC)


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


def normalise_address(address: str | None) -> str | None:
    """One spelling per address: `::ffff:192.0.2.2` is 192.0.2.2, IPv6 compressed; a port or brackets dropped."""
    if not address:
        return None
    text = address.strip()
    candidates = [text]
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        candidates.append(text[1 : text.index("]")])
    elif text.count(":") == 1:  # 192.0.2.2:443
        candidates.append(text.partition(":")[0])
    for candidate in candidates:
        try:
            parsed = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(parsed)
    return text[:100]  # not an address (a proxy's "unknown"): kept as written, so it is still counted


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

_dummy_hashes: dict[int, bytes] = {}
_dummy_lock = threading.Lock()


def sessions_for(settings: Settings, config: AuthConfig) -> Sessions:
    """The app database's sessions with this deployment's idle time and the auth file's cookie lifetime."""
    return Sessions(
        data.app_db().connection,
        idle=timedelta(hours=settings.session_idle_hours),
        lifetime=timedelta(days=config.cookie_expiry_days),
    )


def throttle_for() -> Throttle:
    return Throttle(data.app_db().connection)


def _dummy_hash(config: AuthConfig) -> bytes:
    """A bcrypt hash as costly as the file's own, checked for unknown users so they take as long as real ones."""
    costs = [int(str(entry["password"])[4:6]) for entry in config.credentials["usernames"].values()]
    rounds = max(costs) if costs else 12
    with _dummy_lock:
        if rounds not in _dummy_hashes:
            _dummy_hashes[rounds] = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=rounds))
        return _dummy_hashes[rounds]


def _password_matches(password: str, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed)
    except ValueError:  # e.g. longer than bcrypt takes: not the password
        return False


@dataclass(frozen=True)
class Attempt:
    """What a sign-in attempt came to: a session id, or the one sentence to show."""

    session_id: str | None = None
    message: str | None = None


def authenticate(
    config: AuthConfig,
    sessions: Sessions,
    throttle: Throttle,
    username: str,
    password: str,
    address: str | None,
    agent: str | None,
    now: datetime,
) -> Attempt:
    """Check a typed username and password, throttled; on success start a session.

    Unknown users and wrong passwords are treated alike: the same bcrypt work, the same
    sentence, the same counting and locking.
    """
    name = normalise(username)
    if not name or not password:
        return Attempt(message=t("login.missing"))
    # Reserved before bcrypt runs: parallel guesses are counted as if they came one by one.
    verdict = throttle.reserve(name, address, now)
    if not verdict.allowed:
        throttle.refused(name, address, verdict, now)
        if verdict.locked:
            return Attempt(message=t("login.locked", minutes=int(throttle.policy.window.total_seconds() // 60)))
        return Attempt(message=t("login.wait", seconds=verdict.seconds(now)))
    entry = config.credentials["usernames"].get(name)
    hashed = str(entry["password"]).encode("utf-8") if entry else _dummy_hash(config)
    if not _password_matches(password, hashed) or entry is None:
        throttle.failed_checked(name, address, now)
        return Attempt(message=t("login.failed"))
    throttle.succeeded(name, address, now)
    session_id = sessions.start(name, fingerprint(config, name) or "", agent, address, now)
    return Attempt(session_id=session_id)


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
        from token_analytics.web import oidc  # single sign-on's users live in its mapping file, not here

        return oidc.session_user(username)
    return user, fingerprint(config, username)


def begin_session(session_id: str) -> None:
    """This Streamlit session is now signed in with `session_id` (from `Sessions.start`); rerun to show the pages."""
    st.session_state[SESSION_KEY] = session_id
    st.session_state[IGNORE_COOKIE_KEY] = True


def sign_in_form(settings: Settings, config: AuthConfig, key: str) -> None:
    """The sign-in form; a successful submit starts a session and reruns into the user's pages.

    A plain st.form: no component iframe reruns the script while a person types or clicks, so
    a click is never lost, and `st.rerun()` is safe here.
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
    st.rerun()


def sign_out(settings: Settings, config: AuthConfig, user: User) -> None:
    """End this browser's session on the server (a copied cookie then signs nobody in) and forget it here."""
    session_id = st.session_state.get(SESSION_KEY)
    if session_id:
        sessions_for(settings, config).revoke(session_id, user.username, clock())
    st.session_state[SESSION_KEY] = None
    st.session_state[IGNORE_COOKIE_KEY] = True
    st.session_state[NOTICE_KEY] = "login.signed_out"


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

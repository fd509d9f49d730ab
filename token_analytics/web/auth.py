"""Sign-in (SPEC §5): the auth YAML, the signed cookie, who is signed in.

The YAML is streamlit-authenticator's standard `credentials.usernames` format (bcrypt
hashes, `roles`) plus `account_id` per user. The cookie key never lives in that file: it
comes from ANALYTICS_COOKIE_KEY, `.streamlit/secrets.toml` (`cookie_key`) or, for the demo,
a random key made once per process.

Who is signed in is worked out *before* `st.navigation` (from session state, or on a fresh
session from the signed cookie, verified exactly as streamlit-authenticator verifies it), so
the router can register the right pages and a reloaded deep link stays on its page
(FIELD-NOTES). The library then runs once per run to draw the form and manage the cookie.
"""

from __future__ import annotations

import copy
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import streamlit as st
import yaml

from token_analytics.settings import Settings
from token_analytics.web.i18n import t

if TYPE_CHECKING:
    import streamlit_authenticator as stauth

log = logging.getLogger(__name__)

ROLES = ("admin", "manager", "analyst")  # most to least privileged
DEFAULT_COOKIE_NAME = "tac_auth"
DEFAULT_COOKIE_EXPIRY_DAYS = 1.0
_BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$")
# streamlit-authenticator's own session-state keys (it does not namespace them).
_LIBRARY_KEYS = ("name", "username", "authentication_status", "email", "roles")

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


# --- the cookie, exactly as streamlit_authenticator.models.cookie_model does it ----------


def encode_cookie_token(username: str, key: str, expiry_days: float = DEFAULT_COOKIE_EXPIRY_DAYS) -> str:
    """A cookie value as the library writes it: HS256 JWT of `username` and `exp_date` (epoch seconds)."""
    exp_date = time.time() + expiry_days * 86400
    return jwt.encode({"username": username, "exp_date": exp_date}, key, algorithm="HS256")


def verify_cookie_token(token: str, key: str, now: float | None = None) -> str | None:
    """The username in a cookie signed with `key` and not yet expired, else None (never raises)."""
    try:
        payload = jwt.decode(token, key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    username, exp_date = payload.get("username"), payload.get("exp_date")
    if not isinstance(username, str) or isinstance(exp_date, bool) or not isinstance(exp_date, int | float):
        return None
    if exp_date <= (time.time() if now is None else now):
        return None
    return username


# --- who is signed in ---------------------------------------------------------------------


def resolve_user(config: AuthConfig, key: str) -> User | None:
    """Who is signed in, known before `st.navigation` and before the library runs.

    Session state first (signed in during this session); after a logout in this session the
    cookie is ignored, as the library does (`st.context.cookies` is frozen at connect time);
    otherwise the signed cookie of a fresh session or reload, which then signs the session in.
    """
    state = st.session_state
    if state.get("authentication_status"):
        user = config.user(state.get("username"))
        if user is None:  # removed from the auth file since signing in
            sign_out_session()
        return user
    if state.get("logout"):
        return None
    token = _request_cookie(config.cookie_name)
    if not token:
        return None
    user = config.user(verify_cookie_token(token, key))
    if user is None:
        # The library would raise on some of these (unknown user, an `exp` claim, a malformed
        # exp_date) before drawing the form; its `logout` flag makes it skip the cookie.
        state["logout"] = True
        return None
    # What the library's own cookie login writes, so its login() has nothing left to do.
    state["name"], state["username"], state["email"] = user.name, user.username, user.email
    state["roles"], state["authentication_status"] = list(user.roles), True
    return user


def sign_out_session() -> None:
    """Forget the sign-in of this session without touching the browser's cookie."""
    for name in _LIBRARY_KEYS:
        st.session_state[name] = None
    st.session_state["logout"] = True


def _request_cookie(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no request context (bare mode)
        log.debug("no request cookies", exc_info=True)
        return None
    return value if isinstance(value, str) and value else None


def make_authenticator(config: AuthConfig, key: str) -> stauth.Authenticate:
    """The one `Authenticate` of this run (a second one in the same run raises a duplicate key error).

    `login_sleep_time=0`: the library waits 0.7 s on every signed-out run for a cookie component
    it no longer reads (it reads `st.context.cookies`), so the wait buys nothing.
    """
    import streamlit_authenticator as stauth  # importing it has side effects; keep it out of the CLI

    return stauth.Authenticate(
        config.credentials_copy(),
        cookie_name=config.cookie_name,
        cookie_key=key,
        cookie_expiry_days=config.cookie_expiry_days,
        auto_hash=False,
        login_sleep_time=0,
    )


def login_fields(lang: str = "en") -> dict[str, str]:
    """The labels of the library's login form."""
    return {
        "Form name": t("login.form_name", lang),
        "Username": t("login.username", lang),
        "Password": t("login.password", lang),
        "Login": t("login.submit", lang),
    }

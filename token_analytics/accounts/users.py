"""The users file (the auth YAML), the sign-in check and the signed cookie: who may sign in, as whom.

No Streamlit here: the web layer (web/auth.py) reads the request and keeps the session; the command
line uses the same file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from token_analytics.accounts.sessions import Sessions
from token_analytics.accounts.throttle import Throttle, normalise
from token_analytics.strings import t

log = logging.getLogger("token_analytics.auth")


ROLES = ("admin", "manager", "analyst")  # most to least privileged


DEFAULT_COOKIE_NAME = "tac_auth"


DEFAULT_COOKIE_EXPIRY_DAYS = 1.0


_BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$")


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


def clock() -> datetime:
    """The wall clock for sessions and throttling (never ANALYTICS_NOW: a pinned demo clock must not freeze expiry)."""
    return datetime.now(tz=UTC)


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


_dummy_hashes: dict[int, bytes] = {}


_dummy_lock = threading.Lock()


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


# --- writing the users file (`users add`, `users passwd`) ------------------------------------------

# bcrypt reads at most 72 bytes; bcrypt 5 refuses a longer password instead of cutting it.
PASSWORD_MAX_BYTES = 72
# the cost of the demo file's hashes: about a quarter of a second per sign-in on this machine
BCRYPT_ROUNDS = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class UsersFileError(ValueError):
    """A `users add` / `users passwd` request cannot be written; the message is one line saying what to do."""


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """The bcrypt hash stored in the users file; raises UsersFileError for a password bcrypt cannot take."""
    if not password:
        raise UsersFileError("the password is empty; give one.")
    if len(password.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise UsersFileError(f"the password is longer than bcrypt takes ({PASSWORD_MAX_BYTES} bytes); shorten it.")
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def add_user(
    path: Path | str,
    username: str,
    *,
    account_id: str,
    role: str,
    password: str,
    name: str | None = None,
    email: str | None = None,
    rounds: int = BCRYPT_ROUNDS,
) -> User:
    """Add a user to the users file (created when missing); an existing username is refused."""
    path = Path(path)
    username = normalise(username)
    if not USERNAME.match(username):
        raise UsersFileError(
            f"{username!r} is not a username: letters, digits and . _ @ - only, starting with a letter or digit."
        )
    if role not in ROLES:
        raise UsersFileError(f"{role!r} is not a role; use one of {', '.join(ROLES)}.")
    account_id = account_id.strip()
    if not account_id:
        raise UsersFileError("give the user's account with --account, e.g. --account acct-001.")
    header, document = _read_for_writing(path)
    usernames = document.setdefault("credentials", {}).setdefault("usernames", {})
    if username in {str(known).strip().lower() for known in usernames}:
        raise UsersFileError(f"{username} is already in {path}; change the password with `users passwd {username}`.")
    entry: dict[str, Any] = {"name": (name or "").strip() or username}
    if email:
        entry["email"] = email.strip()
    entry.update(password=hash_password(password, rounds), roles=[role], account_id=account_id)
    usernames[username] = entry
    document.setdefault("cookie", {"name": DEFAULT_COOKIE_NAME, "expiry_days": 1})
    return _write_checked(path, header, document).users[username]


def set_password(path: Path | str, username: str, password: str, *, rounds: int = BCRYPT_ROUNDS) -> User:
    """Replace a user's password hash; the user's sign-in sessions end (their fingerprint changes)."""
    path = Path(path)
    wanted = normalise(username)
    if not path.is_file():
        raise UsersFileError(f"the users file {path} does not exist; add a user first with `users add`.")
    header, document = _read_for_writing(path)
    usernames = (document.get("credentials") or {}).get("usernames") or {}
    key = next((known for known in usernames if str(known).strip().lower() == wanted), None)
    if key is None or not isinstance(usernames[key], dict):
        raise UsersFileError(f"{wanted!r} is not a user of {path}; add it with `users add {wanted or 'NAME'}`.")
    usernames[key]["password"] = hash_password(password, rounds)
    return _write_checked(path, header, document).users[wanted]


def _read_for_writing(path: Path) -> tuple[str, dict[str, Any]]:
    """The file's leading comment lines (kept on rewrite) and its document; a missing file is empty."""
    if not path.exists():
        return "", {}
    load_auth(path)  # a file the dashboard cannot read is not rewritten: fix it by hand first
    text = path.read_text(encoding="utf-8")
    header = "".join(line for line in _leading_comments(text))
    return header, yaml.safe_load(text)


def _leading_comments(text: str) -> list[str]:
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def _write_checked(path: Path, header: str, document: dict[str, Any]) -> AuthConfig:
    """Write the document beside the file, check it reads as a users file, then put it in place at once.

    A reader (the dashboard loads the file on every run) sees the old file or the new one, never half;
    a new file is readable by its owner only, an existing one keeps its permissions.
    """
    text = header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        try:
            config = load_auth(temporary)
        except AuthConfigError as exc:  # not expected: what was written is what load_auth accepts
            raise UsersFileError(str(exc).replace(temporary, str(path))) from None
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return AuthConfig(path, config.users, config.credentials, config.cookie_name, config.cookie_expiry_days)

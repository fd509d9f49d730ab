"""Sign-in, roles, account scoping and the router's page list (SPEC §5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from tests.apptest import DEMO_PASSWORDS, KEY, _app, _sign_in, _signed_in
from token_analytics.accounts import users as user_file
from token_analytics.accounts.users import AuthConfigError, User
from token_analytics.settings import load_settings
from token_analytics.web import auth, ui

ROOT = Path(__file__).resolve().parents[2]
DEMO_FILE = ROOT / "auth" / "demo_users.yaml"
HASH = bcrypt.hashpw(b"secret-pass", bcrypt.gensalt(rounds=4)).decode()

ADMIN = User("admin", "Admin", ("admin",), "acct-001")
MANAGER = User("manager", "Manager", ("manager",), "acct-001")
ANALYST = User("analyst", "Analyst", ("analyst",), "acct-001")
KNOWN = ["acct-001", "acct-002", "acct-003"]
LINGXI = "Account: Lingxi Technology \\(acct\\-001\\)"  # the sidebar caption of the sample's acct-001


def old_library_cookie(claims: dict, key: str) -> str:
    """The cookie streamlit-authenticator set before the app had its own sessions: an HS256 JWT of the claims."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    signed = part(b'{"alg":"HS256","typ":"JWT"}') + "." + part(json.dumps(claims).encode())
    return signed + "." + part(hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest())


# --- the auth YAML --------------------------------------------------------------------------


def test_demo_file_users_roles_and_accounts() -> None:
    config = user_file.load_auth(DEMO_FILE)
    assert {name: (user.role, user.account_id) for name, user in config.users.items()} == {
        "admin": ("admin", "acct-001"),
        "manager": ("manager", "acct-001"),
        "analyst": ("analyst", "acct-001"),
        "manager2": ("manager", "acct-002"),
        "manager3": ("manager", "acct-003"),
    }
    assert config.cookie_name == "tac_auth"
    assert config.cookie_expiry_days == 1
    assert config.account_ids == ("acct-001", "acct-002", "acct-003")


def test_demo_file_holds_no_cookie_key_and_no_plain_passwords() -> None:
    document = yaml.safe_load(DEMO_FILE.read_text())
    assert "key" not in document["cookie"]
    text = DEMO_FILE.read_text()
    for password in DEMO_PASSWORDS.values():
        assert password not in text


@pytest.mark.parametrize(("username", "password"), sorted(DEMO_PASSWORDS.items()))
def test_demo_passwords_match_the_committed_hashes(username: str, password: str) -> None:
    hashed = user_file.load_auth(DEMO_FILE).credentials["usernames"][username]["password"]
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    assert not bcrypt.checkpw(b"wrong-password", hashed.encode())


def _write(tmp_path: Path, users: dict, cookie: dict | None = None) -> Path:
    path = tmp_path / "users.yaml"
    document: dict = {"credentials": {"usernames": users}}
    if cookie is not None:
        document["cookie"] = cookie
    path.write_text(yaml.safe_dump(document))
    return path


def _user(**overrides: object) -> dict:
    entry = {"name": "Ann", "password": HASH, "roles": ["analyst"], "account_id": "acct-001"}
    entry.update(overrides)
    return {key: value for key, value in entry.items() if value is not None}


@pytest.mark.parametrize(
    ("users", "fragment"),
    [
        ({"ann": _user(account_id=None)}, "no account_id"),
        ({"ann": _user(account_id="  ")}, "no account_id"),
        ({"ann": _user(roles=["owner"])}, "role 'owner'"),
        ({"ann": _user(roles=[])}, "no roles"),
        ({"ann": _user(roles=None)}, "no roles"),
        ({"ann": _user(password="plain-text")}, "bcrypt"),
        ({"ann": "not a mapping"}, "not a mapping"),
        ({}, "no credentials.usernames"),
    ],
)
def test_bad_auth_file_is_a_one_line_error(tmp_path: Path, users: dict, fragment: str) -> None:
    path = _write(tmp_path, users)
    with pytest.raises(AuthConfigError) as caught:
        user_file.load_auth(path)
    message = str(caught.value)
    assert "\n" not in message
    assert fragment in message
    assert str(path) in message
    if users and isinstance(next(iter(users.values())), dict):
        assert "'ann'" in message


def test_missing_and_unparseable_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="does not exist.*ANALYTICS_AUTH_FILE") as caught:
        user_file.load_auth(tmp_path / "nope.yaml")
    assert "\n" not in str(caught.value)
    broken = tmp_path / "broken.yaml"
    broken.write_text("credentials: [unclosed\n  usernames: {\n")
    with pytest.raises(AuthConfigError, match="not valid YAML") as caught:
        user_file.load_auth(broken)
    assert "\n" not in str(caught.value)


def test_bad_cookie_section_is_an_error_and_a_key_in_the_file_is_ignored(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="cookie"):
        user_file.load_auth(_write(tmp_path, {"ann": _user()}, cookie={"name": "x", "expiry_days": 0}))
    config = user_file.load_auth(_write(tmp_path, {"Ann": _user()}, cookie={"name": "c", "expiry_days": 2, "key": "k"}))
    assert config.cookie_name == "c"
    assert config.user("ANN") is not None  # usernames are case-insensitive, as in the library


# --- roles and scoping ----------------------------------------------------------------------


def test_permissions_by_role() -> None:
    assert (ADMIN.is_admin, ADMIN.can_buy, ADMIN.can_admin) == (True, True, True)
    assert (MANAGER.is_admin, MANAGER.can_buy, MANAGER.can_admin) == (False, True, False)
    assert (ANALYST.is_admin, ANALYST.can_buy, ANALYST.can_admin) == (False, False, False)
    assert User("both", "Both", ("analyst", "admin"), "acct-001").role == "admin"


def test_admin_may_pick_any_known_account() -> None:
    assert [ui.account_for(ADMIN, account, KNOWN) for account in KNOWN] == KNOWN
    assert ui.account_for(ADMIN, None, KNOWN) == "acct-001"


def test_admin_unknown_request_falls_back_to_own_or_first() -> None:
    assert ui.account_for(ADMIN, "acct-999", KNOWN) == "acct-001"
    assert ui.account_for(ADMIN, "'; drop table accounts; --", KNOWN) == "acct-001"
    assert ui.account_for(ADMIN, "acct-999", ["acct-005", "acct-006"]) == "acct-005"
    assert ui.account_for(ADMIN, "acct-002", []) == "acct-001"


@pytest.mark.parametrize("user", [MANAGER, ANALYST], ids=["manager", "analyst"])
@pytest.mark.parametrize("requested", [None, "acct-001", "acct-002", "acct-999", ""])
def test_non_admins_always_get_their_own_account(user: User, requested: str | None) -> None:
    assert ui.account_for(user, requested, KNOWN) == "acct-001"


def _keys(mode: str, user: User | None, ledger: bool = True) -> list[str]:
    return [page.key for page in ui.allowed_pages(mode, user, lambda: ledger)]


def test_page_list_by_mode_and_role() -> None:
    everything = ["analysis", "explore", "token_history", "recharge", "subscription", "admin"]
    assert _keys("saas", None) == everything
    assert _keys("saas", ADMIN) == everything
    assert _keys("saas", MANAGER) == ["analysis", "explore", "token_history", "recharge", "subscription"]
    assert _keys("saas", ANALYST) == ["analysis", "explore", "token_history"]
    assert _keys("self-hosted", None) == ["analysis", "explore", "token_history", "admin"]
    assert _keys("self-hosted", ADMIN) == ["analysis", "explore", "token_history", "admin"]
    assert _keys("self-hosted", MANAGER) == ["analysis", "explore", "token_history"]
    assert _keys("self-hosted", ADMIN, ledger=False) == ["analysis", "explore", "admin"]
    assert _keys("self-hosted", ANALYST, ledger=False) == ["analysis", "explore"]
    assert _keys("saas", ANALYST, ledger=False) == ["analysis", "explore", "token_history"]  # SaaS always has a ledger


def test_routes_and_landing_page() -> None:
    assert [page.url_path for page in ui.PAGES] == [
        "analysis",
        "explore",
        "token-history",
        "recharge",
        "subscription",
        "admin",
    ]
    assert ui.LANDING == "analysis"  # "/" switches to it (see dashboard.st_pages)
    for page in ui.PAGES:
        assert (ROOT / "app_pages" / page.file).is_file()


def test_every_page_file_is_registered() -> None:
    assert {path.name for path in (ROOT / "app_pages").glob("*.py")} <= {page.file for page in ui.PAGES}


# --- the cookie -----------------------------------------------------------------------------


def test_signed_cookie_round_trip_and_tampering() -> None:
    value = user_file.sign_cookie("abc_DEF-123", KEY)
    assert user_file.unsign_cookie(value, KEY) == "abc_DEF-123"
    assert user_file.unsign_cookie(value, "another-key-" + "y" * 40) is None
    assert user_file.unsign_cookie("other" + value[5:], KEY) is None  # another id under the same signature
    assert user_file.unsign_cookie(value[:-1] + ("A" if value[-1] != "A" else "B"), KEY) is None
    for junk in (None, "", "no-dot", ".sig", "x.", old_library_cookie({"username": "admin"}, KEY)):
        assert user_file.unsign_cookie(junk, KEY) is None  # the library's old JWT cookie signs nobody in


def test_fingerprint_changes_with_password_roles_or_account(tmp_path: Path) -> None:
    base = user_file.fingerprint(user_file.load_auth(_write(tmp_path, {"ann": _user()})), "ann")
    assert base == user_file.fingerprint(user_file.load_auth(_write(tmp_path, {"ann": _user(name="Ann B")})), "ann")
    other_hash = bcrypt.hashpw(b"secret-pass", bcrypt.gensalt(rounds=4)).decode()
    for change in ({"password": other_hash}, {"roles": ["admin"]}, {"account_id": "acct-002"}):
        assert user_file.fingerprint(user_file.load_auth(_write(tmp_path, {"ann": _user(**change)})), "ann") != base
    assert user_file.fingerprint(user_file.load_auth(_write(tmp_path, {"ann": _user()})), "bob") is None


def test_client_address_from_the_trusted_header_only(monkeypatch: pytest.MonkeyPatch) -> None:
    class Headers(dict):
        def get_all(self, key: str) -> list[str]:
            return [value for name, value in self.items() if name.lower() == key.lower()]

    class Context:
        headers = Headers({"X-Forwarded-For": "6.6.6.6, 203.0.113.9"})

    monkeypatch.setattr(auth.st, "context", Context())
    monkeypatch.setattr(auth, "_peer_address", lambda: "127.0.0.1")  # the socket's peer
    assert auth.client_address(load_settings({})) == "127.0.0.1"  # no trusted header: the socket's address
    trusted = load_settings({"ANALYTICS_TRUSTED_PROXY_HEADER": "X-Forwarded-For"})
    assert auth.client_address(trusted) == "203.0.113.9"  # the hop the proxy saw, not what the client wrote


def test_cookie_key_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_secrets_cookie_key", lambda: "")
    assert auth.cookie_key(load_settings({"ANALYTICS_COOKIE_KEY": "from-env"})) == "from-env"
    first = auth.cookie_key(load_settings({}))
    assert len(first) == 64
    assert auth.cookie_key(load_settings({})) == first  # one random key per process
    monkeypatch.setattr(auth, "_secrets_cookie_key", lambda: "from-secrets")
    assert auth.cookie_key(load_settings({})) == "from-secrets"
    assert auth.cookie_key(load_settings({"ANALYTICS_COOKIE_KEY": "from-env"})) == "from-env"


# --- the router, driven in-process ----------------------------------------------------------


def _titles(at: AppTest) -> list[str]:
    return [element.value for element in at.title]


def test_signed_out_sees_only_the_sign_in_form(app_env: pytest.MonkeyPatch) -> None:
    at = _app()
    at.run()
    assert not at.exception
    assert [field.label for field in at.text_input] == ["Username", "Password"]
    assert _titles(at) == ["Token Analytics Center"]
    assert not at.sidebar.markdown
    assert at.session_state["nav_user"] is None


def test_wrong_password_is_refused(app_env: pytest.MonkeyPatch) -> None:
    at = _sign_in(_app(), "analyst", "manager-demo")
    assert not at.exception
    assert [error.value for error in at.error] == ["The username or password is incorrect; check them and try again."]
    at.run()
    assert _titles(at) == ["Token Analytics Center"]
    assert at.session_state["nav_user"] is None


def test_analyst_signs_in_and_out(app_env: pytest.MonkeyPatch) -> None:
    at = _signed_in("analyst")
    assert _titles(at) == ["Analytics Center"]
    assert [markdown.value for markdown in at.sidebar.markdown] == ["Signed in as **Demo Analyst**"]
    assert [caption.value for caption in at.sidebar.caption] == ["Role: Analyst · SaaS", LINGXI]
    assert [box.key for box in at.sidebar.selectbox] == ["nav_language"]  # no account switcher, the language one
    assert at.session_state["nav_user"].username == "analyst"
    at.switch_page("app_pages/recharge.py").run()  # registered hidden: "no access", the page never runs
    assert _titles(at) == []
    assert [w.value for w in at.warning] == ["You don't have access to this page."]
    at.switch_page("app_pages/token_history.py").run()
    assert _titles(at) == ["Token History"]

    at.sidebar.button(key="nav_logout").click().run()
    assert [info.value for info in at.info] == ["You have been signed out."]
    assert "Token History" not in _titles(at)
    at.run()
    assert [field.label for field in at.text_input] == ["Username", "Password"]


def test_manager_cannot_switch_account_by_state_or_query(app_env: pytest.MonkeyPatch) -> None:
    at = _signed_in("manager")
    at.session_state["nav_account"] = "acct-002"
    at.session_state["nav_account_choice"] = "acct-002"
    at.query_params["account"] = "acct-002"
    at.run()
    assert LINGXI in [caption.value for caption in at.sidebar.caption]
    at.switch_page("app_pages/recharge.py").run()
    assert _titles(at) == ["Recharge"]
    at.switch_page("app_pages/admin.py").run()
    assert [w.value for w in at.warning] == ["You don't have access to this page."]


def test_admin_switches_accounts(app_env: pytest.MonkeyPatch) -> None:
    at = _signed_in("admin")
    switcher = at.sidebar.selectbox(key="nav_account")
    assert switcher.value == "acct-001"
    assert [option.rsplit(" ", 1)[-1] for option in switcher.options] == [  # every exported account, with its name
        "(acct-001)",
        "(acct-002)",
        "(acct-003)",
        "(acct-004)",
    ]
    switcher.select("acct-002").run()
    assert at.session_state["nav_account_choice"] == "acct-002"
    at.switch_page("app_pages/admin.py").run()
    assert _titles(at) == ["Admin"]
    assert at.sidebar.selectbox(key="nav_account").value == "acct-002"  # kept across pages


def test_self_hosted_serves_no_saas_pages(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("ANALYTICS_MODE", "self-hosted")
    at = _signed_in("admin")
    assert _titles(at) == ["Analytics Center"]
    assert "Role: Administrator · Self-hosted" in [caption.value for caption in at.sidebar.caption]
    for page in ("recharge", "subscription"):
        with pytest.raises(ValueError):
            at.switch_page(f"app_pages/{page}.py")
    at.switch_page("app_pages/admin.py").run()
    assert _titles(at) == ["Admin"]


def _fresh_with_cookie(app_env: pytest.MonkeyPatch, value: str | None) -> AppTest:
    """A new browser session (a reload, a new tab, another computer) sending `value` as the cookie."""
    app_env.setattr(auth, "_request_cookie", lambda name: value if name == "tac_auth" else None)
    at = _app()
    at.run()
    assert not at.exception
    return at


def _signed_in_user(at: AppTest) -> str | None:
    user = at.session_state["nav_user"]
    return None if user is None else user.username


def test_the_session_cookie_signs_in_a_fresh_session_until_sign_out(app_env: pytest.MonkeyPatch) -> None:
    first = _signed_in("manager2")
    cookie = user_file.sign_cookie(first.session_state[auth.SESSION_KEY], KEY)
    other = _fresh_with_cookie(app_env, cookie)
    assert _titles(other) == ["Analytics Center"]
    assert _signed_in_user(other) == "manager2"
    assert "Account: Beacon Studio \\(acct\\-002\\)" in [caption.value for caption in other.sidebar.caption]

    first.sidebar.button(key="nav_logout").click().run()
    other.run()  # its next page: the session ended on the server
    assert _signed_in_user(other) is None
    assert [field.label for field in other.text_input] == ["Username", "Password"]
    assert _signed_in_user(_fresh_with_cookie(app_env, cookie)) is None  # the copied cookie


@pytest.mark.parametrize("which", ["wrong-key", "unknown-id", "old-jwt", "garbage"])
def test_a_bad_cookie_shows_the_form(app_env: pytest.MonkeyPatch, which: str) -> None:
    value = {
        "wrong-key": user_file.sign_cookie("some-id", "wrong-key-" + "z" * 48),
        "unknown-id": user_file.sign_cookie("no-such-session", KEY),
        "old-jwt": old_library_cookie({"username": "admin", "exp_date": time.time() + 3600}, KEY),
        "garbage": "%%%.;",
    }[which]
    at = _fresh_with_cookie(app_env, value)
    assert [field.label for field in at.text_input] == ["Username", "Password"]
    assert _signed_in_user(at) is None


def test_idle_sessions_end_and_say_so(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("ANALYTICS_SESSION_IDLE_HOURS", "2")
    start = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    app_env.setattr(auth, "clock", lambda: start)
    at = _signed_in("analyst")
    app_env.setattr(auth, "clock", lambda: start + timedelta(hours=1, minutes=59))
    at.run()
    assert _signed_in_user(at) == "analyst"  # used again: idle counts from here
    app_env.setattr(auth, "clock", lambda: start + timedelta(hours=3, minutes=58))
    at.run()
    assert _signed_in_user(at) == "analyst"
    app_env.setattr(auth, "clock", lambda: start + timedelta(hours=6))  # 2 h 2 min unused
    at.run()
    assert _signed_in_user(at) is None
    assert [info.value for info in at.info] == ["Your sign-in is no longer valid; please sign in again."]
    assert [field.label for field in at.text_input] == ["Username", "Password"]


def test_a_role_change_in_the_auth_file_ends_the_session(app_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    document = yaml.safe_load(DEMO_FILE.read_text())
    path = tmp_path / "users.yaml"
    path.write_text(yaml.safe_dump(document))
    app_env.setenv("ANALYTICS_AUTH_FILE", str(path))
    at = _signed_in("manager")
    at.run()
    assert _signed_in_user(at) == "manager"
    document["credentials"]["usernames"]["manager"]["roles"] = ["analyst"]
    path.write_text(yaml.safe_dump(document))
    at.run()
    assert _signed_in_user(at) is None  # not silently an analyst: signed out, to sign in again
    _sign_in(at, "manager", DEMO_PASSWORDS["manager"]).run()
    assert at.session_state["nav_user"].roles == ("analyst",)
    del document["credentials"]["usernames"]["manager"]
    path.write_text(yaml.safe_dump(document))
    at.run()
    assert _signed_in_user(at) is None  # removed from the file: signed out at the next page


def test_an_admin_ends_a_session_and_it_is_signed_out_at_its_next_page(app_env: pytest.MonkeyPatch) -> None:
    analyst = _signed_in("analyst")
    other_analyst = _signed_in("analyst")
    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    assert not admin.exception
    key = analyst.session_state[auth.SESSION_KEY]
    from token_analytics.accounts.sessions import session_key

    admin.selectbox(key="admin_session").set_value(session_key(key)).run()
    admin.button(key="admin_end_session").click().run()
    assert not admin.exception
    assert "Ended a session of analyst; it is signed out at its next page." in [s.value for s in admin.success]
    analyst.run()
    assert _signed_in_user(analyst) is None
    other_analyst.run()
    assert _signed_in_user(other_analyst) == "analyst"  # only that session ended

    admin.selectbox(key="admin_session").set_value(session_key(other_analyst.session_state[auth.SESSION_KEY])).run()
    admin.button(key="admin_end_all").click().run()
    other_analyst.run()
    assert _signed_in_user(other_analyst) is None
    admin.run()
    assert _signed_in_user(admin) == "admin"
    (log,) = [frame.value for frame in admin.dataframe if "Action" in frame.value.columns]
    ends = log[log["Action"] == "Session ended"]
    assert list(zip(ends["Who"], ends["What"], strict=True)) == [("admin", "analyst"), ("admin", "analyst")]
    assert list(log["Action"]).count("Signed in") == 3


def test_thirty_wrong_guesses_lock_and_the_lock_does_not_tell_who_exists(app_env: pytest.MonkeyPatch) -> None:
    moments = iter(datetime(2026, 11, 30, 2, 0, tzinfo=UTC) + timedelta(seconds=20 * n) for n in range(200))
    now = {"at": next(moments)}
    app_env.setattr(auth, "clock", lambda: now["at"])
    locked = (
        "Sign-in is paused after too many failed attempts; "
        "try again in 15 minutes or ask an administrator to unlock it."
    )
    answers: dict[str, list[str]] = {}
    for username in ("analyst", "no-such-user"):
        at = _app()
        at.run()
        answers[username] = []
        for _ in range(30):
            now["at"] = next(moments)  # a guess every 20 s: waits out the first delays, not the lock
            _sign_in(at, username, "wrong-password")
            answers[username].append(at.error[0].value)
        assert answers[username][-1] == locked
        _sign_in(at, username, DEMO_PASSWORDS.get(username, "anything"))
        assert [error.value for error in at.error] == [locked]  # the right password too
        assert _signed_in_user(at) is None
    assert answers["analyst"] == answers["no-such-user"]  # the same sentences, in the same order


def test_bad_settings_stop_with_one_line(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("ANALYTICS_MODE", "hybrid")
    at = _app()
    at.run()
    assert not at.exception
    assert [error.value for error in at.error] == ["ANALYTICS_MODE='hybrid' is not one of: saas, self-hosted."]
    assert not at.text_input


def test_bad_auth_file_stops_with_one_line(app_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app_env.setenv("ANALYTICS_AUTH_FILE", str(tmp_path / "missing.yaml"))
    at = _app()
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    assert "does not exist" in at.error[0].value
    assert not at.text_input


def test_require_guards_a_page() -> None:
    def page() -> None:
        import streamlit as st

        from token_analytics.accounts.users import User
        from token_analytics.web import ui

        ui.require(User("analyst", "Analyst", ("analyst",), "acct-001"), "buy")
        st.write("secret")

    at = AppTest.from_function(page)
    at.run()
    assert [error.value for error in at.error] == [
        "Only managers and administrators can buy tokens or change the plan."
    ]
    assert not at.markdown

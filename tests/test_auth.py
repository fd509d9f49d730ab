"""Sign-in, roles, account scoping and the router's page list (SPEC §5)."""

from __future__ import annotations

import time
from pathlib import Path

import bcrypt
import jwt
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from tests.apptest import DEMO_PASSWORDS, KEY, _app, _sign_in, _signed_in
from token_analytics.settings import load_settings
from token_analytics.web import auth, ui
from token_analytics.web.auth import AuthConfigError, User

ROOT = Path(__file__).resolve().parent.parent
DEMO_FILE = ROOT / "auth" / "demo_users.yaml"
HASH = bcrypt.hashpw(b"secret-pass", bcrypt.gensalt(rounds=4)).decode()

ADMIN = User("admin", "Admin", ("admin",), "acct-001")
MANAGER = User("manager", "Manager", ("manager",), "acct-001")
ANALYST = User("analyst", "Analyst", ("analyst",), "acct-001")
KNOWN = ["acct-001", "acct-002", "acct-003"]


# --- the auth YAML --------------------------------------------------------------------------


def test_demo_file_users_roles_and_accounts() -> None:
    config = auth.load_auth(DEMO_FILE)
    assert {name: (user.role, user.account_id) for name, user in config.users.items()} == {
        "admin": ("admin", "acct-001"),
        "manager": ("manager", "acct-001"),
        "analyst": ("analyst", "acct-001"),
        "manager2": ("manager", "acct-002"),
    }
    assert config.cookie_name == "tac_auth"
    assert config.cookie_expiry_days == 1
    assert config.account_ids == ("acct-001", "acct-002")


def test_demo_file_holds_no_cookie_key_and_no_plain_passwords() -> None:
    document = yaml.safe_load(DEMO_FILE.read_text())
    assert "key" not in document["cookie"]
    text = DEMO_FILE.read_text()
    for password in DEMO_PASSWORDS.values():
        assert password not in text


@pytest.mark.parametrize(("username", "password"), sorted(DEMO_PASSWORDS.items()))
def test_demo_passwords_match_the_committed_hashes(username: str, password: str) -> None:
    hashed = auth.load_auth(DEMO_FILE).credentials["usernames"][username]["password"]
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    assert not bcrypt.checkpw(b"wrong-password", hashed.encode())


def test_credentials_copy_is_independent() -> None:
    config = auth.load_auth(DEMO_FILE)
    copied = config.credentials_copy()
    copied["usernames"]["admin"]["logged_in"] = True
    assert "logged_in" not in config.credentials["usernames"]["admin"]


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
        auth.load_auth(path)
    message = str(caught.value)
    assert "\n" not in message
    assert fragment in message
    assert str(path) in message
    if users and isinstance(next(iter(users.values())), dict):
        assert "'ann'" in message


def test_missing_and_unparseable_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="does not exist.*ANALYTICS_AUTH_FILE") as caught:
        auth.load_auth(tmp_path / "nope.yaml")
    assert "\n" not in str(caught.value)
    broken = tmp_path / "broken.yaml"
    broken.write_text("credentials: [unclosed\n  usernames: {\n")
    with pytest.raises(AuthConfigError, match="not valid YAML") as caught:
        auth.load_auth(broken)
    assert "\n" not in str(caught.value)


def test_bad_cookie_section_is_an_error_and_a_key_in_the_file_is_ignored(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="cookie"):
        auth.load_auth(_write(tmp_path, {"ann": _user()}, cookie={"name": "x", "expiry_days": 0}))
    config = auth.load_auth(_write(tmp_path, {"Ann": _user()}, cookie={"name": "c", "expiry_days": 2, "key": "k"}))
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
    everything = ["analysis", "token_history", "recharge", "subscription", "admin"]
    assert _keys("saas", None) == everything
    assert _keys("saas", ADMIN) == everything
    assert _keys("saas", MANAGER) == ["analysis", "token_history", "recharge", "subscription"]
    assert _keys("saas", ANALYST) == ["analysis", "token_history"]
    assert _keys("self-hosted", None) == ["analysis", "token_history", "admin"]
    assert _keys("self-hosted", ADMIN) == ["analysis", "token_history", "admin"]
    assert _keys("self-hosted", MANAGER) == ["analysis", "token_history"]
    assert _keys("self-hosted", ADMIN, ledger=False) == ["analysis", "admin"]
    assert _keys("self-hosted", ANALYST, ledger=False) == ["analysis"]
    assert _keys("saas", ANALYST, ledger=False) == ["analysis", "token_history"]  # SaaS always has a ledger


def test_routes_and_landing_page() -> None:
    assert [page.url_path for page in ui.PAGES] == ["analysis", "token-history", "recharge", "subscription", "admin"]
    assert ui.LANDING == "analysis"  # "/" switches to it (see dashboard.st_pages)
    for page in ui.PAGES:
        assert (ROOT / "app_pages" / page.file).is_file()


def test_every_page_file_is_registered() -> None:
    assert {path.name for path in (ROOT / "app_pages").glob("*.py")} <= {page.file for page in ui.PAGES}


# --- the cookie -----------------------------------------------------------------------------


def test_cookie_token_accepted_with_the_key() -> None:
    assert auth.verify_cookie_token(auth.encode_cookie_token("analyst", KEY), KEY) == "analyst"


def test_cookie_token_rejected_with_a_wrong_key_expired_or_malformed() -> None:
    assert auth.verify_cookie_token(auth.encode_cookie_token("analyst", KEY), "another-key-" + "y" * 40) is None
    expired = jwt.encode({"username": "analyst", "exp_date": time.time() - 1}, KEY, algorithm="HS256")
    assert auth.verify_cookie_token(expired, KEY) is None
    token = auth.encode_cookie_token("analyst", KEY, expiry_days=1)
    assert auth.verify_cookie_token(token, KEY, now=time.time() + 2 * 86400) is None
    assert auth.verify_cookie_token("not-a-jwt", KEY) is None
    no_date = jwt.encode({"username": "analyst"}, KEY, algorithm="HS256")
    assert auth.verify_cookie_token(no_date, KEY) is None
    text_date = jwt.encode({"username": "analyst", "exp_date": "tomorrow"}, KEY, algorithm="HS256")
    assert auth.verify_cookie_token(text_date, KEY) is None
    with_exp = jwt.encode({"username": "analyst", "exp_date": time.time() + 99, "exp": 1}, KEY, algorithm="HS256")
    assert auth.verify_cookie_token(with_exp, KEY) is None
    none_alg = jwt.encode({"username": "admin", "exp_date": time.time() + 99}, None, algorithm="none")
    assert auth.verify_cookie_token(none_alg, KEY) is None


def test_cookie_token_matches_the_library() -> None:
    from streamlit_authenticator.models.cookie_model import CookieModel

    model = CookieModel.__new__(CookieModel)  # skip __init__: it draws a cookie component
    model.cookie_key = KEY
    model.token = auth.encode_cookie_token("manager", KEY)
    decoded = model._token_decode()
    assert decoded["username"] == "manager"
    assert decoded["exp_date"] > time.time()
    library_token = jwt.encode({"username": "manager", "exp_date": time.time() + 60}, KEY, algorithm="HS256")
    assert auth.verify_cookie_token(library_token, KEY) == "manager"


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
    assert [caption.value for caption in at.sidebar.caption] == ["Role: Analyst · SaaS", "Account: acct-001"]
    assert not at.sidebar.selectbox
    assert at.session_state["nav_user"].username == "analyst"
    with pytest.raises(ValueError):
        at.switch_page("app_pages/recharge.py")  # not registered for analysts
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
    assert "Account: acct-001" in [caption.value for caption in at.sidebar.caption]
    at.switch_page("app_pages/recharge.py").run()
    assert _titles(at) == ["Recharge"]
    with pytest.raises(ValueError):
        at.switch_page("app_pages/admin.py")


def test_admin_switches_accounts(app_env: pytest.MonkeyPatch) -> None:
    at = _signed_in("admin")
    switcher = at.sidebar.selectbox(key="nav_account")
    assert switcher.value == "acct-001"
    assert list(switcher.options) == ["acct-001", "acct-002", "acct-003", "acct-004"]  # every exported account
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


def test_a_valid_cookie_signs_in_a_fresh_session(app_env: pytest.MonkeyPatch) -> None:
    token = auth.encode_cookie_token("manager2", KEY)
    app_env.setattr(auth, "_request_cookie", lambda name: token if name == "tac_auth" else None)
    at = _app()
    at.run()
    assert not at.exception
    assert _titles(at) == ["Analytics Center"]
    assert at.session_state["nav_user"].username == "manager2"
    assert "Account: acct-002" in [caption.value for caption in at.sidebar.caption]


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "admin", "exp_date": time.time() + 3600, "key": "wrong"},
        {"username": "admin", "exp_date": time.time() - 1},
        {"username": "ghost", "exp_date": time.time() + 3600},
        {"username": "admin", "exp_date": time.time() + 3600, "exp": 1},  # the library alone would crash
        {"username": "admin", "exp_date": "soon"},  # the library alone would crash
    ],
    ids=["wrong-key", "expired", "unknown-user", "exp-claim", "text-date"],
)
def test_a_bad_cookie_shows_the_form(app_env: pytest.MonkeyPatch, payload: dict) -> None:
    key = "wrong-key-" + "z" * 48 if payload.pop("key", None) else KEY
    token = jwt.encode(payload, key, algorithm="HS256")
    app_env.setattr(auth, "_request_cookie", lambda name: token)
    at = _app()
    at.run()
    assert not at.exception
    assert [field.label for field in at.text_input] == ["Username", "Password"]
    assert at.session_state["nav_user"] is None


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

        from token_analytics.web import ui
        from token_analytics.web.auth import User

        ui.require(User("analyst", "Analyst", ("analyst",), "acct-001"), "buy")
        st.write("secret")

    at = AppTest.from_function(page)
    at.run()
    assert [error.value for error in at.error] == [
        "Only managers and administrators can buy tokens or change the plan."
    ]
    assert not at.markdown

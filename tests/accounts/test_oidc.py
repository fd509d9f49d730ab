"""Single sign-on: identity claims to the same `User` the YAML path yields."""

from __future__ import annotations

from pathlib import Path

import pytest

from token_analytics.accounts.sso import OidcMappingError, load_mapping
from token_analytics.accounts.users import User
from token_analytics.settings import load_settings
from token_analytics.web import fmt

MAPPING = """
emails:
  Li.Wei@Example.com: {roles: [manager], account_id: acct-001}
  ops@example.com: {roles: [analyst, admin], account_id: acct-002}
groups:
  - {group: finance, roles: [analyst], account_id: acct-003}
  - {group: analytics-admins, roles: admin, account_id: acct-001}
"""


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "sso.yaml"
    path.write_text(MAPPING)
    return path


def test_an_email_maps_to_its_role_and_account(mapping_file: Path) -> None:
    user = load_mapping(mapping_file).user_for(
        {"sub": "u-1", "email": "li.wei@EXAMPLE.com", "email_verified": True, "name": "Li Wei"}
    )
    assert user == User(
        username="li.wei@example.com",
        name="Li Wei",
        roles=("manager",),
        account_id="acct-001",
        email="li.wei@example.com",
    )
    assert user.can_buy and not user.is_admin


def test_the_email_wins_over_groups_and_the_first_group_rule_wins(mapping_file: Path) -> None:
    mapping = load_mapping(mapping_file)
    both = mapping.user_for({"sub": "u-2", "email": "ops@example.com", "email_verified": True, "groups": ["finance"]})
    assert both is not None and both.roles == ("analyst", "admin") and both.account_id == "acct-002"
    assert both.is_admin  # the most privileged role decides what the user may do
    by_group = mapping.user_for(
        {"sub": "u-3", "email": "someone@example.com", "groups": ["analytics-admins", "finance"]}
    )
    assert by_group is not None and by_group.roles == ("analyst",) and by_group.account_id == "acct-003"
    single = mapping.user_for({"sub": "u-4", "groups": "analytics-admins"})
    assert single is not None and single.username == "sso:u-4" and single.name == "u-4" and single.is_admin


def test_unmapped_and_unverified_identities_are_refused(mapping_file: Path) -> None:
    mapping = load_mapping(mapping_file)
    assert mapping.user_for({"sub": "x", "email": "stranger@example.com", "groups": ["staff"]}) is None
    assert mapping.user_for({"sub": "x"}) is None
    # a provider that says the address is not verified does not get the address's grant
    assert mapping.user_for({"sub": "x", "email": "li.wei@example.com", "email_verified": False}) is None
    assert mapping.user_for({"sub": "x", "email": "li.wei@example.com", "email_verified": True}) is not None
    assert mapping.user_for({"sub": "x", "groups": None, "email": None}) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("emails: {a@b.c: {roles: [owner], account_id: acct-1}}", "needs `roles` from: admin, manager, analyst"),
        ("emails: {a@b.c: {roles: [admin]}}", "needs an `account_id`"),
        ("groups: [{roles: [admin], account_id: acct-1}]", "group rule 1 needs a `group`"),
        ("emails: {}", "maps nobody"),
        ("subjects: [{sub: x, roles: [admin], account_id: a}]", "subject rule 1 needs an `iss` and a `sub`"),
        ("subjects: {a: b}", "`subjects` is a list"),
        ("{emails: {a@b.c: {roles: [admin], account_id: a}}, trusted_email_issuers: https://x}", "is a list of issuer"),
        ("emails: [1, 2]", "`emails` is a mapping"),
        ("emails: {a: [unclosed", "is not readable YAML"),
    ],
)
def test_a_bad_mapping_file_is_one_line_that_names_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sso.yaml"
    path.write_text(text)
    with pytest.raises(OidcMappingError, match=message) as raised:
        load_mapping(path)
    assert "\n" not in str(raised.value) and str(path) in str(raised.value)


def test_the_setting_turns_it_on(tmp_path: Path) -> None:
    assert load_settings({}).oidc_mapping_file is None
    on = load_settings({"ANALYTICS_OIDC_MAPPING_FILE": str(tmp_path / "sso.yaml")})
    assert on.oidc_mapping_file == tmp_path / "sso.yaml"
    with pytest.raises(OidcMappingError, match="ANALYTICS_OIDC_MAPPING_FILE=.* does not exist"):
        load_mapping(on.oidc_mapping_file)


# --- the same sessions, roles and scoping, in the app (AppTest; st.user is the mock's claims) ---


@pytest.fixture
def sso_app(app_env: pytest.MonkeyPatch, mapping_file: Path) -> dict[str, object]:
    """The app with single sign-on on; `claims` is who the provider says is signed in, `logouts` counts st.logout."""
    from token_analytics.web import oidc

    state: dict[str, object] = {"claims": None, "logouts": 0}
    app_env.setenv("ANALYTICS_OIDC_MAPPING_FILE", str(mapping_file))
    app_env.setattr(oidc, "identity", lambda: state["claims"])

    def logout() -> None:
        state["logouts"] = int(state["logouts"]) + 1  # type: ignore[call-overload]
        state["claims"] = None

    app_env.setattr(oidc, "logout", logout)
    return state


def _sessions():  # noqa: ANN202
    from datetime import timedelta

    from token_analytics.accounts.sessions import Sessions
    from token_analytics.web import data

    store = data.open_store(load_settings())
    return Sessions(store.cursor(), idle=timedelta(hours=8))


def test_a_mapped_identity_gets_a_server_side_session_and_its_account(sso_app: dict[str, object]) -> None:
    from datetime import UTC, datetime

    from tests.apptest import _app

    at = _app().run()
    assert any(button.label == "Sign in with single sign-on" for button in at.button)
    sso_app["claims"] = {"sub": "u-1", "email": "li.wei@example.com", "email_verified": True, "name": "Li Wei"}
    at.run()
    assert not at.exception
    assert any(r"\(acct\-001\)" in caption.value for caption in at.sidebar.caption)
    assert "Token Balance" in [metric.label for metric in at.metric]
    active = _sessions().active(datetime.now(tz=UTC), "li.wei@example.com")
    assert len(active) == 1
    # an admin signs the user out everywhere: the next page signs out here and at the provider
    _sessions().revoke_all("li.wei@example.com", "admin", datetime.now(tz=UTC))
    at.run()
    assert sso_app["logouts"] == 1
    assert "Token Balance" not in [metric.label for metric in at.metric]


def test_an_unmapped_identity_is_refused_in_one_sentence(sso_app: dict[str, object]) -> None:
    from datetime import UTC, datetime

    from tests.apptest import _app

    sso_app["claims"] = {"sub": "x", "email": "stranger@example.com"}
    at = _app().run()
    # the address came from the provider: it is shown as plain text, never as a link
    assert [info.value for info in at.info] == [
        fmt.plain("stranger@example.com") + " has no access to Token Analytics Center; ask an administrator to add you."
    ]
    assert not at.metric
    assert _sessions().active(datetime.now(tz=UTC), "stranger@example.com") == []


def test_the_sign_out_button_ends_the_session_and_the_providers_sign_in(sso_app: dict[str, object]) -> None:
    from datetime import UTC, datetime

    from tests.apptest import _app

    sso_app["claims"] = {"sub": "g", "groups": ["analytics-admins"], "name": "Grace"}
    at = _app().run()
    at.run()
    assert "Role: Administrator · SaaS" in [caption.value for caption in at.sidebar.caption]
    at.sidebar.button(key="nav_logout").click().run()
    assert sso_app["logouts"] == 1
    assert _sessions().active(datetime.now(tz=UTC), "sso:g") == []
    assert any(button.label == "Sign in with single sign-on" for button in at.button)


# --- e-mail is matched only when verified; a stable subject otherwise ---------------------------

ISSUER = "https://login.example.com"
STRICT_MAPPING = f"""
subjects:
  - {{iss: "{ISSUER}", sub: "00u-admin", roles: [admin], account_id: acct-001}}
emails:
  li.wei@example.com: {{roles: [manager], account_id: acct-001}}
groups:
  - {{group: finance, roles: [analyst], account_id: acct-003}}
trusted_email_issuers:
  - https://accounts.google.com
"""


@pytest.fixture
def strict_mapping(tmp_path: Path) -> Path:
    path = tmp_path / "strict.yaml"
    path.write_text(STRICT_MAPPING)
    return path


MISSING = object()


@pytest.mark.parametrize(
    "said",
    ["false", "False", "true", 0, 1, None, MISSING, [True]],
    ids=["str-false", "str-False", "str-true", "zero", "one", "null", "missing", "list"],
)
def test_an_email_not_verified_by_the_json_boolean_true_is_not_matched(strict_mapping: Path, said: object) -> None:
    claims: dict[str, object] = {"iss": ISSUER, "sub": "attacker", "email": "Li.Wei@example.com"}
    if said is not MISSING:
        claims["email_verified"] = said
    mapping = load_mapping(strict_mapping)
    assert mapping.user_for(claims) is None  # the nOAuth pattern: a typed-in address is not an identity
    with_group = mapping.user_for({**claims, "groups": ["finance"]})  # still signs in by what else maps it
    assert with_group is not None and with_group.roles == ("analyst",) and with_group.account_id == "acct-003"
    # and the unverified address is nowhere in who it is: not the username (audit log, sessions), not the e-mail
    assert with_group.username == "sso:attacker@login.example.com"
    assert with_group.email is None and with_group.name == "attacker"


def test_a_verified_email_is_matched_and_is_the_username(strict_mapping: Path) -> None:
    claims = {"iss": ISSUER, "sub": "u-1", "email": "Li.Wei@example.com", "email_verified": True}
    user = load_mapping(strict_mapping).user_for(claims)
    assert user is not None and user.roles == ("manager",) and user.account_id == "acct-001"
    assert user.username == "li.wei@example.com" and user.email == "li.wei@example.com"


def test_an_issuer_named_as_verifying_email_is_trusted_unless_the_token_says_otherwise(strict_mapping: Path) -> None:
    mapping = load_mapping(strict_mapping)
    google = {"iss": "https://accounts.google.com", "sub": "1234", "email": "li.wei@example.com"}
    user = mapping.user_for(google)
    assert user is not None and user.roles == ("manager",) and user.username == "li.wei@example.com"
    assert mapping.user_for({**google, "email_verified": False}) is None
    assert mapping.user_for({**google, "email_verified": "false"}) is None
    # the issuer must match exactly: another one (or a look-alike) is not trusted
    assert mapping.user_for({**google, "iss": "https://accounts.google.com.evil.example"}) is None


def test_a_subject_maps_by_issuer_and_subject(strict_mapping: Path) -> None:
    mapping = load_mapping(strict_mapping)
    admin = mapping.user_for({"iss": ISSUER, "sub": "00u-admin", "name": "Ops"})
    assert admin is not None and admin.is_admin and admin.account_id == "acct-001"
    assert admin.username == "sso:00u-admin@login.example.com" and admin.name == "Ops"
    # the same subject from another issuer is another identity
    assert mapping.user_for({"iss": "https://other.example.com", "sub": "00u-admin"}) is None
    assert mapping.user_for({"sub": "00u-admin"}) is None
    # the subject rule wins over whatever e-mail the token carries, verified or not
    chosen = mapping.user_for(
        {"iss": ISSUER, "sub": "00u-admin", "email": "li.wei@example.com", "email_verified": True}
    )
    assert chosen is not None and chosen.is_admin and chosen.username == "li.wei@example.com"


def test_an_unverified_email_never_names_the_session_or_the_audit_rows(
    app_env: pytest.MonkeyPatch, sso_app: dict[str, object], strict_mapping: Path
) -> None:
    from datetime import UTC, datetime

    from tests.apptest import _app
    from token_analytics.accounts.audit import AuditLog
    from token_analytics.web import data

    app_env.setenv("ANALYTICS_OIDC_MAPPING_FILE", str(strict_mapping))
    sso_app["claims"] = {
        "iss": ISSUER,
        "sub": "00u-mallory",
        "email": "li.wei@example.com",  # the manager's address, typed into an unverified profile
        "email_verified": "true",
        "groups": ["finance"],
        "name": "Mallory",
    }
    at = _app().run()
    at.run()
    assert not at.exception
    assert any(r"\(acct\-003\)" in caption.value for caption in at.sidebar.caption)  # finance, not li.wei's account
    now = datetime.now(tz=UTC)
    assert len(_sessions().active(now, "sso:00u-mallory@login.example.com")) == 1
    assert _sessions().active(now, "li.wei@example.com") == []
    rows = AuditLog(data.open_store(load_settings()).cursor()).entries()
    assert "sso:00u-mallory@login.example.com" in set(rows["actor"])
    assert not rows.astype(str).apply(lambda column: column.str.contains("li.wei@example.com")).any().any()

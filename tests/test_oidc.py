"""Single sign-on: identity claims to the same `User` the YAML path yields (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from token_analytics.settings import load_settings
from token_analytics.web.auth import User
from token_analytics.web.oidc import OidcMappingError, load_mapping

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
    user = load_mapping(mapping_file).user_for({"sub": "u-1", "email": "li.wei@EXAMPLE.com", "name": "Li Wei"})
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
    both = mapping.user_for({"sub": "u-2", "email": "ops@example.com", "groups": ["finance"]})
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

"""Single sign-on in a real browser: st.login against a mock OpenID provider on 127.0.0.1.

The provider (PyPI `oidc-provider-mock`) serves discovery, JWKS, authorize and token endpoints in
a thread of the test process and offers its predefined identities as one-click buttons. The
server gets Streamlit's `[auth]` section from a secrets file of its own (STREAMLIT_SECRETS_FILES)
and the mapping file from ANALYTICS_OIDC_MAPPING_FILE.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import oidc_provider_mock
import pytest
import werkzeug.serving
from playwright.sync_api import Page, expect

from tests.e2e.support import Sample, Server, main_area, start_server, stop_server
from token_analytics.strings import t
from token_analytics.web.fmt import WORD_JOINER

MAPPING = """
emails:
  li.wei@example.com: {roles: [manager], account_id: acct-002}
groups:
  - {group: analytics-admins, roles: [admin], account_id: acct-001}
"""
IDENTITIES = [
    oidc_provider_mock.User(sub="li", claims={"email": "li.wei@example.com", "email_verified": True, "name": "Li Wei"}),
    oidc_provider_mock.User(sub="stranger", claims={"email": "stranger@example.com", "name": "Str Anger"}),
]


@dataclass
class Provider:
    url: str


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    app = oidc_provider_mock.app(user_claims=IDENTITIES)
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Provider(url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def sso_server(provider: Provider, sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("server-sso")
    (root / "sso.yaml").write_text(MAPPING)
    (root / "secrets.toml").write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "token-analytics-test"\n'
        f'client_secret = "{secrets.token_hex(16)}"\n'
        f'server_metadata_url = "{provider.url}/.well-known/openid-configuration"\n'
    )
    env = {"ANALYTICS_OIDC_MAPPING_FILE": str(root / "sso.yaml"), "STREAMLIT_SECRETS_FILES": str(root / "secrets.toml")}
    server = start_server("saas", sample, root, env)
    try:
        yield server
    finally:
        stop_server(server)


def _sign_in_with_sso(page: Page, server: Server, provider: Provider, sub: str) -> None:
    page.goto(server.url + "/")
    page.get_by_role("button", name=t("sso.sign_in")).click()
    expect(page).to_have_url(re.compile(re.escape(provider.url) + "/oauth2/authorize"))
    page.get_by_role("button", name=re.compile(re.escape(sub))).first.click()


def test_a_mapped_identity_lands_on_analysis_with_its_account(
    sso_server: Server, provider: Provider, page: Page
) -> None:
    _sign_in_with_sso(page, sso_server, provider, "li")
    expect(page).to_have_url(re.compile(r"/analysis(\?.*)?$"))
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text("Li Wei")
    expect(sidebar).to_contain_text(t("sidebar.role", role=t("role.manager"), mode=t("mode.saas")))
    expect(sidebar).to_contain_text("(acct-002)")  # "Name (acct-002)"
    expect(main_area(page).locator('[data-testid="stMetricLabel"]').filter(has_text=t("card.balance"))).to_be_visible()
    # A manager of acct-002 may not read acct-001, whatever the URL says.
    page.goto(sso_server.url + "/analysis?account=acct-001")
    expect(sidebar).to_contain_text("(acct-002)")  # "Name (acct-002)"
    # Signing out ends the single sign-on: the sign-in form is back.
    sidebar.get_by_role("button", name=t("sidebar.logout")).click()
    expect(page).to_have_url(re.compile(re.escape(provider.url) + "/oauth2/end_session"))
    page.get_by_role("button", name="End session").click()  # the provider's own confirmation
    expect(page.get_by_role("button", name=t("sso.sign_in"))).to_be_visible()
    page.goto(sso_server.url + "/analysis")
    expect(page.get_by_role("button", name=t("sso.sign_in"))).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(0)


def test_an_unmapped_identity_is_refused_in_one_sentence(sso_server: Server, provider: Provider, page: Page) -> None:
    _sign_in_with_sso(page, sso_server, provider, "stranger")
    refusal = main_area(page).locator('[data-testid="stAlert"]')
    expect(refusal).to_be_visible()
    assert refusal.inner_text().replace(WORD_JOINER, "").strip() == t("sso.refused", who="stranger@example.com")
    expect(refusal.locator("a")).to_have_count(0)  # the address is text, not a mailto link
    expect(page.locator('[data-testid="stSidebarNav"]')).to_have_count(0)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(0)

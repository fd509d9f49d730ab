"""Single sign-on: Streamlit's own `st.login` (OpenID Connect) as an alternative to the YAML users.

Enabled by ANALYTICS_OIDC_MAPPING_FILE plus Streamlit's `[auth]` section in secrets.toml. The
mapping file says which identities may sign in, and as whom:

    subjects:                     # a stable identity: the token's issuer and subject, exactly
      - {iss: "https://login.example.com", sub: "00u1abc", roles: [admin], account_id: acct-001}
    emails:                       # exact address, case-insensitive; only a verified address matches
      li.wei@example.com: {roles: [manager], account_id: acct-001}
    groups:                       # the first rule (file order) naming one of the identity's groups
      - {group: analytics-admins, roles: [admin], account_id: acct-001}
    group_claim: groups           # optional: the claim that lists groups (default `groups`)
    trusted_email_issuers:        # optional: issuers whose e-mail claim is always verified
      - https://accounts.google.com

An address is verified when the token says `email_verified` is the JSON boolean true, or when its
issuer is listed in `trusted_email_issuers` and the token does not say otherwise. A string
"false", 0 or a missing claim is not true: some providers (Entra ID) send no such claim and let
users edit their address, so matching it would let anyone take a mapped address's grant. An
unverified address is never the username either: that is `sso:<sub>@<issuer>`.

An identity is resolved into the same `User` the YAML path yields, so roles and account scoping
are the same code. Unmapped identities are refused with one sentence.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from token_analytics.accounts import sso
from token_analytics.accounts.users import User
from token_analytics.settings import Settings, load_settings
from token_analytics.web.i18n import t

log = logging.getLogger(__name__)


# --- the Streamlit side -------------------------------------------------------------------


def enabled(settings: Settings) -> bool:
    return settings.oidc_mapping_file is not None


def identity() -> dict[str, Any] | None:
    """The claims of the identity signed in through `st.login`, or None."""
    try:
        if not st.user.is_logged_in:
            return None
        return dict(st.user.to_dict())
    except Exception:  # no request context, or auth not configured: nobody is signed in this way
        log.debug("no st.user", exc_info=True)
        return None


def mapped_user(settings: Settings) -> User | None:
    """The mapped user of the identity this browser signed in with, or None (not on, nobody, or unmapped)."""
    claims = identity() if enabled(settings) else None
    if claims is None or settings.oidc_mapping_file is None:
        return None
    return sso.load_mapping(settings.oidc_mapping_file).user_for(claims)


def session_user(username: str) -> tuple[User | None, str | None]:
    """For `auth.session_user`: a session's single sign-on user, while this browser is still that identity."""
    settings = load_settings()
    user = mapped_user(settings)
    if user is None or user.username != username:
        return None, None
    return user, sso.fingerprint(user)


def logout() -> None:
    """End the provider's sign-in in this browser (Streamlit's own cookie and the provider's session)."""
    st.logout()


def login_button() -> None:
    """The sign-in form's way to single sign-on."""
    if st.button(t("sso.sign_in"), key="sso_login", type="secondary"):
        try:
            st.login()
        except Exception as exc:  # StreamlitAuthError: no or a broken [auth] section in secrets
            log.error("st.login failed: %s", exc)
            st.error(t("sso.not_configured"))

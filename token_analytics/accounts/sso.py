"""Single sign-on's mapping file: which identity from the provider is which user (roles, account).

The provider's claims come from the web layer (web/oidc.py reads `st.user`); here they are only data.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from token_analytics.accounts.users import ROLES, User

log = logging.getLogger("token_analytics.web.oidc")


DEFAULT_GROUP_CLAIM = "groups"


class OidcMappingError(ValueError):
    """The mapping file is wrong; the message is one line that names the file and what to fix."""


@dataclass(frozen=True)
class Grant:
    """What a mapped identity becomes: its roles and its account."""

    roles: tuple[str, ...]
    account_id: str


@dataclass(frozen=True)
class IdentityMap:
    path: Path
    emails: dict[str, Grant]
    groups: tuple[tuple[str, Grant], ...]
    group_claim: str = DEFAULT_GROUP_CLAIM
    subjects: dict[tuple[str, str], Grant] = field(default_factory=dict)  # (iss, sub) -> grant
    trusted_email_issuers: frozenset[str] = frozenset()

    def verified_email(self, claims: Mapping[str, Any]) -> str | None:
        """The identity's address, lower-case, when it is verified (see the module's docstring); else None."""
        email = text(claims.get("email")).lower()
        if not email:
            return None
        said = claims.get("email_verified")
        if said is True or (said is None and text(claims.get("iss")) in self.trusted_email_issuers):
            return email
        return None

    def grant_for(self, claims: Mapping[str, Any]) -> Grant | None:
        """The grant for an identity's claims (subject, then verified e-mail, then groups), or None."""
        subject = (text(claims.get("iss")), text(claims.get("sub")))
        if all(subject) and subject in self.subjects:
            return self.subjects[subject]
        email = self.verified_email(claims)
        if email is not None and email in self.emails:
            return self.emails[email]
        groups = claims.get(self.group_claim)
        if isinstance(groups, str):
            groups = [groups]
        member_of = {text(group) for group in groups} if isinstance(groups, list | tuple) else set()
        for group, grant in self.groups:
            if group in member_of:
                return grant
        return None

    def user_for(self, claims: Mapping[str, Any]) -> User | None:
        """The `User` an identity signs in as (username: its verified e-mail, else `sso:<sub>@<iss>`), or None."""
        grant = self.grant_for(claims)
        if grant is None:
            return None
        email = self.verified_email(claims)
        sub = text(claims.get("sub"))
        username = email or stable_name(claims)
        name = text(claims.get("name")) or email or sub
        return User(username=username, name=name, roles=grant.roles, account_id=grant.account_id, email=email)


def stable_name(claims: Mapping[str, Any]) -> str:
    """A username from what the provider never lets a user change: the subject, qualified by its issuer."""
    sub = text(claims.get("sub"))
    issuer = text(claims.get("iss")).removeprefix("https://").rstrip("/")
    return f"sso:{sub}@{issuer}" if issuer else f"sso:{sub}"


def text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _grant(entry: object, where: str, path: Path) -> Grant:
    if not isinstance(entry, dict):
        raise OidcMappingError(f"{path}: {where} needs `roles` and `account_id`.")
    roles = entry.get("roles")
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list) or not roles or any(role not in ROLES for role in roles):
        raise OidcMappingError(f"{path}: {where} needs `roles` from: {', '.join(ROLES)}.")
    account_id = entry.get("account_id")
    if not isinstance(account_id, str) or not account_id.strip():
        raise OidcMappingError(f"{path}: {where} needs an `account_id`.")
    return Grant(roles=tuple(roles), account_id=account_id.strip())


def load_mapping(path: Path | str) -> IdentityMap:
    """Read and check the mapping file; raise OidcMappingError (one line) when it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise OidcMappingError(f"ANALYTICS_OIDC_MAPPING_FILE={path} does not exist; point it at the mapping file.")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise OidcMappingError(f"{path} is not readable YAML: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(document, dict):
        raise OidcMappingError(f"{path}: expected `subjects`, `emails` and/or `groups` at the top level.")
    raw_emails = document.get("emails") or {}
    raw_groups = document.get("groups") or []
    if not isinstance(raw_emails, dict) or not isinstance(raw_groups, list):
        raise OidcMappingError(f"{path}: `emails` is a mapping of address to grant, `groups` a list of rules.")
    emails = {str(email).strip().lower(): _grant(entry, f"e-mail {email}", path) for email, entry in raw_emails.items()}
    groups: list[tuple[str, Grant]] = []
    for n, rule in enumerate(raw_groups, start=1):
        group = rule.get("group") if isinstance(rule, dict) else None
        if not isinstance(group, str) or not group.strip():
            raise OidcMappingError(f"{path}: group rule {n} needs a `group`.")
        groups.append((group.strip(), _grant(rule, f"group rule {n} ({group})", path)))
    subjects = _subjects(document.get("subjects") or [], path)
    if not emails and not groups and not subjects:
        raise OidcMappingError(f"{path} maps nobody; add `subjects`, `emails` or `groups`.")
    claim = document.get("group_claim", DEFAULT_GROUP_CLAIM)
    if not isinstance(claim, str) or not claim.strip():
        raise OidcMappingError(f"{path}: `group_claim` is the name of a claim, such as groups.")
    issuers = document.get("trusted_email_issuers") or []
    if not isinstance(issuers, list) or not all(isinstance(issuer, str) and issuer.strip() for issuer in issuers):
        raise OidcMappingError(f"{path}: `trusted_email_issuers` is a list of issuer URLs, exactly as in `iss`.")
    return IdentityMap(
        path=path,
        emails=emails,
        groups=tuple(groups),
        group_claim=claim.strip(),
        subjects=subjects,
        trusted_email_issuers=frozenset(issuer.strip() for issuer in issuers),
    )


def _subjects(raw: object, path: Path) -> dict[tuple[str, str], Grant]:
    """The `subjects` rules: (iss, sub) -> grant."""
    if not isinstance(raw, list):
        raise OidcMappingError(f"{path}: `subjects` is a list of rules with `iss`, `sub`, `roles`, `account_id`.")
    subjects: dict[tuple[str, str], Grant] = {}
    for n, rule in enumerate(raw, start=1):
        iss = rule.get("iss") if isinstance(rule, dict) else None
        sub = rule.get("sub") if isinstance(rule, dict) else None
        if not isinstance(iss, str) or not iss.strip() or not isinstance(sub, str | int) or not str(sub).strip():
            raise OidcMappingError(f"{path}: subject rule {n} needs an `iss` and a `sub`.")
        subjects[(iss.strip(), str(sub).strip())] = _grant(rule, f"subject rule {n}", path)
    return subjects


def fingerprint(user: User) -> str:
    """What a single sign-on session remembers: the mapped roles and account (a changed mapping ends it)."""
    material = "\0".join(["sso", ",".join(sorted(user.roles)), user.account_id])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()

"""Settings (SPEC §2): every value has a default and an environment variable."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from token_analytics.labels import Labelled

ROOT = Path(__file__).resolve().parent.parent


class Mode(Labelled, prefix="mode."):
    """How the app is run: for a hosted platform's customers (SaaS: orders, balance) or on one's own server."""

    SAAS = "saas"
    SELF_HOSTED = "self-hosted"


MODES = tuple(Mode)
# Each mode has its own app database by default, so SaaS sandbox orders never show in
# self-hosted mode and one server per mode can run side by side (DuckDB: one process per file).
SELF_HOSTED_APP_DB = "data/app-self-hosted.duckdb"
# /analysis lists this many latest ledger entries; the ingest keeps, per account, the time of the exported ledger's
# entry this far back (ledger_sums.recent_from), so the list never scans the whole ledger (queries/analysis_ledger.sql).
RECENT_ENTRIES = 10
# /analysis ranks this many members of the month; the ingest keeps each account's ranking per month this deep
# (account_months.leaderboard, queries/ingest/insert_account_months.sql).
LEADERBOARD_ENTRIES = 10
ALERT_WEBHOOK_KINDS = ("json", "wecom", "dingtalk", "feishu", "slack")

# name -> (default, meaning); the README's settings table is checked against this.
VARIABLES: dict[str, tuple[str, str]] = {
    "ANALYTICS_MODE": (Mode.SAAS.value, "`saas` or `self-hosted`"),
    "ANALYTICS_DATA_DIR": ("data/sample", "root of the exported files; generated on first run when missing"),
    "ANALYTICS_TIMEZONE": ("Asia/Shanghai", "IANA zone that defines today and this month"),
    "ANALYTICS_NOW": ("", "fixed clock, ISO-8601 with offset; empty means the wall clock"),
    "ANALYTICS_AUTH_FILE": ("auth/demo_users.yaml", "streamlit-authenticator YAML with `account_id` per user"),
    "ANALYTICS_APP_DB": (
        "data/app.duckdb",
        "the app's own DuckDB file (orders, adjustments, requests); self-hosted default data/app-self-hosted.duckdb",
    ),
    "ANALYTICS_DERIVED_DIR": (
        "",
        "a derived folder (docs/DERIVED_FORMAT.md) read instead of the exports; empty means read ANALYTICS_DATA_DIR",
    ),
    "ANALYTICS_CACHE_DB": ("", "DuckDB file holding the ingested exports; empty means beside ANALYTICS_APP_DB"),
    "ANALYTICS_COOKIE_KEY": ("", "secret that signs the sign-in cookie; empty means a random key per process"),
    "ANALYTICS_PRICES_FILE": ("config/prices.yaml", "token packages, prices and plans"),
    "ANALYTICS_OIDC_MAPPING_FILE": ("", "single sign-on: identity claims to role and account; empty means off"),
    "ANALYTICS_SESSION_IDLE_HOURS": ("8", "a sign-in session unused for this many hours ends"),
    "ANALYTICS_TRUSTED_PROXY_HEADER": ("", "header with the client address set by your reverse proxy; empty: none"),
    "ANALYTICS_ALERT_WEBHOOKS": (
        "",
        "where `alerts` posts: comma-separated `kind=url`, kind one of json, wecom, dingtalk, feishu, slack; "
        "empty means no webhook",
    ),
}


class SettingsError(ValueError):
    """A setting is wrong; the message is one line that names the variable."""


@dataclass(frozen=True)
class Settings:
    mode: Mode
    data_dir: Path
    timezone: str
    now_override: datetime | None
    auth_file: Path
    app_db: Path
    cache_db: Path
    cookie_key: str
    prices_file: Path
    oidc_mapping_file: Path | None = None  # single sign-on (st.login) is on when set
    session_idle_hours: float = 8.0
    trusted_proxy_header: str = ""
    # (kind, url) per alert webhook, in the order given; see ANALYTICS_ALERT_WEBHOOKS
    alert_webhooks: tuple[tuple[str, str], ...] = ()
    # a derived folder (`rollup`'s output) loaded instead of ingesting data_dir; None: read the exports
    derived_dir: Path | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def saas(self) -> bool:
        return self.mode == Mode.SAAS

    @property
    def data_dir_is_default(self) -> bool:
        return self.data_dir == _path(VARIABLES["ANALYTICS_DATA_DIR"][0])

    def now(self) -> datetime:
        """The clock in the configured zone (ANALYTICS_NOW when pinned)."""
        moment = self.now_override or datetime.now(tz=self.zone)
        return moment.astimezone(self.zone)


def _path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else ROOT / path


def parse_instant(value: str, variable: str) -> datetime:
    """Parse ISO-8601 with an offset; a naive or unparseable value is an error."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(
            f"{variable}={value!r} is not an ISO-8601 time such as 2026-11-29T10:00:00+08:00."
        ) from None
    if moment.tzinfo is None:
        raise SettingsError(f"{variable}={value!r} has no UTC offset; add one such as +08:00.")
    return moment


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _url_problem(url: str) -> str | None:
    """Why `url` cannot be posted to, in words that never repeat it (it carries the webhook's key); None when fine."""
    # http.client refuses a space or control character in the request line, and its error quotes the URL;
    # urlsplit would silently drop a tab or line break instead, so the raw text is checked first.
    if any(ord(char) <= 0x20 or ord(char) >= 0x7F for char in url):
        return "has a space, tab, line break or non-ASCII character (percent-encode it)"
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.hostname:
        return "is not an http(s) URL"
    try:
        port = split.port  # raises on a port that is not a number from 0 to 65535
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return "has a port that is not a number from 1 to 65535"
    return None


def parse_webhooks(text: str, variable: str = "ANALYTICS_ALERT_WEBHOOKS") -> tuple[tuple[str, str], ...]:
    """`kind=url,kind=url` -> ((kind, url), ...); a bad entry is a one-line error naming its position and kind.

    Checked here, when the setting is read, so a URL that cannot be sent stops the command at once
    instead of failing each run; no message repeats a URL (it carries the webhook's secret key).
    """
    out: list[tuple[str, str]] = []
    parts = [part.strip() for part in text.split(",") if part.strip()]
    for position, part in enumerate(parts, start=1):
        kind, sep, url = part.partition("=")
        kind, url = kind.strip().lower(), url.strip()
        if not sep or kind not in ALERT_WEBHOOK_KINDS:
            # echo the kind only when it looks like one: an entry without `kind=` may be a bare URL with its key
            named = f" {kind!r}" if sep and re.fullmatch(r"[a-z0-9_-]{1,20}", kind) else ""
            raise SettingsError(
                f"{variable}: the {_ordinal(position)} webhook{named} is not kind=url "
                f"with a kind among {', '.join(ALERT_WEBHOOK_KINDS)}."
            )
        problem = _url_problem(url)
        if problem:
            raise SettingsError(f"{variable}: the {_ordinal(position)} webhook ({kind}) {problem}.")
        out.append((kind, url))
    return tuple(out)


def check_zone(name: str, variable: str = "ANALYTICS_TIMEZONE") -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{variable}={name!r} is not an IANA time zone such as Asia/Shanghai or UTC.") from None
    return name


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the settings from the environment; raise SettingsError on a bad value."""
    env = dict(os.environ if env is None else env)

    def get(name: str) -> str:
        value = env.get(name, "").strip()
        return value or VARIABLES[name][0]

    mode_text = get("ANALYTICS_MODE").lower()
    if mode_text not in MODES:
        raise SettingsError(f"ANALYTICS_MODE={mode_text!r} is not one of: saas, self-hosted.")
    mode = Mode(mode_text)
    timezone = check_zone(get("ANALYTICS_TIMEZONE"))
    now_text = get("ANALYTICS_NOW")
    now_override = parse_instant(now_text, "ANALYTICS_NOW") if now_text else None
    idle_text = get("ANALYTICS_SESSION_IDLE_HOURS")
    try:
        idle_hours = float(idle_text)
    except ValueError:
        idle_hours = -1.0
    if not 0 < idle_hours <= 24 * 365:
        raise SettingsError(f"ANALYTICS_SESSION_IDLE_HOURS={idle_text!r} is not a number of hours such as 8.")
    header = get("ANALYTICS_TRUSTED_PROXY_HEADER")
    if header and not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise SettingsError(f"ANALYTICS_TRUSTED_PROXY_HEADER={header!r} is not a header name such as X-Forwarded-For.")
    app_db_text = env.get("ANALYTICS_APP_DB", "").strip()
    if not app_db_text:
        app_db_text = VARIABLES["ANALYTICS_APP_DB"][0] if mode == Mode.SAAS else SELF_HOSTED_APP_DB
    app_db = _path(app_db_text)
    cache_text = get("ANALYTICS_CACHE_DB")
    cache_db = _path(cache_text) if cache_text else app_db.with_name(app_db.name.split(".")[0] + "_exports.duckdb")
    return Settings(
        mode=mode,
        data_dir=_path(get("ANALYTICS_DATA_DIR")),
        timezone=timezone,
        now_override=now_override,
        auth_file=_path(get("ANALYTICS_AUTH_FILE")),
        app_db=app_db,
        cache_db=cache_db,
        cookie_key=get("ANALYTICS_COOKIE_KEY"),
        prices_file=_path(get("ANALYTICS_PRICES_FILE")),
        oidc_mapping_file=_path(get("ANALYTICS_OIDC_MAPPING_FILE")) if get("ANALYTICS_OIDC_MAPPING_FILE") else None,
        session_idle_hours=idle_hours,
        trusted_proxy_header=header,
        alert_webhooks=parse_webhooks(get("ANALYTICS_ALERT_WEBHOOKS")),
        derived_dir=_path(get("ANALYTICS_DERIVED_DIR")) if get("ANALYTICS_DERIVED_DIR") else None,
    )

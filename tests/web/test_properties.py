"""Property-based page tests: every page each role may open, in both modes, holds on any small export.

For each generated `World` (tests/strategies.py: nullable columns null and not, optional columns
present or absent, unknown members and plans, a missing or empty account, one transaction type
only, zero and negative balances, values up to 2^53, CJK / emoji / right-to-left / HTML / Markdown /
formula text, times on period edges and far away, app orders in every state) AppTest signs in as
admin, manager and analyst and renders every page the role may open, in SaaS and self-hosted
mode: no exception, no error, no "nan"/"None" shown, and /analysis shows exactly the figures of
`analysis_figures`, the function `report` prints.

Runs a fixed-seed profile by default (`ci`); `HYPOTHESIS_PROFILE=thorough` runs many more, random
examples. Marked `slow`: `-m "not slow"` leaves the layer out of a quick run.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from streamlit.testing.v1 import AppTest

from tests.apptest import KEY, _signed_in
from tests.strategies import ACCOUNT, World, worlds, write_app_state, write_export
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
from token_analytics.strings import t
from token_analytics.web import auth, data, fmt

pytestmark = pytest.mark.slow

settings.register_profile(
    "ci",
    max_examples=6,
    derandomize=True,  # the same examples on every run: CI is reproducible
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
    # No shrink or explain in CI: each example renders every page for every role, and explain traces
    # every line (minutes per failure); a failure is reported with its blob to reproduce and shrink locally.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
settings.register_profile(
    "thorough", settings.get_profile("ci"), max_examples=150, derandomize=False, phases=tuple(Phase)
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROLE_PAGES = {
    "admin": ("analysis", "token_history", "recharge", "subscription", "admin"),
    "manager": ("analysis", "token_history", "recharge", "subscription"),
    "analyst": ("analysis", "token_history"),
}
SAAS_ONLY = {"recharge", "subscription"}
MISSING = re.compile(r"(?<![\w-])(nan|None|NaT|<NA>)(?![\w-])")


def expected_figures(env: dict[str, str], now: str, mode: str) -> dict[str, Any]:
    """What `report` would print for acct-001, computed on the app's own files before the app opens them."""
    store = Store.open(load_settings(env))
    try:
        return analysis_figures(store, ACCOUNT, pd.Timestamp(now).to_pydatetime(), mode).to_json()
    finally:
        store.close()


def shown_texts(at: AppTest) -> list[str]:
    """Every text a person reads on the page: headings, Markdown, captions, alerts, metrics, table cells."""
    texts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "success", "error"):
        texts += [str(element.value) for element in getattr(at.main, kind)]
    for metric in at.main.metric:
        texts += [str(metric.label), str(metric.value), str(metric.delta or "")]
    for frame in at.main.dataframe:
        value = frame.value
        for column in value.columns:
            if value[column].dtype == object or pd.api.types.is_string_dtype(value[column]):
                texts += [str(cell) for cell in value[column] if isinstance(cell, str)]
    return texts


def check_page(at: AppTest, where: str) -> None:
    assert not at.exception, f"{where}: {at.exception[0].value}"
    assert not at.error, f"{where}: error shown: {[e.value for e in at.error]}"
    for text in shown_texts(at):
        assert not MISSING.search(text), f"{where}: a missing value is shown as text in {text!r}"


def check_analysis(at: AppTest, expected: dict[str, Any], mode: str, where: str) -> None:
    """/analysis shows the engine's figures (compact on the card, exact in its caption)."""
    metrics = {m.label: m for m in at.main.metric}
    captions = [c.value for c in at.main.caption]
    usage = expected["token_usage"]
    if mode == "self-hosted":
        assert metrics["Used"].value == fmt.compact(usage["used"]), where
        assert t("card.exact_all_time", tokens=fmt.tokens(usage["used"])) in captions, where
        return
    cards = expected["cards"]
    assert metrics["Token Balance"].value == fmt.compact(cards["balance"]["tokens"]), where
    assert t("card.exact_all_time", tokens=fmt.tokens(cards["balance"]["tokens"])) in captions, where
    assert metrics["Today's Usage"].value == fmt.compact(cards["today"]["tokens"]), where
    assert metrics["Monthly Usage"].value == fmt.compact(cards["month"]["tokens"]), where
    assert metrics["Service Usage"].value == t("card.calls_value", calls=fmt.compact(cards["service_calls"])), where
    mtd = expected["month_to_date"]  # the Monthly card's arrow is month to date (SPEC §9)
    delta, _ = fmt.growth_label(mtd["growth_pct"], mtd["previous"], mtd["tokens"], "month")
    assert metrics["Monthly Usage"].delta == delta, where
    assert t("usage.used_of_total", used=fmt.tokens(usage["used"]), total=fmt.tokens(usage["total"])) in [
        m.value for m in at.main.markdown
    ], where
    overdrawn = [w.value for w in at.main.warning if "overdrawn" in w.value]
    assert bool(overdrawn) == (usage["remaining"] < 0), where

    frames = [f.value for f in at.main.dataframe]
    services = frames[0]
    assert services["tokens"].tolist() == [s["tokens"] for s in expected["services"]], where
    assert services["calls"].tolist() == [s["calls"] for s in expected["services"]], where
    recent_rows = expected["recent_transactions"]
    board_rows = expected["leaderboard"]
    tables = frames[1:]
    if recent_rows:
        recent = tables.pop(0)
        assert recent["amount"].tolist() == [r["amount"] for r in recent_rows], where
        assert recent["type"].tolist() == [t(f"txn.{r['type']}") for r in recent_rows], where
        labels = [
            t("method.none")
            if r["payment_method"] is None
            else t(f"method.{r['payment_method']}")
            if r["payment_method"] in ("WECHAT", "ALIPAY", "BANK_TRANSFER")
            else r["payment_method"]
            for r in recent_rows
        ]
        assert recent["payment_method"].tolist() == labels, where
    if board_rows:
        board = tables.pop(0)
        assert board["tokens"].tolist() == [r["tokens"] for r in board_rows], where
        names = [fmt.MISSING if r["display_name"] is None else r["display_name"] for r in board_rows]
        assert board["display_name"].tolist() == names, where
    assert not tables, where


def environment(root: Path, world: World, mode: str) -> dict[str, str]:
    """The settings of one mode; each mode has its own app database (one Store per file in a process)."""
    app_db = root / mode / "app.duckdb"
    app_db.parent.mkdir(parents=True, exist_ok=True)
    write_app_state(world, app_db)
    return {
        "ANALYTICS_DATA_DIR": str(root / "export"),
        "ANALYTICS_APP_DB": str(app_db),
        "ANALYTICS_NOW": world.now.isoformat(),
        "ANALYTICS_TIMEZONE": "Asia/Shanghai",
        "ANALYTICS_MODE": mode,
        "ANALYTICS_COOKIE_KEY": KEY,
    }


def session(role: str) -> AppTest:
    """A fresh signed-in session: sessions live in the app database, and each example and mode has its own."""
    return _signed_in(role)


@pytest.fixture
def no_browser_cookies(monkeypatch: pytest.MonkeyPatch, demo_auth_file: Path) -> pytest.MonkeyPatch:
    monkeypatch.setattr(auth, "_request_cookie", lambda name: None)  # AppTest has no browser cookies
    monkeypatch.setenv("ANALYTICS_AUTH_FILE", str(demo_auth_file))  # the demo users, cheap to sign in
    monkeypatch.delenv("ANALYTICS_CACHE_DB", raising=False)
    return monkeypatch


@PROFILE
@given(world=worlds())
def test_every_page_holds_for_every_role_in_both_modes(no_browser_cookies: pytest.MonkeyPatch, world: World) -> None:
    with tempfile.TemporaryDirectory(prefix="props-") as tmp:
        root = Path(tmp)
        write_export(world, root / "export")
        for mode in ("saas", "self-hosted"):
            env = environment(root, world, mode)
            expected = expected_figures(env, env["ANALYTICS_NOW"], mode)
            for name, value in env.items():
                no_browser_cookies.setenv(name, value)
            for role, pages in ROLE_PAGES.items():
                at = session(role)
                for page in pages:
                    if mode == "self-hosted" and (
                        page in SAAS_ONLY or (page == "token_history" and not world.has_ledger)
                    ):
                        continue
                    where = f"{mode} /{page} as {role}"
                    at.switch_page(f"app_pages/{page}.py").run()
                    check_page(at, where)
                    if page == "analysis":
                        check_analysis(at, expected, mode, where)
        data.close_stores()  # this example's stores and service threads, before its files go


def paypal_shown(world: World) -> bool:
    """The world has an entry paid by the unknown code PAYPAL, and its export keeps the method column."""
    kept = "payment_method" not in world.drop_txn_columns
    return kept and any(row["payment_method"] == "PAYPAL" for row in world.transactions)


@settings(PROFILE, max_examples=3, phases=[Phase.generate])
@given(world=worlds(unknown_method=True).filter(paypal_shown))
def test_unknown_payment_method_codes_on_every_page(no_browser_cookies: pytest.MonkeyPatch, world: World) -> None:
    test_every_page_holds_for_every_role_in_both_modes.hypothesis.inner_test(no_browser_cookies, world)

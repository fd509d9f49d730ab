"""English and 简体中文: every message in both, same placeholders, pages drawn in Chinese show no English.

The page check walks everything AppTest sees — titles, headers, markdown, captions, alerts,
metric labels and values, widget labels and options, tab and expander labels, table column
labels and chart titles — and flags a text that is an English catalogue text, or is made only
of English words that the catalogue uses. Data (people's and accounts' names, ids) is exempt.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from tests.apptest import DEMO_PASSWORDS, ROOT, _app, _sign_in
from token_analytics.appdb import PREFERENCE_LANGUAGES, AppDBError, open_app_db
from token_analytics.catalogue_zh import ZH
from token_analytics.engine import ledger_csv
from token_analytics.engine.ledger import LedgerFilter
from token_analytics.strings import DEFAULT_LANGUAGE, LANGUAGES, STRINGS, language, language_of_locale, t
from token_analytics.web import fmt


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# --- the catalogue ---------------------------------------------------------------------------


def test_every_message_is_translated_in_every_language() -> None:
    missing = [(key, lang) for key, entry in STRINGS.items() for lang in LANGUAGES if not entry.get(lang)]
    assert missing == []


def test_the_chinese_catalogue_names_only_existing_messages() -> None:
    assert sorted(set(ZH) - set(STRINGS)) == []


def test_placeholders_are_the_same_in_every_language() -> None:
    differing = [
        (key, lang)
        for key, entry in STRINGS.items()
        for lang, text in entry.items()
        if placeholders(text) != placeholders(entry[DEFAULT_LANGUAGE])
    ]
    assert differing == []


def test_the_placeholder_check_sees_a_difference() -> None:
    assert placeholders("{tokens} 个 Token · {price}") != placeholders("{tokens} tokens · {cost}")
    assert placeholders("用户 {user!r}") == placeholders("User {user!r}")


def test_chinese_texts_are_chinese() -> None:
    # A text copied from English (or left in it) is caught here, before any page is drawn.
    same = [
        key for key, entry in STRINGS.items() if entry.get("zh") == entry["en"] and re.search("[A-Za-z]", entry["en"])
    ]
    assert same == []
    assert t("method.WECHAT", "zh") == "微信支付"
    assert t("method.ALIPAY", "zh") == "支付宝"
    assert t("method.BANK_TRANSFER", "zh") == "银行转账"


def test_the_stored_languages_are_the_catalogues() -> None:
    assert tuple(LANGUAGES) == PREFERENCE_LANGUAGES


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh-CN", "zh"),
        ("zh", "zh"),
        ("zh-Hans-SG", "zh"),
        ("zh_TW", "zh"),
        ("ZH-cn", "zh"),
        ("en-US", "en"),
        ("en-GB", "en"),
        ("de-DE", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_the_browser_locale_picks_the_language(tag: str | None, expected: str) -> None:
    assert language_of_locale(tag) == expected


def test_language_block_sets_and_restores_the_current_language() -> None:
    with language("zh"):
        assert t("card.balance") == "Token 余额"
        assert fmt.compact(42_000) == "4.2万"
    assert t("card.balance") == "Token Balance"
    with pytest.raises(ValueError, match="Unknown language"):
        with language("fr"):
            pass


# --- numbers and dates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (999, "999"),
        (9_999, "9999"),
        (12_345, "1.2万"),
        (42_000, "4.2万"),
        (1_234_567, "123.5万"),
        (130_000_000, "1.3亿"),
        (2_500_000_000, "25亿"),
        (-45_000, "-4.5万"),
        (-0.3, "0"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_compact_in_chinese_counts_in_wan_and_yi(value: float | None, expected: str) -> None:
    assert fmt.compact(value, "zh") == expected


def test_chinese_numbers_and_dates() -> None:
    assert fmt.tokens(1_234_567, "zh") == "1,234,567"
    assert fmt.signed(1000, "zh") == "+1,000"
    assert fmt.signed(-4500, "zh") == "-4,500"
    assert fmt.day(date(2026, 3, 1), "zh") == "2026年3月1日"
    assert fmt.day(date(2026, 3, 1), "en") == "Mar 1, 2026"
    assert fmt.month(date(2026, 11, 1), "zh") == "2026年11月"
    assert fmt.month(date(2026, 11, 1), "en") == "Nov 2026"
    moment = datetime(2026, 2, 28, 16, 5, tzinfo=UTC)  # 1 March 00:05 in Shanghai
    assert fmt.when(moment, "Asia/Shanghai", lang="zh") == "2026年3月1日 00:05 (Asia/Shanghai)"
    assert fmt.when(moment, "Asia/Shanghai", lang="en") == "Mar 1, 2026 00:05 (Asia/Shanghai)"
    assert fmt.growth_label(None, 0, 0, "day", "zh") == ("与昨日持平", "same")
    assert fmt.growth_label(None, 0, 5, "month", "zh") == ("新增", "new")


# --- the stored choice ------------------------------------------------------------------------


def test_the_language_choice_is_stored_per_user_and_the_latest_counts(tmp_path: Path) -> None:
    db = open_app_db(tmp_path / "app.duckdb")
    try:
        assert db.language("manager") is None
        db.set_language("manager", "zh", now=datetime(2026, 11, 29, 1, tzinfo=UTC))
        db.set_language("analyst", "en", now=datetime(2026, 11, 29, 2, tzinfo=UTC))
        assert db.language("manager") == "zh"
        db.set_language("manager", "en", now=datetime(2026, 11, 29, 3, tzinfo=UTC))
        db.set_language("manager", "zh", now=datetime(2026, 11, 29, 3, tzinfo=UTC))  # same instant: later wins
        assert db.language("manager") == "zh"
        assert db.language("analyst") == "en"
        with pytest.raises(AppDBError, match="language"):
            db.set_language("manager", "fr")
        rows = db.connection.execute("select count(*) from app.user_preferences").fetchone()
        assert rows == (4,)  # append-only: every choice is kept
    finally:
        db.close()


# --- pages drawn in Chinese -------------------------------------------------------------------


def _price_list_english() -> set[str]:
    """The English plan names and features of config/prices.yaml (their Chinese is `name_zh`, `features_zh`)."""
    prices = yaml.safe_load((ROOT / "config" / "prices.yaml").read_text(encoding="utf-8"))
    return {str(plan["name"]) for plan in prices["plans"]} | {
        str(feature) for plan in prices["plans"] for feature in plan.get("features") or ()
    }


# Catalogue texts in English (and the price list's), the words they use, and the texts that read the same in Chinese.
ENGLISH = {entry["en"] for entry in STRINGS.values() if entry.get("zh") != entry["en"]} | _price_list_english()
MARKUP = re.compile(r"[*_`#>]")
WORD = re.compile(r"[A-Za-z]+")


def _english_words() -> set[str]:
    words: set[str] = set()
    for key, entry in STRINGS.items():
        text = re.sub(r"\{[^}]*\}", " ", entry["en"])
        if entry.get("zh") != entry["en"] and not key.startswith("error.auth."):
            words.update(word.lower() for word in WORD.findall(text) if len(word) > 1)
    return words


ENGLISH_WORDS = _english_words()


def data_values() -> set[str]:
    """Texts that are data, not UI: usernames and people's names.

    The price list's plan names and features are not exempt: config/prices.yaml carries their
    Chinese (`name_zh`, `features_zh`), so an English one on a Chinese page is a missing translation.
    """
    users = yaml.safe_load((ROOT / "auth" / "demo_users.yaml").read_text(encoding="utf-8"))
    accounts = users["credentials"]["usernames"]
    names = {str(user.get("name", "")) for user in accounts.values()} | set(accounts)
    # The switch's label names the language in both on purpose, so either reader finds it.
    return names | {t("sidebar.language", "zh")}


def english_ui(text: str, exempt: set[str]) -> bool:
    """Whether `text` (one visible string) is English UI text."""
    if text.strip() in exempt:
        return False
    # a Chinese label and its value ("当前套餐：Enterprise") are two parts; "✓ feature" is a list item
    for part in re.split(r"\s*[·\n|：]\s*", MARKUP.sub("", text)):
        part = part.strip(" .:：()（）✓")
        if not part or part in exempt or re.fullmatch(r"[0-9a-f]{8,}", part):
            continue  # a hex id (a session's) is data, whatever words its letters spell ("1c33e8be0335")
        if part in ENGLISH or MARKUP.sub("", part) in ENGLISH:
            return True
        if re.fullmatch(r"[\x00-\x7f]+", part):
            words = [word.lower() for word in WORD.findall(part) if len(word) > 1]
            if words and all(word in ENGLISH_WORDS for word in words):
                return True
    return False


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def visible_texts(at: AppTest) -> list[str]:
    """Every text a person sees on the page AppTest drew (main area and sidebar)."""
    texts: list[str] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", "")
        if proto is not None:
            for field in ("label", "body", "text", "placeholder", "help", "caption", "value", "delta"):
                value = getattr(proto, field, None)
                if isinstance(value, str) and value:
                    texts.append(value)
            for field in ("options", "display_values"):
                texts.extend(str(v) for v in getattr(proto, field, ()) if isinstance(v, str))
            if kind in ("arrow_data_frame", "dataframe"):
                config = json.loads(getattr(proto, "columns", "") or "{}")
                texts.extend(str(c.get("label", "")) for c in config.values() if isinstance(c, dict))
            if kind == "vega_lite_chart":
                spec = json.loads(proto.spec or "{}")
                texts.extend(_strings(spec.get("title", {}).get("text", "")))
                for param in spec.get("params", []):  # axis texts looked up by value
                    texts.extend(_strings(param.get("value", {})))
                for layer in spec.get("layer", []):
                    for row in layer.get("data", {}).get("values", []):
                        fields = ("label", "text", "hover", "group", "range")
                        texts.extend(str(row[k]) for k in fields if isinstance(row.get(k), str))
                    tooltip = layer.get("encoding", {}).get("tooltip", [])
                    texts.extend(str(f["title"]) for f in tooltip if isinstance(f, dict) and f.get("title"))
        children = getattr(node, "children", None)
        for child in children.values() if isinstance(children, dict) else ():
            walk(child)

    walk(at._tree)
    return [text for text in texts if text.strip()]


def _zh_app(username: str, locale: str = "zh-CN") -> AppTest:
    at = _app()
    at.context["locale"] = locale
    at = _sign_in(at, username, DEMO_PASSWORDS[username])
    at.run()
    assert not at.exception
    return at


PAGES_BY_ROLE = {
    ("saas", "admin"): ("analysis", "explore", "token_history", "recharge", "subscription", "admin"),
    ("saas", "manager"): ("analysis", "explore", "token_history", "recharge", "subscription"),
    ("saas", "analyst"): ("analysis", "explore", "token_history"),
    ("self-hosted", "admin"): ("analysis", "explore", "token_history", "admin"),
    ("self-hosted", "manager"): ("analysis", "explore", "token_history"),
    ("self-hosted", "analyst"): ("analysis", "explore", "token_history"),
}


def test_the_check_flags_english_and_lets_data_and_chinese_through() -> None:
    exempt = {"Li Wei"}
    assert english_ui("Token Balance", exempt)
    assert english_ui("**Sign out**", exempt)
    assert english_ui("数据截至 x · Files read", exempt)
    assert english_ui("Recent transactions", exempt)  # English words of the catalogue, not one of its texts
    assert not english_ui("Token 余额", exempt)
    assert not english_ui("Li Wei", exempt)
    assert not english_ui("acct-001", exempt)
    assert not english_ui("20261129-K7Q2M9XD", exempt)
    assert not english_ui("admin · — · 2026年12月6日 16:36 · 1c33e8be0335", exempt | {"admin"})
    assert english_ui("当前套餐：Enterprise", exempt)  # a plan name of config/prices.yaml left in English
    assert english_ui("✓ Dedicated support", exempt)
    assert not english_ui("当前套餐：企业版", exempt)


@pytest.mark.parametrize(("mode", "role"), list(PAGES_BY_ROLE))
def test_every_page_drawn_in_chinese_shows_no_english(app_env: pytest.MonkeyPatch, mode: str, role: str) -> None:
    app_env.setenv("ANALYTICS_MODE", mode)
    exempt = data_values()
    found: dict[str, list[str]] = {}
    # AppTest calls widgets' format_func in the test's thread, which has no session: say the language there too.
    with language("zh"):
        at = _zh_app(role)
        for page in PAGES_BY_ROLE[(mode, role)]:
            at.switch_page(f"app_pages/{page}.py").run()
            assert not at.exception, page
            texts = visible_texts(at)
            assert len(texts) > 5, page  # the walk sees the page
            english = sorted({text for text in texts if english_ui(text, exempt)})
            if english:
                found[page] = english
    assert found == {}


# --- the switch, the browser and the stored choice -----------------------------------------------


def test_the_first_visit_follows_the_browser(app_env: pytest.MonkeyPatch) -> None:
    at = _app()
    at.context["locale"] = "zh-CN"
    at.run()
    assert at.title[0].value == "Token 分析中心"
    assert [field.label for field in at.text_input] == ["用户名", "密码"]
    english = _app()
    english.context["locale"] = "en-US"
    english.run()
    assert english.title[0].value == "Token Analytics Center"


def test_the_sidebar_switch_changes_the_page_and_is_kept_for_the_next_sign_in(app_env: pytest.MonkeyPatch) -> None:
    with language("zh"):  # AppTest formats the widgets' options in this thread
        at = _zh_app("manager", locale="en-US")
        assert at.title[0].value == "Analytics Center"
        at.sidebar.selectbox(key="nav_language").select("zh").run()
        assert not at.exception
        assert at.title[0].value == "分析中心"
        assert "Token 余额" in {m.label for m in at.metric}
    # A new session of the same user, in an English browser: the stored choice wins.
    again = _zh_app("manager", locale="en-US")
    assert again.title[0].value == "分析中心"
    # Another user is not affected.
    other = _zh_app("analyst", locale="en-US")
    assert other.title[0].value == "Analytics Center"
    # (The app database is held open by the app's store here; test_the_language_choice_is_stored_...
    # reads the table itself.)


# --- the CSV stays machine-readable ------------------------------------------------------------


def test_the_csv_header_is_the_same_in_both_languages_and_labels_are_an_optional_second_row(edge_store) -> None:  # noqa: ANN001
    plain = ledger_csv.ledger_csv(edge_store, "acct-a", LedgerFilter())
    lines = plain.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(ledger_csv.HEADER)
    labels = {"created_at": "时间（Asia/Shanghai）", "amount": "数量", "description": "=说明"}
    labelled = ledger_csv.ledger_csv(edge_store, "acct-a", LedgerFilter(), labels=labels)
    labelled_lines = labelled.decode("utf-8-sig").splitlines()
    assert labelled_lines[0] == lines[0]
    assert labelled_lines[1] == (
        "时间（Asia/Shanghai）,txn_id,type,数量,running_balance,user_id,member_name,payment_method,'=说明"
    )
    assert labelled_lines[2:] == lines[1:]  # the rows are untouched


# --- errors made below the web layer ------------------------------------------------------------------

ORDER_FINAL_IDS = {
    "appdb.order_paid_not_cancelled",
    "appdb.order_cancelled_not_paid",
    "appdb.order_cancelled_not_cancelled",
}


def test_every_error_id_raised_below_the_web_layer_is_in_the_catalogue() -> None:
    """Billing's and the engine's message ids (literal ones, and the order-state ones built from the states)."""
    below_web = ("db", "accounts", "billing", "alerts", "engine")
    sources = [path for folder in below_web for path in (ROOT / "token_analytics" / folder).glob("*.py")]
    ids = {found for path in sources for found in re.findall(r'"((?:appdb|store)\.[a-z_]+)"', path.read_text())}
    assert {"appdb.refused", "appdb.adjustment_reason", "store.locked"} <= ids  # the scan sees them
    assert sorted(i for i in ids | ORDER_FINAL_IDS if f"error.{i}" not in STRINGS) == []


def test_a_catalogued_error_reads_like_the_raising_code_in_english_and_is_chinese_in_chinese(tmp_path: Path) -> None:
    from token_analytics.alerts.state import Thresholds
    from token_analytics.web import ui

    db = open_app_db(tmp_path / "app.duckdb")
    try:
        order = db.create_order("acct-001", "manager", "recharge", 1000, 100, "WECHAT")
        db.cancel(order.order_id, "manager")
        attempts = [
            lambda: db.post_adjustment("acct-001", 0, "x", "admin"),
            lambda: db.post_adjustment("acct-001", 5, " ", "admin"),
            lambda: db.mark_paid(order.order_id, "manager"),
            lambda: db.cancel(order.order_id, "manager"),
            lambda: db.cancel("no-such-order", "manager"),
            lambda: db.confirm_transfer(order.order_id, "admin"),
            lambda: db.alerts.set_thresholds("acct-001", Thresholds(0, None, None), "manager"),
            lambda: db.alerts.set_thresholds("acct-001", Thresholds(None, None, -1.5), "manager"),
            lambda: db.create_order("acct-001", "manager", "recharge", -5, 100, "WECHAT"),
        ]
        for attempt in attempts:
            with pytest.raises(AppDBError) as caught:
                attempt()
            exc = caught.value
            assert exc.message_id != "appdb.refused", str(exc)  # each refusal has its own sentence
            with language("en"):
                assert ui.error_message(exc) == str(exc)
            with language("zh"):
                shown = ui.error_message(exc)
            assert shown == t(f"error.{exc.message_id}", "zh", **exc.params) and shown != str(exc)
            assert not english_ui(shown, set()), shown
    finally:
        db.close()
    assert ui.error_message(AppDBError("Something new.")) == t("error.appdb.refused")  # an id-less refusal


def test_a_broken_price_list_is_reported_in_chinese(app_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Billing's PricesError reaches a Chinese page as a Chinese sentence (its file and field kept)."""
    bad = tmp_path / "prices.yaml"
    bad.write_text("currency: CNY\n", encoding="utf-8")
    app_env.setenv("ANALYTICS_PRICES_FILE", str(bad))
    with language("zh"):  # AppTest formats the widgets' options in this thread
        at = _zh_app("manager")
        at.switch_page("app_pages/recharge.py").run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [f"价格配置无法使用：{bad}: packages must be a non-empty list."]


def test_the_engines_error_is_shown_in_the_sessions_language(tmp_path: Path) -> None:
    """The engine's StoreError (no export folder) carries its message id; the page shows it translated."""
    from token_analytics.db import StoreError
    from token_analytics.engine.store import data_dir_ready
    from token_analytics.settings import load_settings
    from token_analytics.web import ui

    missing = tmp_path / "no-exports"
    with pytest.raises(StoreError) as caught:
        data_dir_ready(load_settings({"ANALYTICS_DATA_DIR": str(missing)}))
    with language("en"):
        assert ui.error_message(caught.value) == str(caught.value)
    with language("zh"):
        assert ui.error_message(caught.value) == f"ANALYTICS_DATA_DIR={missing} 不存在；请将其指向导出文件夹。"


def test_the_first_loads_progress_steps_are_in_the_sessions_language(tmp_path: Path, edge_dir: Path) -> None:
    """The engine's load steps (engine.ingest.Step): English on the command line, the session's language in the bar."""
    from tests.conftest import settings_for
    from token_analytics.engine.store import Store
    from token_analytics.web import data

    steps: list[object] = []
    Store.open(settings_for(tmp_path, edge_dir), progress=lambda fraction, step: steps.append(step)).close()
    every = [data.FIRST_LOAD, *steps]
    # the edge export's accounts and members are one file each, its event files a batch
    assert {step.message_id for step in every} == {"first_read", "reading", "reading_batch", "building"}
    for step in every:
        with language("en"):
            assert data.step_text(step) == str(step)  # the catalogue's English is the engine's own sentence
        with language("zh"):
            shown = data.step_text(step)
            assert shown.startswith("正在") and not re.search(r"Reading|Building", shown), shown
    reading = next(step for step in steps if step.message_id == "reading")
    batch = next(step for step in steps if step.message_id == "reading_batch")
    with language("zh"):
        assert data.step_text(reading) == f"正在读取 {reading.params['path']}"
        assert data.step_text(batch) == f"正在读取 {batch.params['count']} 个文件：{batch.params['path']} 等"

"""Formatting for people (token_analytics.web.fmt) and the translation table."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from token_analytics.strings import DEFAULT_LANGUAGE, STRINGS, t
from token_analytics.web import fmt


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0"), (7, "7"), (1_234_567, "1,234,567"), (-4_500, "-4,500"), (1234.6, "1,235"), (None, "—")],
)
def test_tokens(value: float | None, expected: str) -> None:
    assert fmt.tokens(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (999, "999"),
        (999.6, "1.0K"),
        (1_000, "1.0K"),
        (12_345, "12.3K"),
        (-4_500, "-4.5K"),
        (999_949, "999.9K"),
        (999_950, "1.0M"),
        (1_234_567, "1.2M"),
        (2_500_000_000, "2.5B"),
        (-0.3, "0"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_compact(value: float | None, expected: str) -> None:
    assert fmt.compact(value) == expected


def test_pct() -> None:
    assert fmt.pct(12.345) == "12.3%"
    assert fmt.pct(12.345, decimals=2) == "12.35%"
    assert fmt.pct(0) == "0.0%"
    assert fmt.pct(150) == "150.0%"
    assert fmt.pct(None) == "—"


def test_signed() -> None:
    assert fmt.signed(1000) == "+1,000"
    assert fmt.signed(-500) == "-500"
    assert fmt.signed(0) == "0"
    assert fmt.signed(None) == "—"


def test_when_names_the_zone_and_treats_naive_as_utc() -> None:
    aware = datetime(2026, 11, 29, 6, 5, tzinfo=UTC)
    assert fmt.when(aware, "Asia/Shanghai") == "Nov 29, 2026 14:05 (Asia/Shanghai)"
    assert fmt.when(datetime(2026, 11, 29, 6, 5), ZoneInfo("Asia/Shanghai")) == "Nov 29, 2026 14:05 (Asia/Shanghai)"
    other = datetime(2026, 11, 29, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert fmt.when(other, "UTC", with_zone=False) == "Nov 30, 2026 04:30"
    assert fmt.when(None, "UTC") == "—"


@pytest.mark.parametrize(
    ("growth_pct", "previous", "current", "period", "expected"),
    [
        (12.345, 100, 112.345, "day", ("+12.3%", "up")),
        (None, 100, 150, "month", ("+50.0%", "up")),
        (-4.5, 200, 191, "month", ("-4.5%", "down")),
        (None, 300, 100, "day", ("-66.7%", "down")),
        (0, 80, 80, "day", ("Same as yesterday", "same")),
        (0, 80, 80, "month", ("Same as last month", "same")),
        (None, 0, 5, "day", ("new", "new")),
        (None, 0, 0, "day", ("Same as yesterday", "same")),
        (None, 0, 0, "month", ("Same as last month", "same")),
    ],
)
def test_growth_label(
    growth_pct: float | None, previous: float, current: float, period: str, expected: tuple[str, str]
) -> None:
    assert fmt.growth_label(growth_pct, previous, current, period) == expected


def test_growth_label_rejects_unknown_period() -> None:
    with pytest.raises(ValueError, match="period"):
        fmt.growth_label(None, 1, 2, "week")


def test_every_message_has_english_and_consistent_placeholders() -> None:
    for key, entry in STRINGS.items():
        assert entry.get(DEFAULT_LANGUAGE), key
        names = {name for _, name, _, _ in string.Formatter().parse(entry[DEFAULT_LANGUAGE]) if name}
        for lang, text in entry.items():
            assert {name for _, name, _, _ in string.Formatter().parse(text) if name} == names, (key, lang)


def test_an_untranslated_message_falls_back_to_english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(STRINGS, "test.only_english", {"en": "Only English"})
    assert t("test.only_english", "zh") == "Only English"


def test_t_fills_placeholders_and_fails_loudly() -> None:
    assert t("data.freshness", time="2026-11-29 14:05", zone="Asia/Shanghai", files=3) == (
        "Data as of 2026-11-29 14:05 (Asia/Shanghai) · 3 files read"
    )
    assert t("page.analysis", "zh") == "分析中心"
    with pytest.raises(KeyError):
        t("no.such.message")
    with pytest.raises(KeyError):
        t("data.freshness")  # placeholders without values


def test_plain_escapes_markdown_from_the_data() -> None:
    """Account names go into titles and labels; Markdown in them stays text."""
    assert fmt.plain("Acme Corp (acct-001)") == "Acme Corp \\(acct\\-001\\)"
    # a word joiner before `:` and `.`: Streamlit links bare addresses even when they are escaped
    assert fmt.plain("![x](http://h/x.png)") == "\\!\\[x\\]\\(http\u2060\\:\\/\\/h\\/x\u2060\\.png\\)"
    assert fmt.plain("**bold** :red[x] $y$") == "\\*\\*bold\\*\\* \u2060\\:red\\[x\\] \\$y\\$"
    assert fmt.plain("a\\b") == "a\\\\b"
    assert fmt.plain("# Title\n- item") == "\\# Title \\- item"  # no heading or list of its own
    assert fmt.plain("灵犀科技 🚀 שלום") == "灵犀科技 🚀 שלום"


@pytest.mark.parametrize(
    ("lang", "day_text", "month_text", "moment_text", "span_text"),
    [
        (
            "en",
            "Dec 6, 2026",
            "Dec 2026",
            "Dec 6, 2026 14:05",
            "Nov 1\u2009–\u20096",
        ),  # Babel puts thin spaces around the dash
        ("zh", "2026年12月6日", "2026年12月", "2026年12月6日 14:05", "11月1日至6日"),
    ],
)
def test_one_date_format_per_language(
    lang: str, day_text: str, month_text: str, moment_text: str, span_text: str
) -> None:
    """Before: English mixed "20 Dec 2026" (day_words), "2026-12-06" (day) and "December 2026" (month) on one page."""
    d = date(2026, 12, 6)
    assert fmt.day(d, lang) == fmt.day_words(d, lang) == day_text
    assert fmt.month(d, lang) == month_text
    assert fmt.when(datetime(2026, 12, 6, 6, 5, tzinfo=UTC), "Asia/Shanghai", False, lang) == moment_text
    assert fmt.day_span(date(2026, 11, 1), date(2026, 11, 6), lang) == span_text
    assert fmt.clock(datetime(2026, 12, 6, 2, 42, tzinfo=UTC), "Asia/Shanghai", lang) == "10:42"

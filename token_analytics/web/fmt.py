"""Numbers and times formatted for people, in the current language (pages format; they never compute).

Chinese follows the zh_CN locale through Babel: compact values in 万 and 亿 (4.2万, 1.3亿),
dates as 2026年3月1日. English keeps its compact form (1.2M) and writes dates as en_US does
(Mar 1, 2026 14:05); thousands separators and every date come from Babel. Every function takes
`lang` (default: the current language, web/i18n.py).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_interval, format_skeleton, format_time
from babel.numbers import format_compact_decimal, format_decimal

from token_analytics.web.i18n import LOCALES, STRINGS, current_language, t

MISSING = "—"

Direction = Literal["up", "down", "same", "new"]

_COMPACT_UNITS = ((1, ""), (1_000, "K"), (1_000_000, "M"), (1_000_000_000, "B"), (1_000_000_000_000, "T"))


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# CommonMark lets a backslash escape any ASCII punctuation; Streamlit's directives (`:red[...]`,
# `:material/x:`) and LaTeX (`$`) are punctuation too, so escaping all of it leaves plain text.
_MARKDOWN_SPECIAL = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


# Streamlit's Markdown turns bare addresses (`http://…`, `www.…`, `a@b.c`) into links even when every
# character is escaped (checked in chromium, 1.67); an invisible WORD JOINER before `:`, `.` and `@`
# breaks those patterns without changing what a person reads.
_NO_AUTOLINK = frozenset(":.@")
WORD_JOINER = "\u2060"


def plain(text: str) -> str:
    """`text` from the data, safe inside Markdown (titles, captions, labels): every special character escaped.

    Line breaks become spaces, so a name cannot start a heading or a list of its own; addresses in it
    are not turned into links.
    """
    flat = " ".join(str(text).split())
    return "".join(
        (WORD_JOINER if char in _NO_AUTOLINK else "") + (f"\\{char}" if char in _MARKDOWN_SPECIAL else char)
        for char in flat
    )


def _locale(lang: str | None) -> str:
    return LOCALES[lang or current_language()]


def tokens(n: float | None, lang: str | None = None) -> str:
    """Exact count with the locale's thousands separators: 1234567 -> "1,234,567" (both languages)."""
    if _missing(n):
        return MISSING
    return format_decimal(round(n), locale=_locale(lang))


def compact(n: float | None, lang: str | None = None) -> str:
    """Short form with one decimal: 1_234_567 -> "1.2M" ("123.5万"), 12_345 -> "12.3K" ("1.2万"), 999 -> "999"."""
    if _missing(n):
        return MISSING
    locale = _locale(lang)
    if locale != LOCALES["en"]:
        # CLDR's short forms (zh_CN: 万 from 10,000, 亿 from 100,000,000); below that the plain number.
        return format_compact_decimal(round(n), locale=locale, fraction_digits=1)
    sign = "-" if n < 0 else ""
    size = abs(n)
    index = max(i for i, (unit_size, _) in enumerate(_COMPACT_UNITS) if i == 0 or size >= unit_size)
    if index == 0:
        if round(size) < 1000:
            return f"{sign}{round(size)}" if round(size) else "0"
        index = 1  # 999.6 rounds up to a thousand
    shown = round(size / _COMPACT_UNITS[index][0], 1)
    if shown >= 1000 and index + 1 < len(_COMPACT_UNITS):
        index += 1  # 999_950 reads "1.0M", not "1000.0K"
        shown = round(size / _COMPACT_UNITS[index][0], 1)
    return f"{sign}{shown:.1f}{_COMPACT_UNITS[index][1]}"


def pct(x: float | None, decimals: int = 1) -> str:
    """A percentage that is already ×100: 12.345 -> "12.3%"."""
    if _missing(x):
        return MISSING
    return f"{x:.{decimals}f}%"


def signed(n: float | None, lang: str | None = None) -> str:
    """Signed exact count: 1000 -> "+1,000", -500 -> "-500", 0 -> "0"."""
    if _missing(n):
        return MISSING
    value = round(n)
    if not value:
        return "0"
    return ("+" if value > 0 else "") + format_decimal(value, locale=_locale(lang))


# One way to write a date per language, from Babel's CLDR data for the session's locale: a day is the locale's
# medium date ("Dec 6, 2026", "2026年12月6日"), a month the same without the day ("Dec 2026", "2026年12月"), a moment
# the day and the 24-hour time ("Dec 6, 2026 14:05"). Every page writes dates through these functions only.
DAY_FORMAT = "medium"
MONTH_SKELETON = "yMMM"


def day_words(d: date, lang: str | None = None) -> str:
    """A date in a sentence: the same as `day` (one format per language)."""
    return day(d, lang)


def day(d: date | None, lang: str | None = None) -> str:
    """A calendar date: "Mar 1, 2026" in English, "2026年3月1日" in Chinese."""
    if d is None:
        return MISSING
    if isinstance(d, datetime):
        d = d.date()
    return format_date(d, format=DAY_FORMAT, locale=_locale(lang))


def month(d: date | None, lang: str | None = None) -> str:
    """A calendar month: "Nov 2026" in English, "2026年11月" in Chinese."""
    if d is None:
        return MISSING
    return format_skeleton(MONTH_SKELETON, d, locale=_locale(lang))


def when(dt: datetime | None, zone: str | ZoneInfo, with_zone: bool = True, lang: str | None = None) -> str:
    """A moment in `zone` to the minute: "Nov 29, 2026 14:05 (Asia/Shanghai)", "2026年11月29日 14:05"; naive is UTC."""
    if dt is None:
        return MISSING
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    local = dt.astimezone(tz)
    text = f"{day(local.date(), lang)} {format_time(local.time(), 'HH:mm', locale=_locale(lang))}"
    return f"{text} ({tz.key})" if with_zone else text


def clock(dt: datetime, zone: str | ZoneInfo, lang: str | None = None) -> str:
    """The local wall-clock time of a moment, to the minute: "10:42" (both languages)."""
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    local = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(tz)
    return format_time(local.time(), "HH:mm", locale=_locale(lang))


def day_span(first: date, last: date, lang: str | None = None) -> str:
    """Days from `first` to `last` inclusive, as the locale writes a range: "Nov 1 – 6" ("11月1日至6日")."""
    return format_interval(first, last, skeleton="MMMd", locale=_locale(lang))


def growth_label(
    growth_pct: float | None,
    previous: float,
    current: float,
    period: Literal["day", "month"],
    lang: str | None = None,
) -> tuple[str, Direction]:
    """The delta text and arrow of a growth card (SPEC §4).

    "+12.3%"/"up" and "-4.5%"/"down" when there was a previous value; "Same as yesterday" /
    "Same as last month" when nothing changed (also 0 -> 0); "new"/"new" when the previous value
    was 0. `growth_pct` (as the figures give it) is used for the number when present.
    """
    if period not in ("day", "month"):
        raise ValueError(f"period must be 'day' or 'month', not {period!r}")
    if current == previous:
        return t("growth.same_day" if period == "day" else "growth.same_month", lang), "same"
    if previous <= 0:
        # No base to divide by: an up arrow without a percentage (a fall below 0 does not occur for tokens).
        return (t("growth.new", lang), "new") if current > previous else (MISSING, "down")
    value = growth_pct if not _missing(growth_pct) else (current - previous) / previous * 100
    return f"{value:+.1f}%", "up" if current > previous else "down"


def method_label(code: object) -> str:
    """A payment method's label: "—" for none (None or a pandas NaN), the code itself when we do not know it."""
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return t("method.none")
    key = f"method.{code}"
    return t(key) if key in STRINGS else str(code)

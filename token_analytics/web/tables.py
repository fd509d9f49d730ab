"""How ledger rows look in a table (/token-history and /analysis's recent transactions).

Each type in its own colour, signed amounts green or red, and every column as wide as its widest
cell or label: the grid's own sizing measures the raw number (100000000) rather than the styled
text (+100,000,000), and cut the sign and digits so that a recharge read like a deduction.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from token_analytics.web import fmt
from token_analytics.web.i18n import t

TYPE_COLOURS = {
    "CONSUME": "#dc2626",
    "RECHARGE": "#16a34a",
    "BONUS": "#7c3aed",
    "REFUND": "#0891b2",
    "ADJUSTMENT": "#d97706",
}
GAIN, LOSS = "#16a34a", "#dc2626"

# The grid draws 14px Source Sans. Measured in Chromium 156 (docs/DECISIONS.md): "+100,000,000"
# is 76 px, digits and lower case stay within 7 px a character, capitals within 9, a CJK
# character is 14.
NARROW_PX, CAPITAL_PX, WIDE_PX = 7, 9, 14
# Left and right cell padding (8 px each) plus room for the header's sort arrow.
CELL_PADDING_PX = 24
# Free text may be cut (the full text shows on hover); codes, ids and numbers never are.
MAX_TEXT_PX = {"description": 280, "member": 220}

FORMATS: dict[str, Callable[[object], str]] = {"amount": fmt.signed, "running_balance": fmt.tokens}


def _cell_text(column: str, value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return FORMATS[column](value) if column in FORMATS else str(value)


def char_px(char: str) -> int:
    if unicodedata.east_asian_width(char) in "WF":
        return WIDE_PX
    return CAPITAL_PX if "A" <= char <= "Z" else NARROW_PX


def text_px(text: str) -> int:
    """The width `text` takes in the grid, by the character classes measured above."""
    return sum(char_px(char) for char in text)


def column_widths(shown: pd.DataFrame, labels: Mapping[str, str]) -> dict[str, int]:
    """Pixel width per column of `shown`: its widest shown cell (as formatted) or its label."""
    widths = {}
    for column in shown.columns:
        cells = [text_px(_cell_text(column, value)) for value in shown[column].tolist()]
        width = max([text_px(labels.get(column, column)), *cells]) + CELL_PADDING_PX
        widths[column] = min(width, MAX_TEXT_PX.get(column, width))
    return widths


def ledger_columns(shown: pd.DataFrame, labels: Mapping[str, str]) -> dict[str, st.column_config.Column]:
    """The `column_config` of a ledger table: each column's label and a width that fits its content."""
    widths = column_widths(shown, labels)
    return {column: st.column_config.Column(labels.get(column, column), width=widths[column]) for column in shown}


def style_ledger(shown: pd.DataFrame, types: pd.Series) -> Styler:
    """`shown` has the columns `type` (a label) and `amount`; `types` holds the raw type of each row."""
    type_styles = [f"color: {TYPE_COLOURS[kind]}; font-weight: 600" for kind in types]
    formats = {column: FORMATS[column] for column in FORMATS if column in shown}
    return (
        shown.style.apply(lambda _: type_styles, subset=["type"])
        .map(lambda v: f"color: {GAIN if v > 0 else LOSS}", subset=["amount"])
        .format(formats)
    )


def ranking_columns() -> dict[str, object]:
    """The columns a ranking of members shares, on /analysis's leaderboard and Explore's rankings: rank, member,
    tokens and calls as localized numbers, the share as a bar."""
    return {
        "rank": t("column.rank"),
        "display_name": t("column.member"),
        "tokens": st.column_config.NumberColumn(t("column.tokens"), format="localized"),
        "calls": st.column_config.NumberColumn(t("column.calls"), format="localized"),
        "share_pct": st.column_config.ProgressColumn(t("column.share"), format="%.1f%%", min_value=0, max_value=100),
    }

"""How ledger rows look in a table: each type in its own colour, signed amounts green or red."""

from __future__ import annotations

import pandas as pd
from pandas.io.formats.style import Styler

from token_analytics.web import fmt

TYPE_COLOURS = {
    "CONSUME": "#dc2626",
    "RECHARGE": "#16a34a",
    "BONUS": "#7c3aed",
    "REFUND": "#0891b2",
    "ADJUSTMENT": "#d97706",
}
GAIN, LOSS = "#16a34a", "#dc2626"


def style_ledger(shown: pd.DataFrame, types: pd.Series) -> Styler:
    """`shown` has the columns `type` (a label) and `amount`; `types` holds the raw type of each row."""
    type_styles = [f"color: {TYPE_COLOURS[kind]}; font-weight: 600" for kind in types]
    formats = {"amount": fmt.signed}
    if "running_balance" in shown:
        formats["running_balance"] = fmt.tokens
    return (
        shown.style.apply(lambda _: type_styles, subset=["type"])
        .map(lambda v: f"color: {GAIN if v > 0 else LOSS}", subset=["amount"])
        .format(formats)
    )

"""CSV of a filtered ledger that a spreadsheet opens safely.

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return would run as a
formula in Excel, LibreOffice or Google Sheets; it is written with a leading `'` so it stays
text. Numeric columns (amount, running balance) are written as plain numbers, so a negative
amount stays `-500`, a number; text cells are quoted. Times are ISO-8601 with the offset of
the configured zone (`2026-11-01T09:30:00+08:00`, microseconds only when there are some).
Codes stay codes (`type`, `payment_method`, `user_id`), so the file is machine-readable;
`member_name` is the name the page shows for `user_id`. Self-hosted deployments are not billed:
their CSV has no `running_balance` or `payment_method` column and no recharges. The columns are
documented in docs/EXPORT_FORMAT.md.

Formatting is vectorised with Arrow compute and written by Arrow's CSV writer batch by batch:
a million rows take seconds, not a minute of Python loops.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from token_analytics.engine import ledger
from token_analytics.engine.store import Store

HEADER = (
    "created_at",
    "txn_id",
    "type",
    "amount",
    "running_balance",
    "user_id",
    "member_name",
    "payment_method",
    "description",
)
BILLING_COLUMNS = frozenset({"running_balance", "payment_method"})  # SaaS only
NUMERIC = frozenset({"amount", "running_balance"})
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START = r"^[=+\-@\t\r]"


def header(saas: bool = True) -> tuple[str, ...]:
    """The CSV's columns in a mode: self-hosted drops the billing columns."""
    return HEADER if saas else tuple(name for name in HEADER if name not in BILLING_COLUMNS)


def schema(saas: bool = True) -> pa.Schema:
    return pa.schema([pa.field(name, pa.int64() if name in NUMERIC else pa.string()) for name in header(saas)])


def neutralise(value: object) -> str:
    """A text cell that cannot run as a formula; None becomes an empty cell."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _neutralised(column: pa.Array) -> pa.Array:
    text = pc.cast(column, pa.string())
    risky = pc.fill_null(pc.match_substring_regex(text, _FORMULA_START), False)
    return pc.if_else(risky, pc.binary_join_element_wise("'", text, ""), text)


def _iso(column: pa.Array, zone: ZoneInfo) -> pa.Array:
    local = pc.cast(column, pa.timestamp("us", tz=zone.key))
    text = pc.strftime(local, format="%Y-%m-%dT%H:%M:%S%z")  # %S carries the microseconds: 09:30:00.000000
    text = pc.replace_substring_regex(text, r"\.000000([+-])", r"\1")
    return pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2")


def _names(user_ids: pa.Array, names: Mapping[str, str]) -> pa.Array:
    """The name for each user id (the id itself when it has none); null ids stay null."""
    if not names:
        return pc.cast(user_ids, pa.string())
    found = pc.index_in(user_ids, value_set=pa.array(list(names), pa.string()))
    return pc.coalesce(pc.take(pa.array(list(names.values()), pa.string()), found), pc.cast(user_ids, pa.string()))


def format_batch(
    batch: pa.RecordBatch, zone: ZoneInfo, names: Mapping[str, str] | None = None, saas: bool = True
) -> pa.RecordBatch:
    """The export columns of a ledger batch: ISO times, plain numbers, names, neutralised text."""
    columns = []
    for name in header(saas):
        if name == "member_name":
            columns.append(_neutralised(_names(batch.column("user_id"), names or {})))
            continue
        column = batch.column(name)
        if name == "created_at":
            columns.append(_iso(column, zone))
        elif name in NUMERIC:
            columns.append(pc.cast(column, pa.int64()))
        else:
            columns.append(_neutralised(column))
    return pa.RecordBatch.from_arrays(columns, schema=schema(saas))


def write_csv(
    batches: Iterable[pa.RecordBatch],
    zone: ZoneInfo,
    out: io.RawIOBase | io.BufferedIOBase,
    names: Mapping[str, str] | None = None,
    saas: bool = True,
    labels: Mapping[str, str] | None = None,
) -> int:
    """Write the header and every batch's rows to the binary stream `out`; returns the number of rows.

    `labels` (column -> a person's label, in their language) adds a second row of labels under the
    fixed header; a column without a label repeats its identifier.
    """
    count = 0
    columns = header(saas)
    lines = io.StringIO()
    rows = csv.writer(lines, lineterminator="\n")
    rows.writerow(columns)
    if labels is not None:
        rows.writerow([neutralise(labels.get(name, name)) for name in columns])
    out.write(lines.getvalue().encode())
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    with pa_csv.CSVWriter(out, schema(saas), write_options=options) as writer:
        for batch in batches:
            if batch.num_rows:
                writer.write_batch(format_batch(batch, zone, names, saas))
                count += batch.num_rows
    return count


def ledger_csv(
    store: Store,
    account_id: str,
    flt: ledger.LedgerFilter,
    user_names: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """The filtered ledger of one account as UTF-8 CSV (with a BOM, so Excel reads the encoding).

    `user_names` maps sign-in usernames to people's names (see `ledger.members`); `labels`, when
    given, adds a row of column labels under the header (see write_csv); the mode comes from the
    store's settings.
    """
    saas = store.settings.saas
    flt = ledger.for_mode(flt, saas)  # no recharges in a self-hosted ledger, whatever the filter says
    names = ledger.member_names(store, account_id, user_names)
    out = io.BytesIO()
    out.write("\ufeff".encode())
    write_csv(ledger.batches(store, account_id, flt), store.settings.zone, out, names, saas, labels)
    return out.getvalue()

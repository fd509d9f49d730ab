"""The export format, version 1 (SPEC §3): tables, columns, accepted values."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

SERVICES = ("agent", "operator", "assistant")
TXN_TYPES = ("CONSUME", "RECHARGE", "BONUS", "REFUND", "ADJUSTMENT")
PAYMENT_METHODS = ("WECHAT", "ALIPAY", "BANK_TRANSFER")
PLANS = ("free", "pro", "enterprise")

STRING = pa.string()
INT = pa.int64()
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    required: bool = True


@dataclass(frozen=True)
class Kind:
    """One exported table: its folder, columns and where its rows go."""

    name: str
    columns: tuple[Column, ...]
    optional_folder: bool = False

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(c.name, c.type) for c in self.columns])


ACCOUNTS = Kind(
    "accounts",
    (
        Column("account_id", STRING),
        Column("account_name", STRING),
        Column("owner_name", STRING),
        Column("plan", STRING),
        Column("created_at", TIMESTAMP),
    ),
)
MEMBERS = Kind(
    "members",
    (
        Column("user_id", STRING),
        Column("account_id", STRING),
        Column("display_name", STRING),
        Column("email", STRING),
    ),
)
USAGE_EVENTS = Kind(
    "usage_events",
    (
        Column("event_id", STRING),
        Column("account_id", STRING),
        Column("user_id", STRING),
        Column("service", STRING),
        Column("occurred_at", TIMESTAMP),
        Column("tokens", INT),
        Column("input_tokens", INT, required=False),
        Column("output_tokens", INT, required=False),
        Column("model", STRING, required=False),
    ),
)
TRANSACTIONS = Kind(
    "transactions",
    (
        Column("txn_id", STRING),
        Column("account_id", STRING),
        Column("user_id", STRING),
        Column("type", STRING),
        Column("amount", INT),
        Column("created_at", TIMESTAMP),
        Column("payment_method", STRING, required=False),
        Column("description", STRING, required=False),
    ),
    optional_folder=True,
)

KINDS: tuple[Kind, ...] = (ACCOUNTS, MEMBERS, USAGE_EVENTS, TRANSACTIONS)


def compatible(actual: pa.DataType, wanted: pa.DataType) -> bool:
    """Whether a parquet column's type can be read as the wanted type without guessing."""
    if wanted == STRING:
        return pa.types.is_string(actual) or pa.types.is_large_string(actual) or pa.types.is_string_view(actual)
    if wanted == INT:
        return pa.types.is_integer(actual) and not (pa.types.is_uint64(actual))
    if wanted == TIMESTAMP:
        return pa.types.is_timestamp(actual)
    return actual == wanted


def type_name(wanted: pa.DataType) -> str:
    return {STRING: "VARCHAR", INT: "BIGINT", TIMESTAMP: "TIMESTAMP"}[wanted]


# --- Quarantine rules, once, as data ---------------------------------------------------------------
# A row is quarantined with the reason of the first rule it breaks; both engines generate their
# `case ... end` from these (DuckDB's staging view in engine/ingest.py, Spark's expression in
# engine/spark_rollup.py), so the two cannot drift apart. Every name and value below is a constant
# of this module: the generated text never holds anything read from a file.


@dataclass(frozen=True)
class Missing:
    """Null, or for text the empty string too."""

    column: str
    text: bool = True


@dataclass(frozen=True)
class Within:
    """An instant from `low` (inclusive) to `high` (exclusive), given as 'YYYY-MM-DD hh:mm:ss' UTC."""

    column: str
    low: str
    high: str


@dataclass(frozen=True)
class OneOf:
    """Null or a value outside the vocabulary."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class AtLeast:
    """A number below `low` (null passes: an earlier rule catches it)."""

    column: str
    low: int


@dataclass(frozen=True)
class SignByType:
    """The amount's sign that each transaction type requires: negative, positive or nonzero."""

    type_column: str
    amount_column: str
    signs: tuple[tuple[str, str], ...]


Check = Missing | Within | OneOf | AtLeast | SignByType


@dataclass(frozen=True)
class Rule:
    reason: str
    check: Check


# The sign an amount must have, per transaction type (SPEC §3).
AMOUNT_SIGNS = (
    ("CONSUME", "negative"),
    ("RECHARGE", "positive"),
    ("BONUS", "positive"),
    ("REFUND", "positive"),
    ("ADJUSTMENT", "nonzero"),
)
# Instants a timestamp column may hold in both engines (DuckDB's TIMESTAMPTZ range, less a day either side
# so a local day never leaves it).
EARLIEST = "0001-01-02 00:00:00"
LATEST = "9999-12-31 00:00:00"

RULES: dict[str, tuple[Rule, ...]] = {
    "accounts": (Rule("missing account_id", Missing("account_id")),),
    "members": (
        Rule("missing user_id", Missing("user_id")),
        Rule("missing account_id", Missing("account_id")),
    ),
    "usage_events": (
        Rule("missing event_id", Missing("event_id")),
        Rule("missing account_id", Missing("account_id")),
        Rule("missing occurred_at", Missing("occurred_at", text=False)),
        Rule("occurred_at out of range", Within("occurred_at", EARLIEST, LATEST)),
        Rule("missing tokens", Missing("tokens", text=False)),
        Rule("unknown service", OneOf("service", SERVICES)),
        Rule("negative tokens", AtLeast("tokens", 0)),
    ),
    "transactions": (
        Rule("missing txn_id", Missing("txn_id")),
        Rule("missing account_id", Missing("account_id")),
        Rule("missing created_at", Missing("created_at", text=False)),
        Rule("missing amount", Missing("amount", text=False)),
        Rule("unknown type", OneOf("type", TXN_TYPES)),
        Rule("amount of the wrong sign", SignByType("type", "amount", AMOUNT_SIGNS)),
    ),
}
DIALECTS = ("duckdb", "spark")
_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_ :.-]*$")


def _name(column: str) -> str:
    if not _SAFE_NAME.match(column):
        raise ValueError(f"not a column name: {column!r}")
    return column


def _literal(value: str) -> str:
    # constants of this module only; the check makes a quote or a backslash impossible all the same
    if not _SAFE_VALUE.match(value):
        raise ValueError(f"not a vocabulary value: {value!r}")
    return f"'{value}'"


def _in_list(column: str, values: tuple[str, ...]) -> str:
    if len(values) == 1:
        return f"{column} = {_literal(values[0])}"
    return f"{column} in ({', '.join(_literal(v) for v in values)})"


SIGN_BREACH = {"negative": ">= 0", "positive": "<= 0", "nonzero": "= 0"}


def check_sql(check: Check, dialect: str) -> str:
    """The condition under which a row breaks the check, in the dialect (both read it the same way today)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}")
    match check:
        case Missing(column, text):
            name = _name(column)
            return f"{name} is null or {name} = ''" if text else f"{name} is null"
        case Within(column, low, high):
            name = _name(column)
            return f"{name} < timestamp {_literal(low)} or {name} >= timestamp {_literal(high)}"
        case OneOf(column, values):
            name = _name(column)
            return f"{name} is null or {name} not in ({', '.join(_literal(v) for v in values)})"
        case AtLeast(column, low):
            return f"{_name(column)} < {int(low)}"
        case SignByType(type_column, amount_column, signs):
            kind, amount = _name(type_column), _name(amount_column)
            by_sign: dict[str, list[str]] = {}
            for value, sign in signs:
                by_sign.setdefault(sign, []).append(value)
            return "\n    or ".join(
                f"({_in_list(kind, tuple(values))} and {amount} {SIGN_BREACH[sign]})"
                for sign, values in by_sign.items()
            )
    raise TypeError(f"unknown check {check!r}")


def reason_sql(kind: str, dialect: str) -> str:
    """`case when <breach> then '<reason>' ... end`: null for a valid row, else its first broken rule's reason."""
    whens = "\n".join(f"    when {check_sql(rule.check, dialect)} then {_literal(rule.reason)}" for rule in RULES[kind])
    return f"case\n{whens}\nend"


def reasons(kind: str) -> tuple[str, ...]:
    """Every reason a row of the kind can be quarantined for, in the order the rules are tried."""
    return tuple(rule.reason for rule in RULES[kind])

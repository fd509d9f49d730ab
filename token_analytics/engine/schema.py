"""The export format, version 1 (SPEC §3): tables, columns, accepted values."""

from __future__ import annotations

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

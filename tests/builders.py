"""Hand-built parquet exports for tests: exact rows, chosen types and units."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from token_analytics.engine.schema import ACCOUNTS, MEMBERS, TRANSACTIONS, USAGE_EVENTS, Kind

ROOT = Path(__file__).resolve().parent.parent


def run_command(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m token_analytics ...` in its own process; `env` is added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "token_analytics", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


# "now" of the generated sample used by the app tests
SAMPLE_NOW = "2026-11-29T10:00:00+08:00"


def utc(text: str) -> datetime:
    """An aware instant from ISO text with an offset."""
    return datetime.fromisoformat(text)


def write(
    root: Path,
    rel: str,
    kind: Kind,
    rows: list[dict[str, Any]],
    overrides: dict[str, pa.DataType] | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    """Write rows as parquet at root/rel with the export types (or the overridden ones)."""
    overrides = overrides or {}
    fields = [pa.field(c.name, overrides.get(c.name, c.type)) for c in kind.columns if c.name not in drop]
    schema = pa.schema(fields)
    columns = {f.name: [row.get(f.name) for row in rows] for f in fields}
    arrays = []
    for f in fields:
        values = columns[f.name]
        if pa.types.is_timestamp(f.type) and f.type.tz is None:
            values = [
                None
                if v is None
                else v.replace(tzinfo=None)
                if v.tzinfo is None
                else v.astimezone(UTC).replace(tzinfo=None)
                for v in values
            ]
        arrays.append(pa.array(values, type=f.type))
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)
    return path


def accounts(root: Path, rel: str, rows: list[dict[str, Any]], **kw: Any) -> Path:
    return write(root, rel, ACCOUNTS, rows, **kw)


def members(root: Path, rel: str, rows: list[dict[str, Any]], **kw: Any) -> Path:
    return write(root, rel, MEMBERS, rows, **kw)


def events(root: Path, rel: str, rows: list[dict[str, Any]], **kw: Any) -> Path:
    return write(root, rel, USAGE_EVENTS, rows, **kw)


def transactions(root: Path, rel: str, rows: list[dict[str, Any]], **kw: Any) -> Path:
    return write(root, rel, TRANSACTIONS, rows, **kw)


def ev(
    event_id: str | None,
    account_id: str | None,
    user_id: str | None,
    service: str | None,
    at: datetime | None,
    tokens: int | None,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "account_id": account_id,
        "user_id": user_id,
        "service": service,
        "occurred_at": at,
        "tokens": tokens,
    }


def tx(
    txn_id: str | None,
    account_id: str | None,
    type_: str | None,
    amount: int | None,
    at: datetime | None,
    method: str | None = None,
    description: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    return {
        "txn_id": txn_id,
        "account_id": account_id,
        "user_id": user_id,
        "type": type_,
        "amount": amount,
        "created_at": at,
        "payment_method": method,
        "description": description,
    }

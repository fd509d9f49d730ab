"""The SQL files under queries/: one question per file, `$named` parameters only; names come from code."""

from __future__ import annotations

import re
from functools import cache

from token_analytics.settings import ROOT

QUERIES_DIR = ROOT / "queries"
# `name` or `folder/name` (a concern's statements live in a subfolder)
QUERY_NAME = re.compile(r"^([a-z][a-z0-9_]*/)?[a-z][a-z0-9_]*$")


@cache
def query_text(name: str) -> str:
    """The SQL of queries/<name>.sql; names come from code, never from input."""
    if not QUERY_NAME.match(name):
        raise ValueError(f"bad query name {name!r}")
    return (QUERIES_DIR / f"{name}.sql").read_text(encoding="utf-8")


def query_names() -> list[str]:
    return sorted(str(path.relative_to(QUERIES_DIR).with_suffix("")) for path in QUERIES_DIR.rglob("*.sql"))

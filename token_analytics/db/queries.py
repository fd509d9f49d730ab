"""The SQL files under queries/: one question per file, `$named` parameters only; names come from code."""

from __future__ import annotations

import re
from functools import cache

from token_analytics.settings import ROOT

QUERIES_DIR = ROOT / "queries"
# `name` or `folder/name` (a concern's statements live in a subfolder)
QUERY_NAME = re.compile(r"^([a-z][a-z0-9_]*/)?[a-z][a-z0-9_]*$")
# A rule several statements share (queries/rules/<name>.sql, one SQL fragment) is written `{rule:<name>}` where it
# applies, so the rule has one definition whichever statement or engine uses it.
RULE_SLOT = re.compile(r"\{rule:([a-z][a-z0-9_]*)\}")


@cache
def rule_text(name: str) -> str:
    """The fragment of queries/rules/<name>.sql without its comment lines, on one line."""
    text = (QUERIES_DIR / "rules" / f"{name}.sql").read_text(encoding="utf-8")
    return " ".join(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("--"))


def with_rules(text: str) -> str:
    """`text` with every `{rule:<name>}` replaced by that rule's fragment."""
    return RULE_SLOT.sub(lambda found: rule_text(found.group(1)), text)


@cache
def query_text(name: str) -> str:
    """The SQL of queries/<name>.sql, shared rules included; names come from code, never from input."""
    if not QUERY_NAME.match(name):
        raise ValueError(f"bad query name {name!r}")
    return with_rules((QUERIES_DIR / f"{name}.sql").read_text(encoding="utf-8"))


def query_names() -> list[str]:
    """Every statement under queries/ (the rules/ fragments are parts of statements, not statements)."""
    return sorted(
        str(path.relative_to(QUERIES_DIR).with_suffix(""))
        for path in QUERIES_DIR.rglob("*.sql")
        if path.parent != QUERIES_DIR / "rules"
    )

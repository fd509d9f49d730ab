"""A pytest plugin (`-p tests.leakcheck`): at the end of the run, count the DuckDB connections still reachable.

A connection alive at interpreter exit is what nanobind reports as `leaked ... DuckDBPyConnection`.
"""

from __future__ import annotations

import gc
import sys

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.collect()
    alive = sum(type(thing).__name__ == "DuckDBPyConnection" for thing in gc.get_objects())
    print(f"\nduckdb connections alive at the end: {alive}", file=sys.stderr)

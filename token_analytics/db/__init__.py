"""The storage layer at the bottom: the process's DuckDB connection with the app database attached, cursors,
the one write lock and `transaction()`, the app database's schema parts, and the SQL files under queries/.

Everything above (accounts, billing, alerts, engine, web) reads and writes through it; it imports none of them.
"""

from token_analytics.db.appfile import WRITE_LOCK, AppDBError, AppFile, Part, cursor, transaction
from token_analytics.db.connection import MEMORY_LIMIT, OPEN_LOCK, StoreError, StoreLocked, connect
from token_analytics.db.queries import query_names, query_text

__all__ = [
    "MEMORY_LIMIT",
    "OPEN_LOCK",
    "WRITE_LOCK",
    "AppDBError",
    "AppFile",
    "Part",
    "StoreError",
    "StoreLocked",
    "connect",
    "cursor",
    "query_names",
    "query_text",
    "transaction",
]

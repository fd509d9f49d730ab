"""Explore views a person saved under a name, kept per sign-in username.

Append-only like every app table: saving a name again adds a row and the latest one counts; removing
a view adds a row marked `removed`. A view is stored as the page's query string (what its shareable
link holds), so opening it is opening that link.
"""

from __future__ import annotations

from datetime import datetime

from token_analytics.db import appfile as core
from token_analytics.db import query_text
from token_analytics.db.appfile import AppDBError, Part

NAME_MAX = 80
QUERY_MAX = 4000


class SavedViews(Part):
    """Stores and reads each user's saved explore views."""

    def views(self, username: str) -> list[tuple[str, str]]:
        """(name, query string) of `username`'s saved views, by name."""
        rows = self._file.rows(query_text("accounts/latest_saved_view"), {"username": core.text(username, "username")})
        return [(row["name"], row["query"]) for row in rows]

    def save_view(self, username: str, name: str, query: str, now: datetime | None = None) -> None:
        """Save `query` (the page's query string) as `name`; a name saved again is replaced."""
        self._write(username, _name(name), _query(query), False, now)

    def remove_view(self, username: str, name: str, now: datetime | None = None) -> None:
        """Remove the view called `name`."""
        self._write(username, _name(name), "", True, now)

    def _write(self, username: str, name: str, query: str, removed: bool, now: datetime | None) -> None:
        params = {
            "username": core.text(username, "username"),
            "name": name,
            "query": query,
            "removed": removed,
            "saved_at": core.moment(now),
        }
        with core.WRITE_LOCK, self._file.cursor() as cur:
            cur.execute(query_text("accounts/insert_saved_view"), params)


def _name(value: object) -> str:
    name = " ".join(core.text(value, "name").split())
    if len(name) > NAME_MAX:
        raise AppDBError(f"A view's name has at most {NAME_MAX} characters.", "appdb.view_name_long", max=NAME_MAX)
    return name


def _query(value: object) -> str:
    if not isinstance(value, str) or len(value) > QUERY_MAX:
        raise AppDBError("The view is too long to save.", "appdb.view_too_long")
    return value

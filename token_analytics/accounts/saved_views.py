"""Explore views a person saved under a name, kept per sign-in username.

Append-only like every app table: saving a name again adds a row and the latest one counts; removing
a view adds a row marked `removed`. A view is stored as the page's query string (what its shareable
link holds), so opening it is opening that link.
"""

from __future__ import annotations

from datetime import datetime

from token_analytics.db import appfile as core
from token_analytics.db.appfile import AppDBError, Part

NAME_MAX = 80
QUERY_MAX = 4000


_INSERT = """
    insert into app.saved_views (username, name, query, removed, saved_at)
    values ($username, $name, $query, $removed, $saved_at)
"""

# the latest row per name counts (rowid breaks a tie within one microsecond); removed names are left out
_LATEST = """
    with ranked as (
        select name, query, removed,
            row_number() over (partition by name order by saved_at desc, rowid desc) as n
        from app.saved_views
        where username = $username
    )
    select name, query from ranked where n = 1 and not removed order by lower(name), name
"""


class SavedViews(Part):
    """Stores and reads each user's saved explore views."""

    def views(self, username: str) -> list[tuple[str, str]]:
        """(name, query string) of `username`'s saved views, by name."""
        rows = self._file.rows(_LATEST, {"username": core.text(username, "username")})
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
            cur.execute(_INSERT, params)


def _name(value: object) -> str:
    name = " ".join(core.text(value, "name").split())
    if len(name) > NAME_MAX:
        raise AppDBError(f"A view's name has at most {NAME_MAX} characters.", "appdb.view_name_long", max=NAME_MAX)
    return name


def _query(value: object) -> str:
    if not isinstance(value, str) or len(value) > QUERY_MAX:
        raise AppDBError("The view is too long to save.", "appdb.view_too_long")
    return value

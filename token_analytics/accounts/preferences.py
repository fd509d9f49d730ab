"""A person's interface preferences (today: the language), kept per sign-in username.

Append-only like every app table: each choice is a new row and the latest one counts, so the
history of choices stays readable.
"""

from __future__ import annotations

from datetime import datetime

from token_analytics.db import appfile as core
from token_analytics.db import query_text
from token_analytics.db.appfile import Part

# The languages the web layer has catalogues for (web/i18n.py LANGUAGES; a test keeps them equal).
PREFERENCE_LANGUAGES = ("en", "zh")


class Preferences(Part):
    """Stores and reads each user's preferences."""

    def language(self, username: str) -> str | None:
        """The language `username` chose last, or None when they never chose one."""
        rows = self._file.rows(
            query_text("accounts/latest_preferences"), {"username": core.text(username, "username"), "name": "language"}
        )
        return rows[0]["value"] if rows else None

    def set_language(self, username: str, language: str, now: datetime | None = None) -> None:
        """Record `username`'s choice of `language` (one of PREFERENCE_LANGUAGES)."""
        params = {
            "username": core.text(username, "username"),
            "name": "language",
            "value": core.choice(language, "language", PREFERENCE_LANGUAGES),
            "set_at": core.moment(now),
        }
        with core.WRITE_LOCK, self._file.cursor() as cur:
            cur.execute(query_text("accounts/insert_preferences"), params)

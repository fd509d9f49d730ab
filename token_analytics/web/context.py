"""One page context per run: who is signed in, which account, the settings, the clock, the store and the app database.

The router (dashboard.py) builds it once, after sign-in and the account switcher, and every page opens
with `page = context.current()` (or `current("buy")`, `current("admin")`) instead of asking each part
again: settings are read, the clock is read and the store is looked up once per run, and every part of
a page sees the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from token_analytics.accounts.users import User
from token_analytics.appdb import AppDB
from token_analytics.engine.store import Store
from token_analytics.settings import Settings
from token_analytics.web import data, ui

CONTEXT_KEY = "page_context"


@dataclass(frozen=True)
class PageContext:
    user: User
    account: str
    settings: Settings
    now: datetime
    store: Store
    app_db: AppDB


def build(user: User, account: str, settings: Settings) -> PageContext:
    """The context of this run; the store is opened (or its first load waited for) here."""
    store = data.store()
    return PageContext(
        user=user, account=account, settings=settings, now=settings.now(), store=store, app_db=data.app_db_of(store)
    )


def publish(context: PageContext | None) -> None:
    """Called by the router on every run: the page that runs next reads this one (None: nobody signed in)."""
    st.session_state[CONTEXT_KEY] = context


def current(permission: str = "signed_in") -> PageContext:
    """This run's context; stops the page with a one-line error unless the user holds `permission`.

    A page run without the router (a test driving a page file alone) gets one built here, the same way.
    """
    found = st.session_state.get(CONTEXT_KEY)
    if isinstance(found, PageContext):
        ui.require(found.user, permission)
        return found
    user = ui.require(ui.current_user(), permission)
    return build(user, ui.current_account(user), data.settings())

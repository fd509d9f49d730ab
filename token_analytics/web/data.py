"""The pages' door to the data: one Store per process, refreshed in the background.

`st.cache_resource` is shared by every session, so it holds only the Store (no
per-user state); every figure function takes the account as an argument.
"""

from __future__ import annotations

import streamlit as st

from token_analytics.billing.appdb import AppDB
from token_analytics.engine.store import Store, data_dir_ready
from token_analytics.settings import Settings, load_settings

REFRESH_EVERY_S = 30.0


@st.cache_resource(show_spinner=False)
def _open(settings: Settings) -> Store:
    data_dir_ready(settings)
    bar = st.progress(0.0, text="Reading the exports for the first time…")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    store = Store.open(settings, progress=progress)
    bar.empty()
    return store


def settings() -> Settings:
    return load_settings()


def store() -> Store:
    """The process's store; new or changed export files are picked up in the background."""
    current = _open(settings())
    current.refresh_if_due(REFRESH_EVERY_S)
    return current


def app_db() -> AppDB:
    """What the app writes, on the store's connection (the file is attached there as `app`)."""
    return AppDB(store().cursor(), zone=settings().zone)

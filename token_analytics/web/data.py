"""The pages' door to the data: one Store per process, refreshed in the background.

`st.cache_resource` is shared by every session, so it holds only the Store (no
per-user state); every figure function takes the account as an argument.

The first load runs in a worker thread, not in the script thread of the session that
asked first: Streamlit stops a script thread when its client leaves and interrupts it on a
rerun (StopException / RerunException), and an interrupted first load used to leave a
half-open database behind. Sessions only wait for the worker and draw its progress;
one that leaves stops waiting, the load goes on, and the next session gets the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import streamlit as st

from token_analytics import service
from token_analytics.appdb import AppDB
from token_analytics.engine.ingest import Step
from token_analytics.engine.store import Store, data_dir_ready
from token_analytics.settings import Settings, load_settings
from token_analytics.web.i18n import t

log = logging.getLogger(__name__)

REFRESH_EVERY_S = 30.0
FIRST_LOAD = Step("first_read", "Reading the exports for the first time…")


class _Opening:
    """One first load of the store for one set of settings, run by a worker thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.done = threading.Event()
        self.fraction = 0.0
        self.message = FIRST_LOAD
        self.store: Store | None = None
        self.service: service.Service | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="store-open", daemon=True)

    def _progress(self, fraction: float, message: Step) -> None:
        self.fraction, self.message = min(max(fraction, 0.0), 1.0), message

    def _run(self) -> None:
        try:
            data_dir_ready(self.settings)
            self.store = Store.open(self.settings, progress=self._progress)
            # a cron `ingest` or a `report` asks this process (it holds the DuckDB files)
            self.service = service.start(self.store)
        except BaseException as exc:  # handed to every waiting session; the next call tries again
            log.exception("opening the store failed")
            self.error = exc
        finally:
            self.done.set()

    def close(self) -> None:
        """Stop the service thread, then close the store; waits for a first load still running."""
        self.done.wait()
        if self.service is not None:
            self.service.close()
        if self.store is not None:
            self.store.close()


_openings: dict[Settings, _Opening] = {}
_openings_lock = threading.Lock()


def _opening(settings: Settings) -> _Opening:
    """The first load for these settings: the one running or done, or a new one after a failure."""
    with _openings_lock:
        current = _openings.get(settings)
        if current is None or current.error is not None:
            current = _openings[settings] = _Opening(settings)
            current.thread.start()
        return current


def open_store(
    settings: Settings, on_progress: Callable[[float, Step], None] | None = None, poll_s: float = 0.1
) -> Store:
    """The process's store for `settings`, opened once; waits for the first load, reporting its progress.

    Anything `on_progress` raises (Streamlit's stop or rerun) ends only this wait, never the load.
    """
    current = _opening(settings)
    while not current.done.wait(poll_s):
        if on_progress is not None:
            on_progress(current.fraction, current.message)
    if current.error is not None:
        raise current.error
    assert current.store is not None  # set whenever the load ended without an error
    return current.store


def close_stores() -> None:
    """Close every store this process opened and its service thread; the next page run opens afresh.

    For tests, which open stores on files of their own: a page running meanwhile would find its store closed.
    """
    with _openings_lock:
        openings = list(_openings.values())
        _openings.clear()
    _open.clear()
    for opening in openings:
        opening.close()


@st.cache_resource(show_spinner=False)
def _open(settings: Settings) -> Store:
    bar = st.progress(0.0, text=step_text(FIRST_LOAD))
    store = open_store(settings, lambda fraction, step: bar.progress(fraction, text=step_text(step)))
    bar.empty()
    return store


def step_text(step: Step) -> str:
    """A load step in the session's language (the engine's steps are catalogued as `progress.<id>`)."""
    return t(f"progress.{step.message_id}", **step.params)


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


def cli_service_problem() -> str | None:
    """Why `ingest` / `report` / `alerts` cannot reach this process now; None when they can (or no store is open)."""
    with _openings_lock:
        opening = _openings.get(settings())
    answering = opening.service if opening is not None else None
    return answering.problem if answering is not None else None

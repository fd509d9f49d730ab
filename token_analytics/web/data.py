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
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from token_analytics import service
from token_analytics.accounts import users
from token_analytics.appdb import AppDB
from token_analytics.engine.figures import analysis_figures, card_series, exported_plan
from token_analytics.engine.ingest import Step
from token_analytics.engine.store import Health, Store, data_dir_ready
from token_analytics.engine.values import FigureSet
from token_analytics.settings import Settings, load_settings
from token_analytics.web.i18n import t

log = logging.getLogger(__name__)

T = TypeVar("T")
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


def _opened(settings: Settings) -> Store | None:
    """The store of a first load that is over, without Streamlit's cache lookup (it hashes the settings each time)."""
    with _openings_lock:
        opening = _openings.get(settings)
    if opening is None or not opening.done.is_set() or opening.error is not None:
        return None
    return opening.store


def store() -> Store:
    """The process's store; new or changed export files are picked up in the background."""
    wanted = settings()
    current = _opened(wanted) or _open(wanted)
    current.refresh_if_due(REFRESH_EVERY_S)
    return current


_app_dbs: weakref.WeakKeyDictionary[Store, AppDB] = weakref.WeakKeyDictionary()
_app_dbs_lock = threading.Lock()


def app_db_of(current: Store) -> AppDB:
    """The store's AppDB, built once per store: building one checks the app file's schema (a few queries).

    It sits on the store's connection and takes a cursor per call, so every session's thread may share it.
    """
    with _app_dbs_lock:
        app = _app_dbs.get(current)
        if app is None:
            app = _app_dbs[current] = AppDB(current.connection, zone=current.settings.zone)
        return app


def app_db() -> AppDB:
    """What the app writes, on the store's connection (the file is attached there as `app`)."""
    return app_db_of(store())


# Values the pages compute from the exports, kept per store (weakly: a closed store's go with it) and keyed
# by the data generation: an ingest that changes something changes the key, so nothing stale is drawn.
MEMO_KEPT = 512  # entries per store: a few per account and minute
_memo: weakref.WeakKeyDictionary[Store, OrderedDict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()
_memo_lock = threading.Lock()


def memo(current: Store, name: str, compute: Callable[[], T], *key: Hashable) -> T:
    """`compute()` once per (store, data generation, name, key); the most recent MEMO_KEPT are kept.

    Two sessions asking at once may both compute; the values are equal, the last one is kept.
    """
    full = (name, current.generation, *key)
    with _memo_lock:
        kept = _memo.setdefault(current, OrderedDict())
        if full in kept:
            kept.move_to_end(full)
            return kept[full]  # type: ignore[no-any-return]
    value = compute()
    with _memo_lock:
        kept = _memo.setdefault(current, OrderedDict())
        kept[full] = value
        while len(kept) > MEMO_KEPT:
            kept.popitem(last=False)
    return value


def minute_of(now: datetime) -> datetime:
    """The key of the figures a page shows for `now`: one computation per minute, the page's clock resolution."""
    return now.replace(second=0, microsecond=0)


def figure_key(current: Store, account: str, now: datetime, mode: str) -> tuple[Hashable, ...]:
    """What an account's figure set is kept by besides the data generation: account, mode and minute, and the
    count of the app's own ledger entries, which a purchase or an adjustment adds without a new data generation
    (the balance, the runway and the recent entries read them). The page keys its charts by it too.
    """
    return (account, mode, minute_of(now), app_entries(current, account))


def figure_set(
    current: Store, account: str, now: datetime, mode: str, key: tuple[Hashable, ...] | None = None
) -> FigureSet:
    """The account's figure set, computed at the first run of each `figure_key` and data generation (DECISIONS)."""
    kept_by = key if key is not None else figure_key(current, account, now, mode)
    return memo(current, "figures", lambda: analysis_figures(current, account, now, mode), *kept_by)


def app_entries(current: Store, account: str) -> int:
    """How many ledger entries the app itself has written for the account (append-only: a version of them)."""
    return int(current.row("ledger_app_entries", account_id=account)["entries"])


def card_series_of(current: Store, account: str, now: datetime) -> dict[str, Any]:
    """The cards' sparklines (whole local days and months), once per account, day and data generation."""
    day = now.astimezone(current.settings.zone).date()
    return memo(current, "card_series", lambda: card_series(current, account, now), account, day)


def health(current: Store) -> Health:
    """The data-health report of the current data generation."""
    return memo(current, "health", current.health)


def exported_plan_of(current: Store, account: str) -> str | None:
    """The plan the exports give the account (billing decides the plan shown from it)."""
    return memo(current, "exported_plan", lambda: exported_plan(current, account), account)


def cli_service_problem() -> str | None:
    """Why `ingest` / `report` / `alerts` cannot reach this process now; None when they can (or no store is open)."""
    with _openings_lock:
        opening = _openings.get(settings())
    answering = opening.service if opening is not None else None
    return answering.problem if answering is not None else None


_auth_configs: dict[Path, tuple[tuple[int, int, int], users.AuthConfig]] = {}


def auth_config(path: Path) -> users.AuthConfig:
    """The users file, read again only when it changed (time, size or inode): parsing it cost ~15 ms a run.

    Kept here, not in dashboard.py, whose globals start afresh on every run. A file that does not load
    raises on every run, as before; only a good read is kept.
    """
    try:
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)  # a file replaced whole is a new inode
    except OSError:
        return users.load_auth(path)  # missing or unreadable: its own one-line error
    kept = _auth_configs.get(path)
    if kept is not None and kept[0] == version:
        return kept[1]
    config = users.load_auth(path)
    _auth_configs[path] = (version, config)
    return config

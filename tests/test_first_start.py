"""A safe first start: opening the store survives failures, interruptions and concurrent first loads."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from tests.conftest import settings_for
from token_analytics.engine import ingest as ingest_module
from token_analytics.engine import store as store_module
from token_analytics.engine.store import Store
from token_analytics.web import data


class Interrupted(BaseException):  # noqa: N818  (stands in for Streamlit's StopException / RerunException)
    """What Streamlit raises in a script thread that is stopped or rerun: not an Exception."""


def _tokens_of_acct_a(store: Store) -> int:
    # The edge export's acct-a has 100 + 5 + 50 + 1000 + 30 + 7 + 20 tokens in valid, de-duplicated events.
    return int(store.cursor().execute("select sum(tokens) from usage_daily where account_id = 'acct-a'").fetchone()[0])


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), Interrupted()])
def test_a_failed_open_leaves_nothing_behind(
    tmp_path: Path, edge_dir: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    settings = settings_for(tmp_path, edge_dir)
    real_ingest = ingest_module.ingest
    calls = {"n": 0}

    def failing(cur, data_dir, timezone, progress=None, now=None):  # type: ignore[no-untyped-def]
        def progress_that_breaks(fraction: float, message: str) -> None:
            calls["n"] += 1
            if calls["n"] == 3:  # part-way: some files are already read inside the transaction
                raise error

        return real_ingest(cur, data_dir, timezone, progress=progress_that_breaks, now=now)

    monkeypatch.setattr(ingest_module, "ingest", failing)
    # A fresh exception per run: a raised instance keeps its traceback, and the parameter lives as long as
    # the test session, so raising the parameter itself would keep the failed open's connection alive to exit.
    error = type(error)(*error.args)
    with pytest.raises(type(error)) as raised:
        Store.open(settings)
    assert calls["n"] == 3
    monkeypatch.setattr(ingest_module, "ingest", real_ingest)

    # `raised` keeps the failed open's frames (and so its connection object) alive, as a
    # Streamlit script thread's traceback does: the second open must still work.
    store = Store.open(settings)
    try:
        assert _tokens_of_acct_a(store) == 1212
        assert store.run("ledger_exists", account_id="acct-a")["exists"].iloc[0]
    finally:
        store.close()
    del raised


def test_a_failure_before_the_ingest_closes_the_connection(
    tmp_path: Path, edge_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app database's schema step failing after the attach must not leave `app` attached."""
    from token_analytics.db import appfile

    settings = settings_for(tmp_path, edge_dir)
    real_init = appfile.AppFile.__init__

    def broken(self, con, **kwargs):  # type: ignore[no-untyped-def]
        raise Interrupted()

    monkeypatch.setattr(appfile.AppFile, "__init__", broken)
    with pytest.raises(Interrupted) as raised:
        Store.open(settings)
    monkeypatch.setattr(appfile.AppFile, "__init__", real_init)
    store = Store.open(settings)
    try:
        assert _tokens_of_acct_a(store) == 1212
    finally:
        store.close()
    del raised


def test_concurrent_opens_of_one_file_all_succeed(tmp_path: Path, edge_dir: Path) -> None:
    settings = settings_for(tmp_path, edge_dir)
    start = threading.Barrier(6)
    stores: list[Store] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            stores.append(Store.open(settings))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert len(stores) == 6
        assert {_tokens_of_acct_a(store) for store in stores} == {1212}
        # one ingest did the work; the others found nothing new to read
        assert sum(bool(store.last_summary and store.last_summary.rebuilt) for store in stores) == 1
    finally:
        for store in stores:
            store.close()


def test_the_data_layer_opens_one_store_for_concurrent_sessions(tmp_path: Path, edge_dir: Path) -> None:
    settings = settings_for(tmp_path, edge_dir)
    start = threading.Barrier(5)
    got: list[Store] = []

    def session() -> None:
        start.wait()
        got.append(data.open_store(settings))

    threads = [threading.Thread(target=session) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(got) == 5 and len({id(store) for store in got}) == 1
    assert _tokens_of_acct_a(got[0]) == 1212


def test_a_session_that_leaves_mid_load_does_not_stop_the_first_load(tmp_path: Path, edge_dir: Path) -> None:
    """The script thread is stopped while it waits; the load goes on and the next session gets the store."""
    settings = settings_for(tmp_path, edge_dir)

    def leaving(fraction: float, message: str) -> None:
        raise Interrupted()

    with pytest.raises(Interrupted):
        data.open_store(settings, on_progress=leaving, poll_s=0.0)
    store = data.open_store(settings)
    assert _tokens_of_acct_a(store) == 1212
    assert data.open_store(settings) is store


def test_a_failed_first_load_is_tried_again(tmp_path: Path, edge_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(tmp_path, edge_dir)
    real_ingest = ingest_module.ingest

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest_module, "ingest", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        data.open_store(settings)
    monkeypatch.setattr(ingest_module, "ingest", real_ingest)
    assert _tokens_of_acct_a(data.open_store(settings)) == 1212


def _service_threads() -> int:
    return sum(thread.name == "cli-service" for thread in threading.enumerate())


def test_closing_the_data_layer_ends_its_service_thread_and_closes_its_store(tmp_path: Path, edge_dir: Path) -> None:
    settings = settings_for(tmp_path, edge_dir)
    before = _service_threads()
    store = data.open_store(settings)
    assert _service_threads() == before + 1  # it answers a cron `ingest` or a `report`
    data.close_stores()
    assert _service_threads() == before
    with pytest.raises(duckdb.ConnectionException):
        store.run("accounts")
    reopened = data.open_store(settings)  # the next page run opens afresh
    assert reopened is not store and _tokens_of_acct_a(reopened) == 1212


def test_closing_a_store_waits_for_its_background_refresh(
    tmp_path: Path, edge_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, edge_dir)
    store = Store.open(settings)
    real_ingest = ingest_module.ingest
    started, proceed = threading.Event(), threading.Event()

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.set()
        proceed.wait(timeout=30)
        return real_ingest(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "ingest", held)
    failures: list[str] = []
    monkeypatch.setattr(store_module.log, "exception", lambda message, *args: failures.append(message))
    assert store.refresh_in_background()
    assert started.wait(timeout=30)
    closing = threading.Thread(target=store.close)
    closing.start()
    closing.join(timeout=0.2)
    assert closing.is_alive()  # close waits: the refresh still uses the connection
    proceed.set()
    closing.join(timeout=30)
    assert not closing.is_alive() and failures == []


def test_a_sample_generation_stopped_mid_way_leaves_no_half_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while `make run` generates the sample: the next start must generate it again, not read half of it."""
    from token_analytics.settings import Settings

    sample = tmp_path / "data" / "sample"
    settings = settings_for(tmp_path, sample)
    monkeypatch.setattr(Settings, "data_dir_is_default", property(lambda self: True))
    written: list[str] = []

    def stopped(message: str) -> None:
        written.append(message)
        if len(written) == 3:  # accounts, members and one month of events are on disk
            raise Interrupted()

    with pytest.raises(Interrupted):
        store_module.data_dir_ready(settings, progress=stopped)
    assert not sample.exists()
    assert list((tmp_path / "data").iterdir()) == []  # nor its partial folder
    assert store_module.data_dir_ready(settings) == sample
    for kind in ("accounts", "members", "usage_events", "transactions"):
        assert any((sample / kind).rglob("*.parquet")), kind

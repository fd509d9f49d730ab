"""A safe first start on a real server: ten sessions open at once on a fresh data
folder, five of them leave during the first load, and the app keeps working.

The ten sessions are raw websocket clients (Streamlit's own protocol, a signed-in cookie):
ten chromium tabs cost a minute on a loaded 2-core machine, these cost a second. A session
that leaves as soon as it draws the first load's progress is the one Streamlit stops
mid-load. Before the fix that left a half-open DuckDB connection with `app` attached, and
the next session to open the store got "Cannot attach app ... already attached".
Then a real browser signs in and /analysis renders.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

from tests import builders as b
from tests.e2e.support import (
    NOW,
    ROOT,
    Sample,
    Server,
    _free_port,
    _healthy,
    clean_env,
    main_area,
    run_cli,
    sign_in,
    start_server,
    stop_server,
)
from token_analytics.accounts import users
from token_analytics.accounts.sessions import Sessions
from token_analytics.appdb import AppDB
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
from token_analytics.strings import t

SESSIONS = 10
LEAVING = 5
EXTRA_FILES = 150  # many small files: the first load lasts a few seconds, with progress after each file
WAIT_S = 90.0
loading_since = [0.0]  # when a session first drew the first load's progress


@dataclass
class Fresh:
    server: Server
    cookie: str  # the Cookie header of a signed-in browser


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Fresh]:
    """A server on a data folder nobody has read yet (its cache database does not exist)."""
    data_dir = tmp_path / "data"
    run_cli(["generate", "--out", str(data_dir), "--accounts", "4", "--events", "5000", "--seed", "3", "--now", NOW],
            clean_env())  # fmt: skip
    at = b.utc("2026-06-01T00:00:00+00:00")
    for n in range(EXTRA_FILES):
        b.events(data_dir, f"usage_events/month=2026-06/extra-{n:03d}.parquet",
                 [b.ev(f"extra-{n}", "acct-003", "user-003-01", "agent", at, 1)])  # fmt: skip
    key = secrets.token_hex(32)
    root = tmp_path / "server"
    root.mkdir()
    cookie = signed_in_cookie(data_dir, root, key, "manager")
    server = start_server("saas", Sample(data_dir=data_dir, reports={}), root, {"ANALYTICS_COOKIE_KEY": key})
    try:
        yield Fresh(server, cookie)
    finally:
        stop_server(server)


def signed_in_cookie(data_dir: Path, root: Path, key: str, username: str) -> str:
    """The Cookie header of a browser signed in as `username`: a server-side session made before the server starts.

    The store is opened without an ingest, so the server's first load still reads every file.
    """
    settings = load_settings(
        clean_env() | {"ANALYTICS_DATA_DIR": str(data_dir), "ANALYTICS_APP_DB": str(root / "app.duckdb")}
    )
    config = users.load_auth(settings.auth_file)
    store = Store.open(settings, ingest=False)
    try:
        sessions = Sessions(AppDB(store.cursor()).connection)
        session_id = sessions.start(username, users.fingerprint(config, username) or "", None, None, users.clock())
    finally:
        store.close()
    return f"{config.cookie_name}={users.sign_cookie(session_id, key)}"


@dataclass
class Session:
    """One raw websocket session; `leave` closes it as soon as it draws the first load's progress."""

    leave: bool
    saw_progress: bool = False
    left: bool = False
    metrics: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def run(self, fresh: Fresh, start: threading.Barrier, loading: threading.Event) -> None:
        url = fresh.server.url.replace("http://", "ws://") + "/_stcore/stream"
        headers = {"Cookie": fresh.cookie}
        start.wait()
        with connect(url, subprotocols=["streamlit"], additional_headers=headers, open_timeout=30) as ws:
            rerun = BackMsg()
            rerun.rerun_script.query_string = ""
            rerun.rerun_script.page_script_hash = ""
            ws.send(rerun.SerializeToString())
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                if self.leave and loading.is_set() and time.monotonic() - loading_since[0] > 3.0:
                    self.left = True  # leave mid-load also when another session draws the progress
                    return
                try:
                    raw = ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                message = ForwardMsg()
                message.ParseFromString(raw)
                if message.WhichOneof("type") != "delta" or message.delta.WhichOneof("type") != "new_element":
                    continue
                element = message.delta.new_element
                kind = element.WhichOneof("type")
                if kind == "progress":
                    self.saw_progress = True
                    if not loading.is_set():
                        loading_since[0] = time.monotonic()
                        loading.set()
                    if self.leave:
                        self.left = True
                        return  # closing the socket: Streamlit stops this session's script
                elif kind == "exception":
                    self.problems.append(f"{element.exception.type}: {element.exception.message}")
                elif kind == "alert" and element.alert.format == element.alert.ERROR:
                    self.problems.append(element.alert.body)
                elif kind == "metric":
                    self.metrics.append(element.metric.label)
                    if element.metric.label == t("card.balance"):
                        return
        self.problems.append("no balance card within the time limit")


def test_sessions_leaving_during_the_first_load_break_nothing(fresh: Fresh, page: Page) -> None:
    sessions = [Session(leave=n < LEAVING) for n in range(SESSIONS)]
    start, loading = threading.Barrier(SESSIONS), threading.Event()
    threads = [threading.Thread(target=session.run, args=(fresh, start, loading)) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_S + 40)

    leavers, stayers = sessions[:LEAVING], sessions[LEAVING:]
    assert all(session.left for session in leavers)
    assert loading.is_set(), "no session saw the first load's progress"
    for session in stayers:
        assert session.problems == []
        assert t("card.balance") in session.metrics

    log = fresh.server.log_tail(500_000)
    assert "already attached" not in log, log[-3000:]
    sign_in(page, fresh.server, "manager")  # a new session in a real browser, after it all
    labels = main_area(page).locator('[data-testid="stMetricLabel"]')
    expect(labels.filter(has_text=t("card.balance")).first).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    assert "already attached" not in fresh.server.log_tail(500_000)


# --- the sample is generated at start-up, before the first visitor ------------------------------------------------

APP_FILES = ("token_analytics", "app_pages", "queries", "auth", "config", ".streamlit", "dashboard.py", "serve.py")


def test_the_default_sample_is_generated_before_the_server_answers(tmp_path: Path) -> None:
    """`make run` on a fresh checkout: data/sample/ exists by the time /_stcore/health first says ok.

    The default sample lives inside the checkout, so the server runs from a copy of the app, never from yours.
    """
    app = tmp_path / "app"
    for name in APP_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, app / name, ignore=shutil.ignore_patterns("__pycache__", "secrets.toml"))
        else:
            app.mkdir(exist_ok=True)
            shutil.copy2(source, app / name)
    sample = app / "data" / "sample"
    assert not sample.exists()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "streamlit.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "serve.py", "--server.headless", "true",
        "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    env = clean_env() | {"ANALYTICS_NOW": NOW, "ANALYTICS_COOKIE_KEY": secrets.token_hex(32)}
    with log.open("wb") as handle:
        process = subprocess.Popen(command, cwd=app, env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.1)
        # the first moment it answers, the whole sample is there: every kind of export, no half-written folder
        for kind in ("accounts", "members", "usage_events", "transactions"):
            assert any((sample / kind).rglob("*.parquet")), kind
        assert [path.name for path in (app / "data").iterdir() if ".partial" in path.name] == []
        output = log.read_text(errors="replace")
        assert f"First start: generating the sample data in {sample}" in output
        assert "wrote usage_events/" in output and "Sample data ready in" in output
    finally:
        process.terminate()
        process.wait(timeout=30)

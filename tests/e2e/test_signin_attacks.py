"""Sign-in attacks against a running server, over Streamlit's own websocket protocol.

Each "session" is a raw websocket client of `/_stcore/stream`, as the browser's: it asks for the
page, reads the sign-in form's widget ids from the answer, and submits the form. Raw clients
rather than browser pages: thirty of them can be released at the same instant on this machine
(thirty Chromium pages cannot), and they can send what a browser will not, such as two
X-Forwarded-For header lines. Every server here has its own app database; what it recorded is
read from that file once the server has stopped (DuckDB lets one process hold it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import ClientConnection, connect

from tests.e2e.support import Sample, Server, start_server, stop_server
from token_analytics.accounts.audit import AuditLog
from token_analytics.appdb import open_app_db
from token_analytics.strings import t

pytestmark = pytest.mark.e2e

SESSIONS = 30
TIMEOUT_S = 120


class Session:
    """One Streamlit session over a raw websocket: load the page, submit the sign-in form."""

    def __init__(self, server: Server, headers: list[tuple[str, str]] | None = None) -> None:
        url = server.url.replace("http://", "ws://") + "/_stcore/stream"
        # Entered by hand: the session outlives this call, and `close` ends it.
        self.socket: ClientConnection = connect(url, additional_headers=headers or [], max_size=None).__enter__()
        self.ids: dict[str, str] = {}

    def close(self) -> None:
        self.socket.close()

    def run(self, widgets: list[WidgetState] | None = None) -> list[object]:
        """One script run (the page load, or a submit); the elements it drew."""
        message = BackMsg()
        message.rerun_script.query_string = ""
        message.rerun_script.page_script_hash = ""
        message.rerun_script.widget_states.widgets.extend(widgets or [])
        self.socket.send(message.SerializeToString())
        elements = []
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(self.socket.recv(timeout=TIMEOUT_S))
            kind = forward.WhichOneof("type")
            if kind == "script_finished":
                return elements
            if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                elements.append(forward.delta.new_element)

    def load(self) -> None:
        """Ask for the page and note the sign-in form's widget ids."""
        for element in self.run():
            kind = element.WhichOneof("type")
            if kind in ("text_input", "button"):
                widget = getattr(element, kind)
                self.ids[widget.label] = widget.id
        assert {t("login.username"), t("login.password"), t("login.submit")} <= set(self.ids), self.ids

    def sign_in(self, username: str, password: str) -> list[str]:
        """Submit the form; the alerts the page answered with."""
        widgets = [
            WidgetState(id=self.ids[t("login.username")], string_value=username),
            WidgetState(id=self.ids[t("login.password")], string_value=password),
            WidgetState(id=self.ids[t("login.submit")], trigger_value=True),
        ]
        return [element.alert.body for element in self.run(widgets) if element.WhichOneof("type") == "alert"]


@pytest.fixture
def server(sample: Sample, tmp_path: Path) -> Iterator[Server]:
    running = start_server("saas", sample, tmp_path, {"ANALYTICS_TRUSTED_PROXY_HEADER": "X-Forwarded-For"})
    try:
        yield running
    finally:
        stop_server(running)


def audit_rows(server: Server, root: Path) -> pd.DataFrame:
    """The server's audit log, read after stopping it."""
    stop_server(server)
    app = open_app_db(root / "app.duckdb")
    try:
        return AuditLog(app.connection).entries()
    finally:
        app.close()


def test_thirty_sessions_guessing_at_once_get_the_three_free_guesses_checked(server: Server, tmp_path: Path) -> None:
    sessions = [Session(server) for _ in range(SESSIONS)]
    answers: list[list[str]] = [[] for _ in range(SESSIONS)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(SESSIONS)

    def guess(index: int) -> None:
        try:
            sessions[index].load()
            barrier.wait(timeout=TIMEOUT_S)  # every form loaded: all thirty submit at once
            answers[index] = sessions[index].sign_in("admin", f"guess-{index}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=guess, args=(index,)) for index in range(SESSIONS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=2 * TIMEOUT_S)
    finally:
        for session in sessions:
            session.close()
    assert not errors, errors
    checked = [answer for answer in answers if answer == [t("login.failed")]]
    assert len(checked) == 3, answers  # the policy's free guesses; every other one waits, unchecked
    assert all(len(answer) == 1 for answer in answers), answers
    rows = audit_rows(server, tmp_path)
    failures = rows[rows["action"] == "sign_in.failure"]
    assert len(failures) == 3
    assert set(failures["address"]) == {"127.0.0.1"}  # a local connection has its address, so it is counted
    refused = rows[rows["action"] == "sign_in.refused"]
    assert refused["count"].sum() == SESSIONS - 3 and len(refused) <= 2  # one row a minute, not 27


def test_the_proxy_line_decides_the_address_not_the_clients(server: Server, tmp_path: Path) -> None:
    # The client wrote the first line; a proxy like HAProxy appended the second.
    for forwarded in (["6.6.6.6", "203.0.113.9"], ["6.6.6.6, 10.0.0.1", "::ffff:192.0.2.2"]):
        session = Session(server, [("X-Forwarded-For", line) for line in forwarded])
        try:
            session.load()
            assert session.sign_in("manager", "wrong-password") == [t("login.failed")]
        finally:
            session.close()
    rows = audit_rows(server, tmp_path)
    failures = rows[rows["action"] == "sign_in.failure"]
    assert list(failures["address"]) == ["192.0.2.2", "203.0.113.9"]  # newest first

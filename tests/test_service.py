"""The command-line socket holds against another local process: an impostor bound first, another
user, another network namespace; and the dashboard says so (log, /admin) while it cannot listen."""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apptest import _signed_in
from tests.conftest import NOW, settings_for
from token_analytics import service
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.store import Store
from token_analytics.settings import Settings
from token_analytics.strings import t
from token_analytics.web import data

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
SECRET_HOOK = "json=https://hooks.example/send?key=very-secret-key"

# A process of the same user listening where the command line looks for the dashboard: at the
# socket path, and at the abstract name the command line used before (named after the cache
# file, so anyone could bind it first). It keeps every byte it receives and answers forged figures.
IMPOSTOR = r"""
import os, socket, sys, threading
path, received = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
folder = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
names = [f"/proc/self/fd/{folder}/{os.path.basename(path)}", "\0" + sys.argv[3]]
forged = b'{"ok": true, "summary": "forged", "figures": {"forged": true}, "result": {}}\n'

def serve(sock):
    while True:
        conn, _ = sock.accept()
        conn.settimeout(5)
        got = b""
        try:
            while not got.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        with open(received, "ab") as out:
            out.write(got)
        try:
            conn.sendall(forged)
        except OSError:
            pass
        conn.close()

for name in names:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(name)
    sock.listen(8)
    threading.Thread(target=serve, args=(sock,), daemon=True).start()
print("listening", flush=True)
sys.stdin.read()
"""


def old_abstract_name(settings: Settings) -> str:
    """The abstract socket name the command line connected to before it used a file."""
    return "token-analytics-" + hashlib.sha256(str(settings.cache_db.resolve()).encode()).hexdigest()[:24]


@pytest.fixture
def impostor(tmp_path: Path, edge_dir: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """An impostor process listening for the settings of `settings_for(tmp_path, edge_dir)`; (process, received)."""
    settings = settings_for(tmp_path, edge_dir)
    received = tmp_path / "received.bin"
    received.write_bytes(b"")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            IMPOSTOR,
            str(service.socket_path(settings)),
            str(received),
            old_abstract_name(settings),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "listening"
        yield process, received
    finally:
        if process.poll() is None:
            process.communicate("", timeout=30)


def cli(*args: str, settings: Settings, **env: str) -> subprocess.CompletedProcess:
    base = {
        "ANALYTICS_DATA_DIR": str(settings.data_dir),
        "ANALYTICS_APP_DB": str(settings.app_db),
        "ANALYTICS_NOW": NOW,
        "ANALYTICS_TIMEZONE": "Asia/Shanghai",
    }
    return subprocess.run(
        [sys.executable, "-m", "token_analytics", *args],
        cwd=ROOT,
        env={**os.environ, **base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_refuses_an_impostor_and_sends_it_nothing(
    tmp_path: Path, edge_dir: Path, impostor: tuple[subprocess.Popen, Path]
) -> None:
    process, received = impostor
    settings = settings_for(tmp_path, edge_dir)
    with Store.open(settings):  # this process holds the files, like a dashboard whose socket was taken
        for args in (("report", "--account", "acct-a"), ("alerts",), ("ingest",)):
            refused = cli(*args, settings=settings, ANALYTICS_ALERT_WEBHOOKS=SECRET_HOOK)
            assert refused.returncode == 2, (args, refused.stdout)
            assert "forged" not in refused.stdout
            message = refused.stderr.strip()
            assert "\n" not in message, message
            assert f"(pid {process.pid}) is not the dashboard holding" in message
            assert f"(pid {os.getpid()})" in message and "nothing was sent" in message
    assert received.read_bytes() == b""  # not even the request: `alerts` would have handed over the webhook key


def test_the_dashboard_says_when_it_cannot_listen_and_tries_again(
    tmp_path: Path,
    edge_dir: Path,
    impostor: tuple[subprocess.Popen, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    process, _ = impostor
    monkeypatch.setattr(service, "RETRY_S", 0.2)
    settings = settings_for(tmp_path, edge_dir)
    with Store.open(settings) as store, caplog.at_level(logging.WARNING, logger=service.__name__):
        answering = service.start(store)
        try:
            assert not answering.serving
            assert answering.problem == (
                f"another process (pid {process.pid}, uid {os.getuid()}) already listens on "
                f"{service.socket_path(settings)}"
            )
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1 and "not answering command-line requests" in warnings[0]
            time.sleep(1.0)  # five more tries: the same reason is logged once
            assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
            process.communicate("", timeout=30)  # the impostor leaves; its socket file stays behind
            assert service.socket_path(settings).exists()
            deadline = time.monotonic() + 20
            while not answering.serving and time.monotonic() < deadline:
                time.sleep(0.05)
            assert answering.serving and answering.problem is None
            report = cli("report", "--account", "acct-a", settings=settings)
            assert report.returncode == 0, report.stderr
            expected = analysis_figures(store, "acct-a", settings.now(), "saas").to_json()
            assert json.loads(report.stdout) == json.loads(json.dumps(expected))
        finally:
            answering.close()
        assert not service.socket_path(settings).exists()  # removed on close


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder everyone may enter (tmp_path's parents are 0700), so only the socket's own folder stops others."""
    path = Path(tempfile.mkdtemp(prefix="ta-sock-", dir="/tmp"))
    path.chmod(0o1777)  # like /tmp: anyone may create here
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


def in_child(action) -> str:  # type: ignore[no-untyped-def]
    """Run `action()` in a forked child and return what it returns (a short text), through a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            result = str(action())
        except BaseException as exc:  # reported to the parent as text
            result = f"{type(exc).__name__}: {exc}"
        os.write(write_end, result.encode()[:4000])
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    return text


def become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def ask(path: Path) -> str:
    """Connect to the socket at `path`, send a report request, return the reply line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        return send_report_request(sock)


def send_report_request(sock: socket.socket) -> str:
    """Send a report request on a connected socket; the reply line (a refusal may come before it is read)."""
    try:
        sock.sendall(json.dumps({"op": "report", "account": "acct-a"}).encode() + b"\n")
    except BrokenPipeError:  # the dashboard refused and closed without reading: its reply is already here
        pass
    return sock.makefile("rb").readline().decode().strip()


needs_root = pytest.mark.skipif(os.getuid() != 0, reason="simulating another user needs root (os.setuid)")


@needs_root
def test_another_user_cannot_reach_the_dashboard(shared_dir: Path, edge_dir: Path) -> None:
    settings = settings_for(shared_dir, edge_dir)
    path = service.socket_path(settings)
    assert len(str(path)) <= service.MAX_SUN_PATH
    with Store.open(settings) as store:
        answering = service.start(store)
        try:
            assert answering.serving
            assert (path.parent.stat().st_mode & 0o777) == 0o700
            # the folder stops another user before the dashboard sees it
            assert in_child(lambda: (become_nobody(), ask(path))[1]).startswith("PermissionError")
            # were the folder and file open to everyone, the dashboard itself still refuses another user
            path.parent.chmod(0o755)
            path.chmod(0o777)
            reply = json.loads(in_child(lambda: (become_nobody(), ask(path))[1]))
            assert reply == {"ok": False, "error": "only the user running the dashboard may ask it"}
            # and answers its own user
            assert json.loads(in_child(lambda: ask(path)))["ok"] is True
        finally:
            answering.close()


@needs_root
def test_a_socket_of_another_user_is_refused_on_both_sides(
    shared_dir: Path, edge_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user makes the socket's folder first (the cache's folder lets anyone create): neither end uses it."""
    settings = settings_for(shared_dir, edge_dir)
    path = service.socket_path(settings)
    ready_read, ready_write = os.pipe()
    got_read, got_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the other user's process: listens, counts the bytes it is sent
        try:
            os.close(ready_read)
            os.close(got_read)
            become_nobody()
            path.parent.mkdir(mode=0o755)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(path))
            os.chmod(path, 0o777)
            sock.listen(1)
            os.write(ready_write, b"ready")
            sock.settimeout(30)
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                os.write(got_write, b"no connection")
                raise
            conn.settimeout(10)
            got = b""
            while chunk := conn.recv(65536):
                got += chunk
            os.write(got_write, str(len(got)).encode())
        finally:
            os._exit(0)
    os.close(ready_write)
    os.close(got_write)
    try:
        assert os.read(ready_read, 16) == b"ready"
        monkeypatch.setattr(service, "RETRY_S", 60.0)
        with Store.open(settings) as store:
            answering = service.start(store)
            try:
                assert not answering.serving
                assert answering.problem == f"{path.parent} is not a folder of this user (uid 0); remove it"
                refused = cli("alerts", settings=settings, ANALYTICS_ALERT_WEBHOOKS=SECRET_HOOK)
            finally:
                answering.close()
        assert refused.returncode == 2
        assert refused.stderr.strip() == (
            f"error: The process answering on {path} belongs to another user (uid {NOBODY}); nothing was sent to it. "
            "Stop that process and restart the dashboard."
        )
        with os.fdopen(got_read, "rb") as pipe:
            assert pipe.read() == b"0"
    finally:
        os.close(ready_read)
        os.waitpid(pid, 0)


def test_another_network_namespace_is_refused(tmp_path: Path, edge_dir: Path) -> None:
    settings = settings_for(tmp_path, edge_dir)
    path = service.socket_path(settings)
    clone_newnet = 0x40000000

    def from_another_namespace() -> str:
        if ctypes.CDLL(None, use_errno=True).unshare(clone_newnet) != 0:
            return "skip: " + os.strerror(ctypes.get_errno())
        with service._address(path) as addr, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(addr)
            return send_report_request(sock)

    with Store.open(settings) as store:
        answering = service.start(store)
        try:
            reply = in_child(from_another_namespace)
        finally:
            answering.close()
    if reply.startswith("skip: "):
        pytest.skip(f"cannot make a network namespace here ({reply[6:]})")
    assert json.loads(reply) == {"ok": False, "error": "only processes in the dashboard's network namespace may ask it"}


def test_admin_shows_a_notice_while_the_command_line_cannot_reach_the_dashboard(
    app_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app_env.setattr(service, "RETRY_S", 0.2)
    path = service.socket_path(data.settings())
    path.parent.mkdir(mode=0o700)
    squatter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # listening where the dashboard would
    with service._address(path) as addr:
        squatter.bind(addr)
    squatter.listen(1)
    notice = t("admin.cli_socket_down")
    try:
        at = _signed_in("admin")
        at.switch_page("app_pages/admin.py").run()
        assert not at.exception
        assert [w.value for w in at.warning] == [notice]
    finally:
        squatter.close()
    deadline = time.monotonic() + 20
    while data.cli_service_problem() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    at.run()
    assert not at.exception and notice not in [w.value for w in at.warning]

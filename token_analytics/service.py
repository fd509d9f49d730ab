"""The process that holds the DuckDB files answers `ingest`, `report` and `alerts` for other processes.

DuckDB lets one process open a database file, read-only included. The dashboard keeps both files
open, so a cron `python -m token_analytics ingest`, a `report` or an `alerts` run cannot open them;
instead they send their request to the dashboard over a local socket and the dashboard runs it: the
ingest in its own ingest lock (readers keep their snapshot meanwhile), the report with the page's
function on the page's data, the app's own ledger entries included, and the alerts run with the
webhooks of the command's own setting (ANALYTICS_ALERT_WEBHOOKS where cron runs it).

The socket is a file, `<cache file>.socket/cli.sock`, in a folder beside the cache that only the
dashboard's user may enter (0700). Both ends check the other with SO_PEERCRED: the dashboard answers
only processes of its own user in its own network namespace, and the command line sends nothing
unless the process answering is of its own user and is the one holding the DuckDB files (the pid
DuckDB's lock error names). A dashboard that cannot listen (the folder belongs to someone else,
another process listens there) says so in the log and on /admin, and tries again every RETRY_S.

The protocol: one JSON line each way, a `Request` (its `op` one of `Op`) and a `Reply`; both are frozen
dataclasses whose `to_json` writes only the fields their op uses, so the bytes on the wire are those of
older versions of either end.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import socket
import stat
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb

from token_analytics.accounts.throttle import Throttle
from token_analytics.alerts import rules as alerts
from token_analytics.alerts import webhooks
from token_analytics.appdb import AppDB
from token_analytics.db import StoreError
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.store import Store
from token_analytics.settings import Mode, Settings

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
TIMEOUT_S = 600.0  # an ingest of a large export may take minutes
RETRY_S = 30.0  # how often a dashboard that could not listen tries again
SOCKET_NAME = "cli.sock"
MAX_SUN_PATH = 107  # sockaddr_un's sun_path holds 108 bytes, the terminating NUL included
_LOCK_PID = re.compile(r"\(PID (\d+)\)")  # DuckDB: "Conflicting lock is held in <exe> (PID 1234)"


class Unavailable(Exception):
    """The dashboard cannot listen on its socket; the message is one line for the log and /admin."""


class BadRequest(ValueError):
    """A request line that names no known op; the message is the reply's one-line error."""


class Op(StrEnum):
    """What the command line asks the dashboard to do."""

    INGEST = "ingest"
    REPORT = "report"
    ALERTS = "alerts"
    UNLOCK = "unlock"  # `users unlock NAME` while the dashboard holds the app database


@dataclass(frozen=True)
class Request:
    """One request line. `as_of` is ISO-8601 with its offset; `webhooks` are (kind, url) pairs of the sender's
    own setting (they carry keys: sent only after the peer check); `by` names who unlocks, for the audit log."""

    op: Op
    account: str | None = None
    as_of: str | None = None
    mode: Mode | None = None
    dry_run: bool = False
    webhooks: tuple[tuple[str, str], ...] = ()
    username: str | None = None
    by: str | None = None

    # the fields each op sends, in the order they go on the wire
    FIELDS = {
        Op.INGEST: (),
        Op.REPORT: ("account", "as_of", "mode"),
        Op.ALERTS: ("as_of", "mode", "dry_run", "webhooks"),
        Op.UNLOCK: ("username", "by"),
    }

    def to_json(self) -> str:
        body: dict[str, Any] = {"op": self.op.value}
        for name in self.FIELDS[self.op]:
            value = getattr(self, name)
            body[name] = [list(pair) for pair in value] if name == "webhooks" else value
        return json.dumps(body)

    @classmethod
    def from_json(cls, line: bytes | str) -> Request:
        """The request of a line; BadRequest for an unknown op, ValueError for a field of the wrong shape."""
        data = json.loads(line)
        op = data.get("op") if isinstance(data, dict) else None
        if op not in tuple(Op):
            raise BadRequest(f"unknown request {op!r}")
        pairs = data.get("webhooks") or []
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueError("webhooks must be a list of (kind, url) pairs")
        return cls(
            op=Op(op),
            account=None if data.get("account") is None else str(data["account"]),
            as_of=data.get("as_of") or None,
            mode=Mode(data["mode"]) if data.get("mode") else None,
            dry_run=bool(data.get("dry_run")),
            webhooks=tuple((kind, url) for kind, url in pairs),
            username=data.get("username"),
            by=data.get("by"),
        )

    def moment(self, settings: Settings) -> datetime:
        """`as_of`, else the settings' clock."""
        return datetime.fromisoformat(self.as_of) if self.as_of else settings.now()


@dataclass(frozen=True)
class Reply:
    """One reply line: `ok`, else a one-line `error`; with the ingest's `summary`, the report's `figures`
    (as `report` prints them) or the alerts run's `result` (RunResult.to_json)."""

    ok: bool
    error: str | None = None
    summary: str | None = None
    figures: Any = None
    result: dict[str, Any] | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {"ok": self.ok}
        for name in ("error", "summary", "figures", "result"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return json.dumps(body, default=str)

    @classmethod
    def from_json(cls, line: bytes | str) -> Reply:
        """The reply of a line; an empty line (the dashboard went away) is a reply that is not ok."""
        data = json.loads(line or b"{}")
        return cls(
            ok=bool(data.get("ok")),
            error=data.get("error"),
            summary=data.get("summary"),
            figures=data.get("figures"),
            result=data.get("result"),
        )


def socket_path(settings: Settings) -> Path:
    """The socket file for this cache file, in a 0700 folder beside it."""
    cache = settings.cache_db.resolve()
    return cache.parent / f"{cache.name}.socket" / SOCKET_NAME


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """An address for bind/connect: the path itself, or through an fd of its folder when it is too long."""
    if len(os.fsencode(path)) <= MAX_SUN_PATH:
        yield str(path)
        return
    # /proc/self/fd/N is a short name for the folder whatever its depth (pytest's tmp paths pass 108 bytes)
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _peer(conn: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end, as the kernel saw them at connect/listen time."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


def _same_network_namespace(pid: int) -> bool:
    """True when process `pid` shares this process's network namespace (the abstract socket's old boundary)."""
    try:
        return pid > 0 and os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
    except OSError:
        return False


def lock_holder(settings: Settings) -> int | None:
    """The pid of the process holding the cache (else the app) DuckDB file; None when none does or it is unknown."""
    for path in (settings.cache_db, settings.app_db):
        try:
            duckdb.connect(str(path), read_only=True).close()
        except duckdb.Error as exc:
            found = _LOCK_PID.search(str(exc))
            if found:
                return int(found.group(1))
    return None


def handle(store: Store, request: Request) -> Reply:
    """Run one request on the owner's store."""
    mode = request.mode or store.settings.mode
    if request.op == Op.INGEST:
        return Reply(ok=True, summary=summary_line(store.ingest()))
    if request.op == Op.REPORT:
        if request.account is None:
            raise KeyError("account")
        if request.account not in store.account_ids():  # as the command on its own: one line, exit 2
            return Reply(ok=False, error=f"there is no account {request.account!r}")
        return Reply(
            ok=True, figures=analysis_figures(store, request.account, request.moment(store.settings), mode).to_json()
        )
    if request.op == Op.ALERTS:
        now = request.moment(store.settings)
        receivers = webhooks.receivers_from(request.webhooks)
        store.ingest()  # like the command on its own: the cache is brought up to date first
        app = AppDB(store.cursor(), zone=store.settings.zone)
        result = alerts.run(store, app.alerts, receivers, now, mode, dry_run=request.dry_run)
        return Reply(ok=True, result=result.to_json())
    username, by = request.username, request.by  # Op.UNLOCK
    if not isinstance(username, str) or not username.strip() or not isinstance(by, str):
        return Reply(ok=False, error="unlock needs a username")
    Throttle(store.cursor()).unlock("username", username, by[:100], datetime.now(tz=UTC))
    return Reply(ok=True)


def summary_line(summary: Any) -> str:
    return (
        f"read {len(summary.read)} files ({summary.rows_read:,} rows), {summary.unchanged} unchanged, "
        f"{len(summary.removed)} removed, {len(summary.retry_later)} changing (retried next time) "
        f"in {summary.seconds:.2f} s"
    )


def _own_folder(folder: Path) -> None:
    """Make the socket's folder, or check it: a folder (no link) of this user that no one else may enter."""
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise Unavailable(f"cannot make {folder} ({exc.strerror})") from exc
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise Unavailable(f"{folder} is not a folder of this user (uid {os.getuid()}); remove it")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(folder, 0o700)


def _listen(path: Path) -> tuple[socket.socket, int]:
    """A listening socket at `path` and the inode of its file; Unavailable (one line) otherwise."""
    _own_folder(path.parent)
    with _address(path) as addr:
        if os.path.lexists(path):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise Unavailable(f"{path} exists and is not a socket; remove it")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(2.0)
                try:
                    probe.connect(addr)
                except ConnectionRefusedError:  # nobody listens: left by a dashboard that stopped
                    os.unlink(path)
                except OSError as exc:  # a full backlog times out: someone listens, without answering
                    raise Unavailable(f"a process listens on {path} but does not answer ({exc})") from exc
                else:
                    pid, uid = _peer(probe)
                    raise Unavailable(f"another process (pid {pid}, uid {uid}) already listens on {path}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(addr)
            sock.listen(8)
        except OSError as exc:
            sock.close()
            raise Unavailable(f"cannot listen on {path} ({exc.strerror})") from exc
    return sock, os.lstat(path).st_ino


class Service:
    """A daemon thread answering requests on the store's socket (one thread per connection).

    When it cannot listen it keeps trying every `retry_s`; `problem` says why meanwhile (None: serving).
    """

    def __init__(self, store: Store, retry_s: float | None = None) -> None:
        self.store = store
        self.path = socket_path(store.settings)
        self.retry_s = RETRY_S if retry_s is None else retry_s
        self.problem: str | None = None
        self._sock: socket.socket | None = None
        self._inode = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._try_listen()  # at once, so a command run right after start finds it
        self._thread = threading.Thread(target=self._run, name="cli-service", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # a thread left blocked in accept() would outlive the DuckDB connection

    @property
    def serving(self) -> bool:
        return self._sock is not None

    def _try_listen(self) -> bool:
        with self._lock:
            if self._stop.is_set():
                return False
            try:
                self._sock, self._inode = _listen(self.path)
            except Unavailable as exc:
                if str(exc) != self.problem:  # once per distinct reason, not every retry
                    log.warning("not answering command-line requests (trying again every %g s): %s", self.retry_s, exc)
                self.problem = str(exc)
                return False
            if self.problem is not None:
                log.warning("answering command-line requests on %s again", self.path)
            self.problem = None
            return True

    def _run(self) -> None:
        while self._sock is None:
            if self._stop.wait(self.retry_s) or self._try_listen():
                break
        sock = self._sock
        while sock is not None and not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(conn,), name="cli-request", daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                pid, uid = _peer(conn)
                if uid != os.getuid():
                    reply = Reply(ok=False, error="only the user running the dashboard may ask it")
                elif not _same_network_namespace(pid):
                    reply = Reply(ok=False, error="only processes in the dashboard's network namespace may ask it")
                else:
                    reply = handle(self.store, Request.from_json(_read_line(conn)))
            except BadRequest as exc:
                reply = Reply(ok=False, error=str(exc))
            except Exception as exc:  # the caller gets one line; the traceback stays in this log
                log.exception("a request from the command line failed")
                reply = Reply(ok=False, error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            try:
                conn.sendall(reply.to_json().encode() + b"\n")
            except OSError:
                log.warning("the command line left before its answer")

    def close(self) -> None:
        """Stop answering (or trying to), remove the socket file, end the thread; the store stays open."""
        atexit.unregister(self.close)  # the registry would otherwise keep every closed service and its store
        with self._lock:
            self._stop.set()
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread (close alone does not)
            except OSError:
                pass
            sock.close()
            with contextlib.suppress(OSError):
                if os.lstat(self.path).st_ino == self._inode:  # ours, not a later dashboard's
                    os.unlink(self.path)
        self._thread.join(timeout=5)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError("request too long")
    return data


def start(store: Store) -> Service:
    """Answer other processes' requests for this store, now or, when it cannot listen yet, once it can."""
    return Service(store)


def request(settings: Settings, payload: Request) -> Reply:
    """Send one request to the process holding the files, once it is known to be that process; else StoreError."""
    path = socket_path(settings)
    holder = lock_holder(settings)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT_S)
        try:
            with _address(path) as addr:
                sock.connect(addr)
        except OSError as exc:
            raise StoreError(
                f"The database {settings.cache_db.name} is in use by a process that does not answer requests; "
                "stop it or point ANALYTICS_APP_DB elsewhere."
            ) from exc
        _check_peer(sock, settings, path, holder)  # before a byte is sent: a request may carry webhook keys
        sock.sendall(payload.to_json().encode() + b"\n")
        reply = Reply.from_json(_read_line(sock))
    if not reply.ok:
        raise StoreError(f"The running dashboard could not do it: {reply.error or 'no answer'}.")
    return reply


def _check_peer(sock: socket.socket, settings: Settings, path: Path, holder: int | None) -> None:
    """StoreError (one line) unless the answering process is of this user and holds the DuckDB files."""
    pid, uid = _peer(sock)
    if uid != os.getuid():
        raise StoreError(
            f"The process answering on {path} belongs to another user (uid {uid}); nothing was sent to it. "
            "Stop that process and restart the dashboard."
        )
    if holder is None:
        raise StoreError(
            f"Cannot tell which process holds {settings.cache_db.name}, so the one answering on {path} "
            f"(pid {pid}) cannot be trusted; nothing was sent. Run the command again."
        )
    if pid != holder:
        raise StoreError(
            f"The process answering on {path} (pid {pid}) is not the dashboard holding "
            f"{settings.cache_db.name} (pid {holder}); nothing was sent. Stop pid {pid} and restart the dashboard."
        )

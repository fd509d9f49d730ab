"""The process that holds the DuckDB files answers `ingest`, `report` and `alerts` for other processes.

DuckDB lets one process open a database file, read-only included. The dashboard keeps both files
open, so a cron `python -m token_analytics ingest`, a `report` or an `alerts` run cannot open them;
instead they send their request to the dashboard over a local socket and the dashboard runs it: the
ingest in its own ingest lock (readers keep their snapshot meanwhile), the report with the page's
function on the page's data, the app's own ledger entries included, and the alerts run with the
webhooks of the command's own setting (ANALYTICS_ALERT_WEBHOOKS where cron runs it).

The socket lives in Linux's abstract namespace (no file to clean up, no path-length limit), named
after the cache file, and only a process of the same user is answered (SO_PEERCRED).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import socket
import struct
import threading
from datetime import datetime
from typing import Any

from token_analytics.engine.store import Store, StoreError
from token_analytics.settings import Settings

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
TIMEOUT_S = 600.0  # an ingest of a large export may take minutes


def address(settings: Settings) -> str:
    """The abstract socket name for this cache file."""
    digest = hashlib.sha256(str(settings.cache_db.resolve()).encode()).hexdigest()[:24]
    return f"\0token-analytics-{digest}"


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def handle(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """Run one request on the owner's store; the reply is JSON-ready."""
    op = request.get("op")
    if op == "ingest":
        summary = store.ingest()
        return {"ok": True, "summary": summary_line(summary)}
    if op == "report":
        from token_analytics.engine.figures import analysis_figures

        mode = request.get("mode") or store.settings.mode
        now = datetime.fromisoformat(request["as_of"]) if request.get("as_of") else store.settings.now()
        account = str(request["account"])
        if account not in store.account_ids():  # as the command on its own: one line, exit 2
            return {"ok": False, "error": f"there is no account {account!r}"}
        return {"ok": True, "figures": analysis_figures(store, account, now, mode)}
    if op == "alerts":
        from token_analytics.billing.appdb import AppDB
        from token_analytics.engine import alerts, webhooks

        mode = request.get("mode") or store.settings.mode
        now = datetime.fromisoformat(request["as_of"]) if request.get("as_of") else store.settings.now()
        receivers = webhooks.receivers_from(request.get("webhooks") or [])
        store.ingest()  # like the command on its own: the cache is brought up to date first
        app = AppDB(store.cursor(), zone=store.settings.zone)
        result = alerts.run(store, app, receivers, now, mode, dry_run=bool(request.get("dry_run")))
        return {"ok": True, "result": result.to_json()}
    return {"ok": False, "error": f"unknown request {op!r}"}


def summary_line(summary: Any) -> str:
    return (
        f"read {len(summary.read)} files ({summary.rows_read:,} rows), {summary.unchanged} unchanged, "
        f"{len(summary.removed)} removed, {len(summary.retry_later)} changing (retried next time) "
        f"in {summary.seconds:.2f} s"
    )


class Service:
    """A daemon thread answering requests on the store's socket, one connection at a time each."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(address(store.settings))
        self.sock.listen(8)
        self._thread = threading.Thread(target=self._serve, name="cli-service", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # a thread left blocked in accept() would outlive the DuckDB connection

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(conn,), name="cli-request", daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                if _peer_uid(conn) != os.getuid():
                    reply: dict[str, Any] = {"ok": False, "error": "only the user running the dashboard may ask it"}
                else:
                    reply = handle(self.store, json.loads(_read_line(conn)))
            except Exception as exc:  # the caller gets one line; the traceback stays in this log
                log.exception("a request from the command line failed")
                reply = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            try:
                conn.sendall(json.dumps(reply, default=str).encode() + b"\n")
            except OSError:
                log.warning("the command line left before its answer")

    def close(self) -> None:
        """Stop answering and end the serving thread (the store stays open: its owner closes it)."""
        atexit.unregister(self.close)  # the registry would otherwise keep every closed service and its store
        if self.sock.fileno() < 0:
            return
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread (close alone does not)
        except OSError:
            pass
        self.sock.close()
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


def start(store: Store) -> Service | None:
    """Answer other processes' requests for this store; None when another process already does."""
    try:
        return Service(store)
    except OSError as exc:
        log.warning("not answering command-line requests: %s", exc)
        return None


def request(settings: Settings, payload: dict[str, Any]) -> dict[str, Any]:
    """Send one request to the process holding the files; StoreError when none answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT_S)
        try:
            sock.connect(address(settings))
        except OSError as exc:
            raise StoreError(
                f"The database {settings.cache_db.name} is in use by a process that does not answer requests; "
                "stop it or point ANALYTICS_APP_DB elsewhere."
            ) from exc
        sock.sendall(json.dumps(payload).encode() + b"\n")
        reply = json.loads(_read_line(sock) or b"{}")
    if not reply.get("ok"):
        raise StoreError(f"The running dashboard could not do it: {reply.get('error', 'no answer')}.")
    return reply

"""Alert notifications over webhooks: receivers, the message shape of each kind, bounded retries.

Kinds and their bodies (each checked against the vendor's documentation of its incoming webhook):

| kind | body | success |
|---|---|---|
| `json` | the notification as a JSON object (see `generic_body`) | any 2xx |
| `wecom` (企业微信 group robot) | `{"msgtype": "text", "text": {"content": ...}}` | 2xx and `errcode` 0 |
| `dingtalk` (custom robot) | `{"msgtype": "text", "text": {"content": ...}}` | 2xx and `errcode` 0 |
| `feishu` (custom bot) | `{"msg_type": "text", "content": {"text": ...}}` | 2xx and `code` (or `StatusCode`) 0 |
| `slack` (incoming webhook) | `{"text": ...}` | any 2xx |

WeCom, DingTalk and Feishu answer HTTP 200 with an error code in the body (a bad key, a missing
keyword), so the body is read. A send never raises: it returns a `Delivery` with the error.

A post has a deadline for all its tries (`POST_DEADLINE_S`): a socket timeout bounds each read,
not the whole answer, so a receiver that sends one byte a second would otherwise hold the run
without limit. Each read and write is given only the time the post has left. Redirects are not
followed: a webhook URL carries its key, and a receiver that moved says so in the delivery error.
Error texts never carry the URL's path or query (where the keys are).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import logging
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from token_analytics.settings import ALERT_WEBHOOK_KINDS, Settings, parse_webhooks

log = logging.getLogger(__name__)

KINDS = ALERT_WEBHOOK_KINDS
TRIES = 3
BACKOFF_S = (0.5, 1.0, 2.0)  # the wait before the 2nd and 3rd try (the 3rd value bounds any longer list)
TIMEOUT_S = 5.0
POST_DEADLINE_S = 20.0  # all tries of one post: 3 x 5 s plus the waits fit, a trickling answer does not
MAX_TEXT = 2000  # WeCom takes at most 2048 bytes of content; the messages are far shorter


@dataclass(frozen=True)
class Receiver:
    """A configured webhook. `key` names it in the app database without its secret (URLs carry the key)."""

    kind: str
    url: str

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:10]
        return f"{self.kind}:{urlsplit(self.url).hostname or '?'}:{digest}"


def receivers(settings: Settings) -> list[Receiver]:
    """The webhooks of ANALYTICS_ALERT_WEBHOOKS (validated when the settings were read)."""
    return [Receiver(kind, url) for kind, url in settings.alert_webhooks]


def receivers_from(pairs: object) -> list[Receiver]:
    """Receivers from (kind, url) pairs another process sent (service.py), checked like the setting."""
    if not isinstance(pairs, list | tuple) or not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
        raise ValueError("webhooks must be a list of (kind, url) pairs")
    checked = [parse_webhooks(f"{kind}={url}") for kind, url in pairs]
    return [Receiver(kind, url) for pair in checked for kind, url in pair]


def generic_body(notification: dict[str, Any], text: str) -> dict[str, Any]:
    """The `json` kind: stable machine-readable keys (like Alertmanager's webhook) plus the text."""
    return {
        "version": "1",
        "status": notification["state"],
        "event_id": notification["event_id"],
        "account_id": notification["account_id"],
        "rule": notification["rule"],
        "value": notification["value"],
        "threshold": notification["threshold"],
        "at": notification["event_at"],
        "detail": notification.get("detail", {}),
        "text": text,
    }


def body_for(kind: str, notification: dict[str, Any], text: str) -> dict[str, Any]:
    """The JSON body a receiver of `kind` expects."""
    text = text[:MAX_TEXT]
    if kind == "json":
        return generic_body(notification, text)
    if kind in ("wecom", "dingtalk"):
        return {"msgtype": "text", "text": {"content": text}}
    if kind == "feishu":
        return {"msg_type": "text", "content": {"text": text}}
    if kind == "slack":
        return {"text": text}
    raise ValueError(f"unknown webhook kind {kind!r}")


def _refusal(kind: str, raw: bytes) -> str | None:
    """The vendor's error in a 2xx answer, or None when it accepted the message."""
    if kind not in ("wecom", "dingtalk", "feishu"):
        return None
    try:
        answer = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"{kind} answered with something that is not JSON"
    if not isinstance(answer, dict):
        return f"{kind} answered with something that is not a JSON object"
    if kind == "feishu":
        code = answer.get("code", answer.get("StatusCode", 0))
        message = answer.get("msg", answer.get("StatusMessage", ""))
    else:
        code, message = answer.get("errcode", 0), answer.get("errmsg", "")
    return None if code == 0 else f"{kind} refused the message: {code} {message}".strip()


@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    error: str | None = None


class DeadlineExceeded(TimeoutError):
    """The post's time is up."""


class _Deadline:
    """The end of one post: each socket operation gets at most the per-try timeout and the time left."""

    def __init__(self, seconds: float, timeout_s: float) -> None:
        self.end = time.monotonic() + seconds
        self.timeout_s = timeout_s

    def left(self) -> float:
        return self.end - time.monotonic()

    def arm(self, sock: socket.socket) -> None:
        left = self.left()
        if left <= 0:
            raise DeadlineExceeded("the post's deadline passed")
        sock.settimeout(min(self.timeout_s, left))


class _TimedSocket(socket.socket):
    """A TCP socket whose every read and write is bounded by the post's deadline."""

    deadline: _Deadline | None = None

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        if self.deadline is not None:
            self.deadline.arm(self)
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        if self.deadline is not None:
            self.deadline.arm(self)
        super().sendall(data, flags)


class _TimedTLSSocket(ssl.SSLSocket):
    """The same for TLS (the handshake is bounded by the timeout set at connect: CPython gives it one deadline)."""

    deadline: _Deadline | None = None

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        if self.deadline is not None:
            self.deadline.arm(self)
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        if self.deadline is not None:
            self.deadline.arm(self)
        super().sendall(data, flags)


def _connect_timed(deadline: _Deadline, address: tuple[str, int], timeout: Any, source: Any = None) -> socket.socket:
    """socket.create_connection, with a _TimedSocket bounded by `deadline`."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _name, target in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = _TimedSocket(family, kind, proto)
        try:
            deadline.arm(sock)
            if source:
                sock.bind(source)
            sock.connect(target)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.deadline = deadline
        return sock
    raise error or OSError(f"no address found for {host}")


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(_connect_timed, deadline)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(_connect_timed, deadline)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()
        if isinstance(self.sock, _TimedTLSSocket):
            self.sock.deadline = self._deadline


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Answers 30x with the HTTPError itself: the body and its key are not re-sent anywhere else."""

    def redirect_request(self, *args: Any) -> None:
        return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.sslsocket_class = _TimedTLSSocket
    return context


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """urllib (it keeps the proxy settings of the environment) with timed connections and no redirects."""

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(functools.partial(_HTTPConnection, deadline=deadline), req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(functools.partial(_HTTPSConnection, deadline=deadline), req, context=_tls_context())

    return urllib.request.build_opener(HTTP, HTTPS, _NoRedirect)


def without_secrets(text: str, url: str) -> str:
    """`text` with the URL's path, query, fragment and user (where webhook keys are) replaced by `…`."""
    split = urlsplit(url)
    pieces = [
        url,
        split.path + ("?" + split.query if split.query else ""),
        split.query,
        split.path,
        split.fragment,
        split.username,
        split.password,
    ]
    for piece in sorted({p for p in pieces if p and len(p) > 1}, key=len, reverse=True):
        text = text.replace(piece, "…")
    return text


def _moved(exc: urllib.error.HTTPError) -> str:
    """A 30x as a delivery error: the status, and where to only by its host (its path and query may hold a key)."""
    where = urlsplit(exc.headers.get("Location") or "").hostname if exc.headers else None
    to = f" to {where}" if where else ""
    return f"HTTP {exc.code} {exc.reason}: the receiver has moved{to}; put its new URL in ANALYTICS_ALERT_WEBHOOKS"


def send(
    receiver: Receiver,
    body: dict[str, Any],
    *,
    tries: int = TRIES,
    timeout_s: float = TIMEOUT_S,
    deadline_s: float = POST_DEADLINE_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `body` with up to `tries` tries (waits from BACKOFF_S between), all within `deadline_s`; never raises."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    deadline = _Deadline(deadline_s, timeout_s)
    opener = _opener(deadline)
    error = "not tried"
    attempt = 0
    for attempt in range(1, tries + 1):
        if attempt > 1:
            wait = BACKOFF_S[min(attempt - 2, len(BACKOFF_S) - 1)]
            if deadline.left() <= wait:
                break
            sleep(wait)
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked to be http(s) in settings)
            receiver.url, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with opener.open(request, timeout=min(timeout_s, max(deadline.left(), 0.001))) as response:
                refusal = _refusal(receiver.kind, response.read(65536))
            if refusal is None:
                return Delivery(True, attempt)
            # A refusal (bad key, missing keyword) will not change on a retry a second later.
            refusal = without_secrets(refusal, receiver.url)
            log.warning("alert webhook %s: %s", receiver.key, refusal)
            return Delivery(False, attempt, refusal)
        except urllib.error.HTTPError as exc:
            error = without_secrets(f"HTTP {exc.code} {exc.reason}", receiver.url)
            if 300 <= exc.code < 400:  # a move is not undone by trying again
                error = without_secrets(_moved(exc), receiver.url)
                log.warning("alert webhook %s: %s", receiver.key, error)
                return Delivery(False, attempt, error)
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                log.warning("alert webhook %s: %s", receiver.key, error)
                return Delivery(False, attempt, error)
        except Exception as exc:  # noqa: BLE001 - a send never raises; any failure is this receiver's error
            reason = getattr(exc, "reason", exc)
            error = without_secrets(f"{type(reason).__name__}: {reason}", receiver.url)
        log.warning("alert webhook %s, try %d of %d: %s", receiver.key, attempt, tries, error)
        if deadline.left() <= 0:
            break
    if deadline.left() <= 0 or attempt < tries:
        error = f"no complete answer within the deadline of {deadline_s:g} s for one post ({error})"
        log.warning("alert webhook %s: %s", receiver.key, error)
    return Delivery(False, attempt, error)

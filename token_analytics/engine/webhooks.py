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
"""

from __future__ import annotations

import hashlib
import json
import logging
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
    """Receivers from (kind, url) pairs another process sent (engine.service), checked like the setting."""
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


def send(
    receiver: Receiver,
    body: dict[str, Any],
    *,
    tries: int = TRIES,
    timeout_s: float = TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `body` with up to `tries` tries (waits from BACKOFF_S between them); never raises."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    error = "not tried"
    for attempt in range(1, tries + 1):
        if attempt > 1:
            sleep(BACKOFF_S[min(attempt - 2, len(BACKOFF_S) - 1)])
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked to be http(s) in settings)
            receiver.url, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (see above)
                refusal = _refusal(receiver.kind, response.read(65536))
            if refusal is None:
                return Delivery(True, attempt)
            # A refusal (bad key, missing keyword) will not change on a retry a second later.
            log.warning("alert webhook %s: %s", receiver.key, refusal)
            return Delivery(False, attempt, refusal)
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code} {exc.reason}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                log.warning("alert webhook %s: %s", receiver.key, error)
                return Delivery(False, attempt, error)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            error = f"{type(reason).__name__}: {reason}"
        log.warning("alert webhook %s, try %d of %d: %s", receiver.key, attempt, tries, error)
    return Delivery(False, tries, error)

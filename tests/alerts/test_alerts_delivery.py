"""Alert delivery under attack and mishap: overlapping runs, slow and redirecting receivers, bad URLs,
changes that happen before any webhook is configured, and what the `alerts` command prints.

Every receiver here is a local server on 127.0.0.1. The export and "now" are those of tests/alerts/test_alerts.py:
acct-money (balance 8,300, 83 days left at the 7-day pace) and acct-over (balance -500, overdrawn).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.alerts import test_alerts as base
from tests.alerts.test_alerts import Hooks, cli_env, now
from tests.apptest import ROOT
from tests.builders import run_command as run_cli
from token_analytics import service
from token_analytics.alerts import rules as alerts
from token_analytics.alerts import webhooks
from token_analytics.alerts.state import Thresholds
from token_analytics.alerts.webhooks import Receiver
from token_analytics.appdb import AppDB
from token_analytics.engine.store import Store
from token_analytics.settings import SettingsError, load_settings

SECRET = "SECRETKEY693"

# the fixtures of tests/alerts/test_alerts.py: its export, an open store, the app database on it, a receiver
store, app, hooks = base.store, base.app, base.hooks


class Slow:
    """A receiver that takes `delay` seconds to answer each POST (200, `ok`), counting them. `arrived` is set when
    a post comes in; while `held` is cleared, each post waits up to HOLD_S before its delay starts (together
    under webhooks.TIMEOUT_S, so the sender never times out and tries again)."""

    HOLD_S = 3.0

    def __init__(self, delay: float) -> None:
        self.posts: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        self.held = threading.Event()
        self.held.set()
        slow = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                slow.arrived.set()
                slow.held.wait(timeout=Slow.HOLD_S)
                time.sleep(delay)
                slow.posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/slack") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow() -> Iterator[Slow]:
    server = Slow(1.0)
    yield server
    server.close()


class Trickle:
    """A receiver that reads the request, then answers one byte of a never-ending header every `every` s."""

    def __init__(self, every: float = 0.2, limit_s: float = 60.0) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.connections = 0
        self.every, self.limit_s = every, limit_s
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                start = time.monotonic()
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while time.monotonic() - start < self.limit_s:
                    conn.sendall(b"a")
                    time.sleep(self.every)
            except OSError:
                return  # the client gave up

    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/json"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def trickle() -> Iterator[Trickle]:
    server = Trickle()
    yield server
    server.close()


class Redirect:
    """A receiver that answers every POST on /hook with `code` to /new?key=SECRET; /new records what reaches it."""

    def __init__(self, code: int) -> None:
        self.reached: list[str] = []
        self.hits = 0
        redirect = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                if self.path.startswith("/new"):
                    redirect.reached.append(self.command)
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"ok")
                    return
                redirect.hits += 1
                self.send_response(code)
                self.send_header("Location", f"http://127.0.0.1:{redirect.port}/new?key={SECRET}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = _any  # noqa: N815 - http.server's names

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def two_alerts(app: AppDB) -> None:
    """acct-money: the balance and the runway alerts start (2 changes)."""
    app.alerts.set_thresholds("acct-money", Thresholds(9_000, 84, None), "manager")


# --- one run at a time --------------------------------------------------------------------------------------


def test_two_overlapping_runs_post_each_change_once(store: Store, slow: Slow) -> None:
    """Two runs in one process (the dashboard answers two cron runs at once): one post per state change."""
    two_alerts(AppDB(store.cursor(), zone=store.settings.zone))
    receivers = [Receiver("slack", slow.url())]
    results: list[alerts.RunResult] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            state = AppDB(store.cursor(), zone=store.settings.zone).alerts
            results.append(alerts.run(store, state, receivers, now, "saas"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.3)
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(body["text"][:40] for body in slow.posts) == sorted(["[FIRING] Token Analytics: account acct-m"] * 2)
    assert len(slow.posts) == 2
    assert sorted(len(r.changes) for r in results) == [0, 2]
    assert sum(len(r.sent) for r in results) == 2
    states = AppDB(store.cursor()).alerts.states()
    assert len(states) == 2  # one event per change, not two


def run_cli_async(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "token_analytics", *args],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def set_over_thresholds() -> None:
    with Store.open(load_settings()) as opened:
        AppDB(opened.cursor()).alerts.set_thresholds("acct-over", Thresholds(1, 1, None), "manager")


@pytest.mark.parametrize("dashboard", [True, False], ids=["dashboard-answers", "no-dashboard"])
def test_two_alerts_processes_at_once_post_each_change_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, slow: Slow, dashboard: bool
) -> None:
    """Two real `alerts` commands, the second started while the first is posting to a slow receiver: acct-over's
    2 changes are posted once each."""
    cli_env(monkeypatch, tmp_path, f"slack={slow.url()}")
    set_over_thresholds()
    holder = Store.open(load_settings()) if dashboard else None
    answering = service.start(holder) if holder else None
    assert Slow.HOLD_S + 1.0 < webhooks.TIMEOUT_S
    slow.held.clear()  # the first command's posts wait (up to 2 x 4 s), so the second starts while the first runs
    try:
        first = run_cli_async("alerts")
        assert slow.arrived.wait(timeout=120), first.communicate(timeout=5)
        second = run_cli_async("alerts")
        if not dashboard:  # the second is refused while the first holds the files: let the first go on after
            second.wait(timeout=120)
        else:  # the dashboard queues the second behind the first; give it a moment to be queued
            time.sleep(0.5)
        slow.held.set()
        outs = [p.communicate(timeout=120) for p in (first, second)]
    finally:
        slow.held.set()
        if answering:
            answering.close()
        if holder:
            holder.close()
    assert len(slow.posts) == 2, outs
    assert sorted(body["text"][:45] for body in slow.posts) == ["[FIRING] Token Analytics: account acct-over: "] * 2
    codes = sorted(p.returncode for p in (first, second))
    if dashboard:  # the dashboard runs them one after the other: the second finds nothing new
        assert codes == [0, 0], outs
        assert sorted(out.splitlines()[-1] for out, _ in outs) == [
            "0 changes, 0 notifications sent, 0 pending",
            "2 changes, 2 notifications sent, 0 pending",
        ]
    else:  # the first holds the files; the second says so in one line
        assert codes == [0, 2], outs
        (refused,) = [err for (_, err), p in zip(outs, (first, second), strict=True) if p.returncode == 2]
        assert refused.count("\n") == 1 and refused.startswith("error: ")


# --- deadlines ----------------------------------------------------------------------------------------------


def test_a_trickling_receiver_is_abandoned_at_the_post_deadline(trickle: Trickle) -> None:
    """One header byte every 0.2 s never trips a 5 s socket timeout; the post's own deadline (1 s here) does."""
    result: list[webhooks.Delivery] = []
    worker = threading.Thread(
        target=lambda: result.append(webhooks.send(Receiver("json", trickle.url()), {}, deadline_s=1.0)),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=30)  # far above the deadline: only a post without one is still running
    assert not worker.is_alive(), "the post was still running 30 s after its 1 s deadline"
    (delivery,) = result
    assert not delivery.ok and "deadline" in (delivery.error or "")
    assert trickle.connections == 1  # no second try after the deadline


def test_a_trickling_receiver_keeps_its_notifications_pending(store: Store, app: AppDB, trickle: Trickle) -> None:
    two_alerts(app)
    receivers = [Receiver("json", trickle.url())]
    done: list[alerts.RunResult] = []
    worker = threading.Thread(
        target=lambda: done.append(alerts.run(store, app.alerts, receivers, now, "saas", post_deadline_s=1.0)),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    (result,) = done
    assert result.sent == [] and len(result.failed) == 1 and result.pending == 2
    assert "deadline" in result.failed[0][2]
    assert app.alerts.receiver_status().iloc[0]["pending"] == 2


def test_the_run_deadline_leaves_the_rest_pending(store: Store, app: AppDB) -> None:
    """Each post takes 1 s; with 1.5 s for the whole run the third is not started and stays pending."""
    two_alerts(app)
    app.alerts.set_thresholds("acct-over", Thresholds(1, None, None), "manager")  # a third change
    deadlines: list[float] = []

    def one_second(receiver: Receiver, body: dict[str, Any], *, deadline_s: float) -> webhooks.Delivery:
        deadlines.append(deadline_s)
        time.sleep(1.0)
        return webhooks.Delivery(True, 1)

    receivers = [Receiver("slack", "http://127.0.0.1:9/slack")]
    result = alerts.run(store, app.alerts, receivers, now, "saas", send=one_second, run_deadline_s=1.5)
    assert len(result.changes) == 3 and len(result.sent) == 2 and result.pending == 1 and result.out_of_time
    assert deadlines[0] == pytest.approx(1.5, abs=0.2)  # the run's time left, below the 20 s of one post
    assert deadlines[1] <= 0.6  # what the run had left when the second post started
    assert result.failed == []  # not started is not failed: the receiver did nothing wrong
    later = alerts.run(store, app.alerts, receivers, now, "saas", send=one_second)
    assert len(later.sent) == 1 and later.pending == 0 and not later.out_of_time
    assert deadlines[2] == webhooks.POST_DEADLINE_S


# --- redirects ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_a_redirect_is_not_followed(code: int) -> None:
    server = Redirect(code)
    try:
        waits: list[float] = []
        delivery = webhooks.send(
            Receiver("json", f"http://127.0.0.1:{server.port}/hook?key=OLD"), {}, sleep=waits.append
        )
    finally:
        server.close()
    assert server.reached == []  # neither the POST nor a GET reached the new address
    assert not delivery.ok and delivery.attempts == 1 and server.hits == 1 and waits == []
    error = delivery.error or ""
    assert f"HTTP {code}" in error and "moved" in error and SECRET not in error and "OLD" not in error


# --- URLs that are not URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [" ", "\t", "\n", "é"])
def test_a_webhook_url_that_cannot_be_sent_is_refused_when_the_setting_is_read(bad: str) -> None:
    value = f"slack=http://h/x,wecom=https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={SECRET}{bad}x"
    with pytest.raises(SettingsError) as refused:
        load_settings({"ANALYTICS_ALERT_WEBHOOKS": value})
    text = str(refused.value)
    assert text.startswith("ANALYTICS_ALERT_WEBHOOKS: ") and "\n" not in text
    assert "2nd" in text and "wecom" in text
    assert SECRET not in text and "key=" not in text and "qyapi" not in text


def test_a_setting_without_a_kind_does_not_echo_the_url() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"ANALYTICS_ALERT_WEBHOOKS": f"https://qyapi.weixin.qq.com/send?key={SECRET}"})
    assert SECRET not in str(refused.value) and "1st" in str(refused.value)


@pytest.mark.parametrize("port", ["99999", "0", "x1"])
def test_a_bad_port_is_refused_without_the_key(port: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"ANALYTICS_ALERT_WEBHOOKS": f"json=http://h:{port}/x?key={SECRET}"})
    assert str(refused.value) == (
        "ANALYTICS_ALERT_WEBHOOKS: the 1st webhook (json) has a port that is not a number from 1 to 65535."
    )


def test_the_command_refuses_a_bad_url_in_one_line_without_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cli_env(monkeypatch, tmp_path, f"wecom=https://qyapi.weixin.qq.com/send?key={SECRET} x")
    done = subprocess.run(
        [sys.executable, "-m", "token_analytics", "alerts"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert SECRET not in done.stderr + done.stdout and done.stderr.count("\n") == 1


def test_a_failing_receiver_does_not_stop_the_next_one(
    store: Store, app: AppDB, hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    """A receiver whose post raises, and one whose URL http.client refuses: the next receiver still gets both."""
    two_alerts(app)
    broken = Receiver("json", "http://127.0.0.1:9/broken")
    invalid = Receiver("json", f"http://127.0.0.1:9/x y?key={SECRET}")  # bypasses the setting's check
    good = Receiver("slack", hooks.url("/slack"))

    def send(receiver: Receiver, body: dict[str, Any], **kwargs: Any) -> webhooks.Delivery:
        if receiver == broken:
            raise RuntimeError("a bug in one receiver's path")
        return webhooks.send(receiver, body, sleep=lambda _: None, **kwargs)

    result = alerts.run(store, app.alerts, [broken, invalid, good], now, "saas", send=send)
    assert [key for key, _ in result.sent] == [good.key, good.key]
    assert sorted(key for key, _, _ in result.failed) == sorted([broken.key, invalid.key])
    assert len(hooks.received) == 2
    status = app.alerts.receiver_status()
    assert SECRET not in " ".join(str(e) for e in status["last_error"])
    assert SECRET not in caplog.text


# --- changes before any webhook -----------------------------------------------------------------------------


def test_a_change_recorded_without_a_webhook_is_posted_once_one_is_configured(
    store: Store, app: AppDB, hooks: Hooks
) -> None:
    two_alerts(app)
    none = alerts.run(store, app.alerts, [], now, "saas")
    assert len(none.changes) == 2 and none.sent == [] and none.waiting == 2
    receivers = [Receiver("slack", hooks.url("/slack"))]
    later = alerts.run(store, app.alerts, receivers, now, "saas")
    assert later.changes == [] and len(later.sent) == 2 and later.pending == 0 and later.waiting == 0
    assert [body["text"].split(": ")[2][:20] for _, body in hooks.received] == [
        "balance 8,300 tokens",
        "at the last 7 days' ",
    ]
    assert alerts.run(store, app.alerts, receivers, now, "saas").sent == []
    assert len(hooks.received) == 2


def test_a_receiver_added_while_a_change_waits_gets_it_and_a_delivered_change_is_not_replayed(
    store: Store, app: AppDB, hooks: Hooks
) -> None:
    app.alerts.set_thresholds("acct-money", Thresholds(9_000, None, None), "manager")
    first = [Receiver("slack", hooks.url("/slack"))]
    assert len(alerts.run(store, app.alerts, first, now, "saas").sent) == 1
    both = [*first, Receiver("feishu", hooks.url("/feishu"))]
    assert alerts.run(store, app.alerts, both, now, "saas").sent == []  # delivered before feishu was configured
    app.alerts.set_thresholds("acct-money", Thresholds(1_000, None, None), "manager")  # it clears
    cleared = alerts.run(store, app.alerts, both, now, "saas")
    assert sorted(key.split(":")[0] for key, _ in cleared.sent) == ["feishu", "slack"]
    assert [path for path, _ in hooks.received] == ["/slack", "/slack", "/feishu"] or [
        path for path, _ in hooks.received
    ] == ["/slack", "/feishu", "/slack"]


# --- what the command prints --------------------------------------------------------------------------------


def test_the_command_prints_one_truthful_line_per_fact_and_integers_as_integers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hooks: Hooks
) -> None:
    cli_env(monkeypatch, tmp_path, "")
    set_over_thresholds()
    dry = run_cli("alerts", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    both = dry.stdout + dry.stderr
    assert "states recorded" not in both and "nothing sent." not in both
    assert both.count("nothing written or sent") == 1 and dry.stderr == ""
    assert dry.stdout.endswith(
        "2 changes, 0 notifications would be sent, 2 waiting for a webhook (dry run: nothing written or sent)\n"
    )
    assert "would notify firing acct-over balance: value -500, threshold 1\n" in dry.stdout
    assert "would notify firing acct-over runway: value 0, threshold 1\n" in dry.stdout
    recorded = run_cli("alerts")
    assert recorded.returncode == 0, recorded.stderr
    assert "notify firing acct-over balance: value -500, threshold 1\n" in recorded.stdout
    assert recorded.stderr == (
        "alerts: no webhook is configured (ANALYTICS_ALERT_WEBHOOKS); 2 state changes wait and are sent once one is.\n"
    )
    monkeypatch.setenv("ANALYTICS_ALERT_WEBHOOKS", f"slack={hooks.url('/slack')}")
    sent = run_cli("alerts")
    assert sent.returncode == 0, sent.stderr
    assert "0 changes, 2 notifications sent, 0 pending" in sent.stdout and len(hooks.received) == 2


def test_an_error_text_loses_every_part_of_the_url_that_may_hold_a_key() -> None:
    url = f"https://bot:{SECRET}P@hooks.example/services/T0/{SECRET}S?key={SECRET}Q#{SECRET}F"
    text = f"InvalidURL: can't post to '{url}' nor '/services/T0/{SECRET}S?key={SECRET}Q' nor {SECRET}P"
    cleaned = webhooks.without_secrets(text, url)
    assert SECRET not in cleaned and cleaned.startswith("InvalidURL: can't post to '…'")

"""Alerts on a hand-built export: thresholds with hand-computed answers, state changes, webhooks.

Zone Asia/Shanghai; now is Sunday 29 Nov 2026, 10:00 local. The 30 complete local days before
today are 30 Oct .. 28 Nov; the 7 complete days are 22 .. 28 Nov.

* acct-spike: 100 tokens on each of the 15 days 14 .. 28 Nov, nothing on the 15 days 30 Oct .. 13 Nov
  (30 values: fifteen 0 and fifteen 100, an even count, median (0 + 100) / 2 = 50), 160 tokens today.
* acct-money: RECHARGE 10,000 on 1 Oct; CONSUME -1,000 on 5 Nov and -700 on 25 Nov. Balance 8,300;
  burn at the 7-day pace 700 / 7 = 100 a day, so floor(8,300 / 100) = 83 days left. Usage: none.
* acct-quiet: no usage on any of the 30 days (median 0), 50 tokens today; RECHARGE 100, no CONSUME.
* acct-over: CONSUME -500 only: balance -500, overdrawn (0 days left).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests import builders as b
from tests.builders import run_command as run_cli
from tests.builders import tx, utc
from tests.conftest import settings_for
from token_analytics import cli, service
from token_analytics.accounts.audit import AuditLog
from token_analytics.alerts import rules as alerts
from token_analytics.alerts import webhooks
from token_analytics.alerts.state import Thresholds
from token_analytics.alerts.webhooks import Receiver
from token_analytics.appdb import AppDB
from token_analytics.db.appfile import AppDBError
from token_analytics.engine.store import Store
from token_analytics.settings import SettingsError, load_settings

NOW = "2026-11-29T10:00:00+08:00"
now = datetime.fromisoformat(NOW)
ACCOUNTS = ("acct-spike", "acct-money", "acct-quiet", "acct-over")


def write_export(root: Path) -> Path:
    b.accounts(
        root,
        "accounts/accounts.parquet",
        [
            {
                "account_id": account,
                "account_name": account,
                "owner_name": "Owner",
                "plan": "pro",
                "created_at": utc("2026-09-01T00:00:00+00:00"),
            }
            for account in ACCOUNTS
        ],
    )
    rows = [
        b.ev(f"s{day}", "acct-spike", "u1", "agent", utc(f"2026-11-{day:02d}T12:00:00+08:00"), 100)
        for day in range(14, 29)
    ]
    rows += [
        # today 160, in two events; one just after local midnight (16:00 UTC the day before)
        b.ev("t1", "acct-spike", "u1", "agent", utc("2026-11-29T00:00:00+08:00"), 60),
        b.ev("t2", "acct-spike", "u1", "agent", utc("2026-11-29T09:00:00+08:00"), 100),
        # 29 Oct is outside the 30 days: it would move the median if it counted
        b.ev("old", "acct-spike", "u1", "agent", utc("2026-10-29T12:00:00+08:00"), 100),
        b.ev("q1", "acct-quiet", "u1", "agent", utc("2026-11-29T08:00:00+08:00"), 50),
    ]
    b.events(root, "usage_events/part-0.parquet", rows)
    b.transactions(
        root,
        "transactions/part-0.parquet",
        [
            tx("m1", "acct-money", "RECHARGE", 10_000, utc("2026-10-01T09:00:00+08:00"), "ALIPAY"),
            tx("m2", "acct-money", "CONSUME", -1_000, utc("2026-11-05T09:00:00+08:00")),
            tx("m3", "acct-money", "CONSUME", -700, utc("2026-11-25T09:00:00+08:00")),
            tx("q1", "acct-quiet", "RECHARGE", 100, utc("2026-10-01T09:00:00+08:00"), "WECHAT"),
            tx("o1", "acct-over", "CONSUME", -500, utc("2026-11-20T09:00:00+08:00")),
        ],
    )
    return root


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    data = write_export(tmp_path / "export")
    opened = Store.open(settings_for(tmp_path, data, ANALYTICS_NOW=NOW))
    yield opened
    opened.close()


@pytest.fixture
def app(store: Store) -> AppDB:
    return AppDB(store.cursor(), zone=store.settings.zone)


def by_rule(conditions: list[alerts.Condition]) -> dict[str, alerts.Condition]:
    return {c.rule: c for c in conditions}


# --- thresholds with hand-computed answers ----------------------------------------------------------


def test_median_of_an_even_and_an_odd_count() -> None:
    assert alerts.median_of([0] * 15 + [100] * 15) == 50.0
    assert alerts.median_of([5, 1, 3]) == 3.0
    assert alerts.median_of([7, 0, 0, 2]) == 1.0  # sorted 0 0 2 7: (0 + 2) / 2
    spike = alerts.spike_condition("a", [5, 1, 3], 10, 3.0)  # limit 9
    assert spike.firing and spike.detail["limit"] == 9.0
    assert not alerts.spike_condition("a", [5, 1, 3], 9, 3.0).firing  # above, not at


def test_usage_spike_against_30_days_with_zero_days(store: Store) -> None:
    fires = by_rule(alerts.evaluate(store, "acct-spike", Thresholds(usage_multiple=3), now, "saas"))["usage_spike"]
    # median 50 (fifteen 0 and fifteen 100), limit 3 x 50 = 150, today 160
    assert fires.firing
    assert fires.detail == {"today": 160, "median": 50.0, "limit": 150.0, "days": 30}
    quiet = alerts.evaluate(store, "acct-spike", Thresholds(usage_multiple=3.2), now, "saas")
    assert not quiet[0].firing  # limit 160: today is not above it
    # no baseline: median 0 never fires, whatever today is
    assert not alerts.evaluate(store, "acct-quiet", Thresholds(usage_multiple=1), now, "saas")[0].firing
    # self-hosted: only the usage rule exists
    hosted = alerts.evaluate(store, "acct-spike", Thresholds(1, 1, 3), now, "self-hosted")
    assert [c.rule for c in hosted] == ["usage_spike"] and hosted[0].firing


def test_balance_and_runway_at_the_7_day_pace(store: Store) -> None:
    firing = by_rule(alerts.evaluate(store, "acct-money", Thresholds(8_301, 84, None), now, "saas"))
    assert firing["balance"].firing and firing["balance"].value == 8_300
    assert firing["runway"].firing and firing["runway"].value == 83
    assert firing["runway"].detail["runs_out_on"] == "2027-02-20"  # 29 Nov + 83 days
    at_the_line = by_rule(alerts.evaluate(store, "acct-money", Thresholds(8_300, 83, None), now, "saas"))
    assert not at_the_line["balance"].firing and not at_the_line["runway"].firing
    over = by_rule(alerts.evaluate(store, "acct-over", Thresholds(1, 1, None), now, "saas"))
    assert over["balance"].firing and over["balance"].value == -500
    assert over["runway"].firing and over["runway"].value == 0 and over["runway"].detail["status"] == "overdrawn"
    # no consumption in 7 days: not running out, never fires
    assert not alerts.evaluate(store, "acct-quiet", Thresholds(None, 10_000, None), now, "saas")[0].firing


def test_thresholds_are_checked_and_every_change_is_kept(app: AppDB) -> None:
    assert app.alerts.thresholds("acct-money") == Thresholds()
    first = datetime.fromisoformat("2026-11-28T09:00:00+08:00")
    assert app.alerts.set_thresholds("acct-money", Thresholds(5_000, None, None), "manager", first)
    assert not app.alerts.set_thresholds("acct-money", Thresholds(5_000, None, None), "manager")  # no change
    assert app.alerts.set_thresholds("acct-money", Thresholds(None, 7, 2.5), "admin", now)
    assert app.alerts.thresholds("acct-money") == Thresholds(None, 7, 2.5)
    changes = app.alerts.threshold_changes("acct-money")
    assert changes["changed_by"].tolist() == ["admin", "manager"]
    latest = changes.iloc[0]
    assert latest["old_balance_below"] == 5_000 and latest["runway_days_below"] == 7
    assert latest["usage_multiple"] == 2.5 and latest["changed_at"] == now
    # the shared audit log has each change too, old and new
    logged = AuditLog(app.connection).entries(action="alert.thresholds")
    assert logged["actor"].tolist() == ["admin", "manager"] and set(logged["account_id"]) == {"acct-money"}
    assert json.loads(logged["detail"].iloc[0]) == {
        "old": {"balance_below": 5_000, "runway_days_below": None, "usage_multiple": None},
        "new": {"balance_below": None, "runway_days_below": 7, "usage_multiple": 2.5},
    }
    for bad in (Thresholds(0, None, None), Thresholds(None, -1, None), Thresholds(None, None, float("nan"))):
        with pytest.raises(AppDBError, match="must be"):
            app.alerts.set_thresholds("acct-money", bad, "manager")


# --- a local webhook receiver ---------------------------------------------------------------------------


class Hooks:
    """An HTTP server on 127.0.0.1 that records each POST and answers like the vendor of its path."""

    ANSWERS = {
        "/wecom": b'{"errcode":0,"errmsg":"ok"}',
        "/dingtalk": b'{"errcode":0,"errmsg":"ok"}',
        "/feishu": b'{"code":0,"msg":"success","data":{}}',
        "/slack": b"ok",
        "/json": b"",
        "/refuse": b'{"errcode":310000,"errmsg":"keywords not in content"}',
    }

    def __init__(self, port: int = 0) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hooks.received.append((self.path, json.loads(body)))
                answer = hooks.ANSWERS.get(self.path)
                self.send_response(200 if answer is not None else 500)
                self.end_headers()
                self.wfile.write(answer or b"down")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    server = Hooks()
    yield server
    server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def no_wait_send(waits: list[float]) -> Any:
    def send(receiver: Receiver, body: dict[str, Any], deadline_s: float) -> webhooks.Delivery:
        return webhooks.send(receiver, body, sleep=waits.append, timeout_s=2, deadline_s=deadline_s)

    return send


def test_each_kind_gets_its_documented_shape(store: Store, app: AppDB, hooks: Hooks) -> None:
    app.alerts.set_thresholds("acct-money", Thresholds(9_000, None, None), "manager")
    receivers = [Receiver(kind, hooks.url(f"/{kind}")) for kind in webhooks.KINDS]
    result = alerts.run(store, app.alerts, receivers, now, "saas")
    assert len(result.sent) == 5 and result.failed == [] and result.pending == 0
    got = dict(hooks.received)
    text = "[FIRING] Token Analytics: account acct-money: balance 8,300 tokens is below the threshold of 9,000."
    assert got["/wecom"] == {"msgtype": "text", "text": {"content": text}}
    assert got["/dingtalk"] == {"msgtype": "text", "text": {"content": text}}
    assert got["/feishu"] == {"msg_type": "text", "content": {"text": text}}
    assert got["/slack"] == {"text": text}
    generic = got["/json"]
    assert {k: generic[k] for k in ("version", "status", "account_id", "rule", "value", "threshold", "text")} == {
        "version": "1",
        "status": "firing",
        "account_id": "acct-money",
        "rule": "balance",
        "value": 8_300.0,
        "threshold": 9_000.0,
        "text": text,
    }
    assert datetime.fromisoformat(generic["at"]) == now and generic["detail"] == {"balance": 8_300}


def test_once_when_it_starts_never_while_active_once_when_it_clears(store: Store, app: AppDB, hooks: Hooks) -> None:
    receivers = [Receiver("slack", hooks.url("/slack"))]
    app.alerts.set_thresholds("acct-money", Thresholds(9_000, 84, None), "manager")
    first = alerts.run(store, app.alerts, receivers, now, "saas")
    assert [(c.rule, c.state) for c in first.changes] == [("balance", "firing"), ("runway", "firing")]
    assert len(hooks.received) == 2
    for later in (now + timedelta(minutes=5), now + timedelta(hours=1)):
        again = alerts.run(store, app.alerts, receivers, later, "saas")
        assert again.changes == [] and again.sent == []
    assert len(hooks.received) == 2
    # the balance threshold drops below the balance: that alert clears; the runway one stays
    app.alerts.set_thresholds("acct-money", Thresholds(1_000, 84, None), "manager")
    cleared = alerts.run(store, app.alerts, receivers, now, "saas")
    assert [(c.rule, c.state) for c in cleared.changes] == [("balance", "resolved")]
    assert hooks.received[-1][1] == {
        "text": "[RESOLVED] Token Analytics: account acct-money: balance is back above the alert threshold."
    }
    # switching the runway rule off clears it too, once
    app.alerts.set_thresholds("acct-money", Thresholds(1_000, None, None), "manager")
    assert [(c.rule, c.state) for c in alerts.run(store, app.alerts, receivers, now, "saas").changes] == [
        ("runway", "resolved")
    ]
    assert alerts.run(store, app.alerts, receivers, now, "saas").changes == []
    assert len(hooks.received) == 4
    states = app.alerts.states()
    assert {key: row["state"] for key, row in states.items()} == {
        ("acct-money", "balance"): "resolved",
        ("acct-money", "runway"): "resolved",
    }


def test_a_down_webhook_loses_no_alert(store: Store, app: AppDB) -> None:
    port = free_port()  # nothing listens: connection refused
    receivers = [Receiver("json", f"http://127.0.0.1:{port}/json")]
    app.alerts.set_thresholds("acct-money", Thresholds(9_000, None, None), "manager")
    app.alerts.set_thresholds("acct-spike", Thresholds(None, None, 3), "manager")
    waits: list[float] = []
    down = alerts.run(store, app.alerts, receivers, now, "saas", send=no_wait_send(waits))
    assert len(down.changes) == 2 and down.sent == []
    # the first notification tried 3 times with the backoff between; the second not tried this run
    assert len(down.failed) == 1 and waits == [0.5, 1.0] and down.pending == 2
    status = app.alerts.receiver_status().iloc[0]
    assert not status["last_ok"] and status["pending"] == 2 and "Connection" in status["last_error"]
    # meanwhile the spike clears (k raised): its clear waits behind its start
    app.alerts.set_thresholds("acct-spike", Thresholds(None, None, 4), "manager")
    still_down = alerts.run(store, app.alerts, receivers, now, "saas", send=no_wait_send(waits))
    assert [(c.account_id, c.state) for c in still_down.changes] == [("acct-spike", "resolved")]
    assert still_down.pending == 3
    hooks = Hooks(port)  # the receiver is back
    try:
        back = alerts.run(store, app.alerts, receivers, now, "saas")
    finally:
        hooks.close()
    assert back.changes == [] and back.failed == [] and len(back.sent) == 3 and back.pending == 0
    assert [(body["account_id"], body["rule"], body["status"]) for _, body in hooks.received] == [
        ("acct-money", "balance", "firing"),
        ("acct-spike", "usage_spike", "firing"),
        ("acct-spike", "usage_spike", "resolved"),
    ]
    assert app.alerts.receiver_status().iloc[0]["pending"] == 0


def test_a_refusal_in_a_200_answer_is_a_failure_and_not_retried(hooks: Hooks) -> None:
    waits: list[float] = []
    delivery = webhooks.send(Receiver("dingtalk", hooks.url("/refuse")), {"msgtype": "text"}, sleep=waits.append)
    assert not delivery.ok and delivery.attempts == 1 and waits == []
    assert delivery.error == "dingtalk refused the message: 310000 keywords not in content"
    server_error = webhooks.send(Receiver("json", hooks.url("/missing")), {}, sleep=waits.append)
    assert not server_error.ok and server_error.attempts == 3 and waits == [0.5, 1.0]
    assert server_error.error.startswith("HTTP 500")


def test_dry_run_writes_and_sends_nothing(store: Store, app: AppDB, hooks: Hooks) -> None:
    receivers = [Receiver("slack", hooks.url("/slack"))]
    app.alerts.set_thresholds("acct-money", Thresholds(9_000, None, None), "manager")
    dry = alerts.run(store, app.alerts, receivers, now, "saas", dry_run=True)
    assert [(c.rule, c.state) for c in dry.changes] == [("balance", "firing")] and dry.pending == 1
    assert hooks.received == [] and app.alerts.states() == {}
    assert len(alerts.run(store, app.alerts, receivers, now, "saas").sent) == 1


# --- settings and the command line ----------------------------------------------------------------------


def test_the_webhook_setting(tmp_path: Path) -> None:
    settings = load_settings(
        {"ANALYTICS_ALERT_WEBHOOKS": " wecom=https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K , slack=http://h/x"}
    )
    assert settings.alert_webhooks == (
        ("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K"),
        ("slack", "http://h/x"),
    )
    assert load_settings({}).alert_webhooks == ()
    with pytest.raises(SettingsError, match="^ANALYTICS_ALERT_WEBHOOKS: the 1st webhook 'teams' is not kind=url"):
        load_settings({"ANALYTICS_ALERT_WEBHOOKS": "teams=https://x"})
    with pytest.raises(SettingsError) as bad_url:
        load_settings({"ANALYTICS_ALERT_WEBHOOKS": "feishu=ftp://secret-key"})
    assert "secret-key" not in str(bad_url.value) and "\n" not in str(bad_url.value)
    key = Receiver("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET").key
    assert key.startswith("wecom:qyapi.weixin.qq.com:") and "SECRET" not in key


def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, webhooks_value: str) -> None:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(write_export(tmp_path / "export")))
    monkeypatch.setenv("ANALYTICS_APP_DB", str(tmp_path / "app.duckdb"))
    monkeypatch.setenv("ANALYTICS_NOW", NOW)
    monkeypatch.setenv("ANALYTICS_TIMEZONE", "Asia/Shanghai")
    monkeypatch.setenv("ANALYTICS_MODE", "saas")
    monkeypatch.setenv("ANALYTICS_ALERT_WEBHOOKS", webhooks_value)


def set_thresholds(tmp_path: Path) -> None:
    settings = load_settings()
    with Store.open(settings) as opened:
        AppDB(opened.cursor()).alerts.set_thresholds("acct-over", Thresholds(1, None, None), "manager")


def test_the_cli_sends_then_stays_quiet(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hooks: Hooks, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(monkeypatch, tmp_path, f"feishu={hooks.url('/feishu')}")
    set_thresholds(tmp_path)
    assert cli.main(["alerts", "--dry-run"]) == 0
    assert "would notify firing acct-over balance" in capsys.readouterr().out and hooks.received == []
    assert cli.main(["alerts"]) == 0
    out = capsys.readouterr().out
    assert "notify firing acct-over balance: value -500, threshold 1" in out
    assert "1 changes, 1 notifications sent, 0 pending" in out
    assert hooks.received == [
        (
            "/feishu",
            {
                "msg_type": "text",
                "content": {
                    "text": "[FIRING] Token Analytics: account acct-over: "
                    "balance -500 tokens is below the threshold of 1."
                },
            },
        )
    ]
    assert cli.main(["alerts"]) == 0
    assert "0 changes, 0 notifications sent, 0 pending" in capsys.readouterr().out


def test_the_cli_exits_1_while_a_webhook_is_down(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(monkeypatch, tmp_path, f"json=http://127.0.0.1:{free_port()}/json")
    monkeypatch.setattr(webhooks, "BACKOFF_S", (0.0, 0.0, 0.0))
    set_thresholds(tmp_path)
    assert cli.main(["alerts"]) == 1
    captured = capsys.readouterr()
    assert "its notifications stay pending for the next run" in captured.err
    assert "1 changes, 0 notifications sent, 1 pending" in captured.out


def test_the_cli_fails_in_one_line_while_a_process_that_does_not_answer_holds_the_app_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(monkeypatch, tmp_path, "")
    set_thresholds(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()",
            str(tmp_path / "app.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert cli.main(["alerts"]) == 2
    finally:
        holder.communicate("", timeout=60)
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: The database ") and "does not answer requests" in err and "\n" not in err


def test_the_cli_asks_the_running_dashboard_to_evaluate_and_send(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hooks: Hooks
) -> None:
    """With the dashboard holding both files, `alerts` (and --dry-run) runs in the dashboard's process."""
    cli_env(monkeypatch, tmp_path, f"slack={hooks.url('/slack')}")
    set_thresholds(tmp_path)
    dashboard = Store.open(load_settings())  # holds both DuckDB files, like the running dashboard
    answering = service.start(dashboard)
    assert answering is not None
    try:
        dry = run_cli("alerts", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would notify firing acct-over balance: value -500, threshold 1" in dry.stdout
        assert "1 changes, 1 notifications would be sent (dry run: nothing written or sent)" in dry.stdout
        assert hooks.received == [] and AppDB(dashboard.cursor()).alerts.states() == {}
        sent = run_cli("alerts")
        assert sent.returncode == 0, sent.stderr
        assert "notify firing acct-over balance: value -500, threshold 1" in sent.stdout
        assert "1 changes, 1 notifications sent, 0 pending" in sent.stdout
        text = "[FIRING] Token Analytics: account acct-over: balance -500 tokens is below the threshold of 1."
        assert hooks.received == [("/slack", {"text": text})]  # the webhook of the command's own setting
        states = AppDB(dashboard.cursor()).alerts.states()
        assert states[("acct-over", "balance")]["state"] == "firing"
        again = run_cli("alerts")
        assert again.returncode == 0 and "0 changes, 0 notifications sent, 0 pending" in again.stdout
        assert len(hooks.received) == 1
    finally:
        answering.close()
        dashboard.close()

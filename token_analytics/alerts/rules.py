"""Alerts: evaluate an account's thresholds, and the `alerts` run that notifies on each change.

One evaluation function, `evaluate`, serves the /analysis banner and the CLI. Rules:

* `balance`: the SaaS balance (SPEC §4 `remaining`) is below N tokens.
* `runway`: SPEC §8 runway at the **7-day pace** is below D days (`days_left_7d`; an overdrawn
  balance has 0 days left and fires; `not_running_out` never fires).
* `usage_spike`: today's tokens (local day so far) are above k x the median of the daily tokens of
  the 30 complete local days before today, days without usage counted as 0. A median of 0 (no
  usage on most of those days) gives no baseline and never fires.

Balance and runway do not exist in self-hosted mode (usage is unlimited), so only `usage_spike`
is evaluated there. Like Alertmanager, an alert has a state (firing, resolved) and a notification
goes out on each change of state, never on every run: `run` compares with the state kept in the
app database, records the changes with one outbox row per receiver, then delivers everything
pending, so a receiver that was down gets the notification on a later run.

One run at a time per process (`_RUN_LOCK`), and DuckDB lets only one process open the app database,
so two overlapping runs (two cron runs the dashboard answers at once) never post one change twice.
A run has a deadline (`RUN_DEADLINE_S`) and each post its own (webhooks.POST_DEADLINE_S): what is
not sent in time stays pending for the next run.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from token_analytics.alerts import webhooks
from token_analytics.alerts.state import RULES, AlertRule, Alerts, AlertState, Change, Thresholds
from token_analytics.alerts.webhooks import Receiver
from token_analytics.engine import explore
from token_analytics.engine.figures import token_usage
from token_analytics.engine.store import Store
from token_analytics.settings import Mode

log = logging.getLogger(__name__)

BASELINE_DAYS = 30
RUN_DEADLINE_S = 45.0  # the posting of one run: with the evaluation it fits between two cron runs a minute apart
# One run at a time in this process: the process that opens the app database is the only one that may.
_RUN_LOCK = threading.Lock()


class AlertsBusy(RuntimeError):
    """Another run held the lock for longer than a run may take."""


@dataclass(frozen=True)
class Condition:
    """One rule of one account at one moment: its value, the threshold, and whether it fires."""

    account_id: str
    rule: str
    firing: bool
    value: float | None
    threshold: float
    detail: dict[str, Any] = field(default_factory=dict)


def median_of(days: list[int]) -> float:
    """The median of daily tokens (the mean of the two middle values for an even count)."""
    return float(statistics.median(days)) if days else 0.0


def spike_condition(account_id: str, history: list[int], today: int, multiple: float) -> Condition:
    """`usage_spike` from the 30 complete days before today and today's tokens so far."""
    median = median_of(history)
    limit = multiple * median
    return Condition(
        account_id,
        AlertRule.USAGE_SPIKE,
        firing=median > 0 and today > limit,
        value=float(today),
        threshold=multiple,
        detail={"today": today, "median": median, "limit": limit, "days": len(history)},
    )


def evaluate(store: Store, account_id: str, thresholds: Thresholds, now: datetime, mode: str) -> list[Condition]:
    """Every enabled rule of the account at `now`, firing or not (the banner shows the firing ones)."""
    out: list[Condition] = []
    saas = mode == Mode.SAAS
    balance: int | None = None
    if saas and (thresholds.balance_below is not None or thresholds.runway_days_below is not None):
        balance = int(token_usage(store, account_id, mode, 0).remaining or 0)
    if saas and thresholds.balance_below is not None and balance is not None:
        out.append(
            Condition(
                account_id,
                AlertRule.BALANCE,
                firing=balance < thresholds.balance_below,
                value=float(balance),
                threshold=float(thresholds.balance_below),
                detail={"balance": balance},
            )
        )
    if saas and thresholds.runway_days_below is not None and balance is not None:
        runway = explore.runway(store, account_id, balance, now)
        left = runway.days_left_7d
        out.append(
            Condition(
                account_id,
                AlertRule.RUNWAY,
                firing=left is not None and left < thresholds.runway_days_below,
                value=None if left is None else float(left),
                threshold=float(thresholds.runway_days_below),
                detail={
                    "balance": balance,
                    "burn_7d": runway.burn_7d,
                    "status": runway.status_7d,
                    "runs_out_on": runway.runs_out_on_7d,
                },
            )
        )
    if thresholds.usage_multiple is not None:
        today = now.astimezone(store.settings.zone).date()
        days = explore.daily_tokens(store, account_id, today - timedelta(days=BASELINE_DAYS), today)
        out.append(spike_condition(account_id, days[:-1], days[-1], thresholds.usage_multiple))
    return out


def firing(store: Store, state: Alerts, account_id: str, now: datetime, mode: str) -> list[Condition]:
    """The account's alerts firing now (the /analysis banner)."""
    thresholds = state.thresholds(account_id)
    if not thresholds.active:
        return []
    return [c for c in evaluate(store, account_id, thresholds, now, mode) if c.firing]


def message(notification: dict[str, Any]) -> str:
    """The text of a notification, for people (English; the JSON kind also carries the raw values)."""
    account, rule, state = notification["account_id"], notification["rule"], notification["state"]
    detail = notification.get("detail") or {}
    threshold = notification["threshold"]
    if state == AlertState.RESOLVED:
        head = f"[RESOLVED] Token Analytics: account {account}"
        what = {
            AlertRule.BALANCE: "balance is back above the alert threshold",
            AlertRule.RUNWAY: "runway is back above the alert threshold",
            AlertRule.USAGE_SPIKE: "today's usage is back within the alert threshold",
        }[rule]
        return f"{head}: {what}."
    head = f"[FIRING] Token Analytics: account {account}"
    if rule == AlertRule.BALANCE:
        return f"{head}: balance {detail.get('balance', 0):,} tokens is below the threshold of {threshold:,.0f}."
    if rule == AlertRule.RUNWAY:
        if detail.get("status") == "overdrawn":
            return f"{head}: the balance is used up (runway below {threshold:,.0f} days)."
        return (
            f"{head}: at the last 7 days' pace the tokens last {notification['value']:,.0f} more days "
            f"(until {detail.get('runs_out_on')}), below the threshold of {threshold:,.0f} days."
        )
    return (
        f"{head}: today's usage {detail.get('today', 0):,} tokens is above {threshold:g} x the 30-day median "
        f"({detail.get('median', 0):,.1f} tokens a day)."
    )


def changes_for(conditions: list[Condition], previous: dict[tuple[str, str], dict[str, Any]]) -> list[Change]:
    """New states: a firing condition whose alert is not firing, and a firing alert that no longer fires.

    `previous` is every alert's latest state; an alert of an account or rule no longer evaluated
    (thresholds switched off, the account gone) clears.
    """
    now_firing = {(c.account_id, c.rule): c for c in conditions if c.firing}
    out: list[Change] = []
    for key, condition in sorted(now_firing.items()):
        if previous.get(key, {}).get("state") != AlertState.FIRING:
            out.append(Change(*key, AlertState.FIRING, condition.value, condition.threshold, condition.detail))
    by_key = {(c.account_id, c.rule): c for c in conditions}
    for key, state in sorted(previous.items()):
        if state["state"] == AlertState.FIRING and key not in now_firing:
            current = by_key.get(key)
            value = current.value if current else None
            out.append(Change(*key, AlertState.RESOLVED, value, state["threshold"], current.detail if current else {}))
    return out


@dataclass
class RunResult:
    changes: list[Change]
    sent: list[tuple[str, str]]  # (receiver key, event id)
    failed: list[tuple[str, str, str]]  # (receiver key, event id, error)
    pending: int  # notifications still waiting after this run
    waiting: int = 0  # state changes no receiver has had, waiting for a webhook to be configured
    out_of_time: bool = False  # the run's deadline stopped it before every pending notification was tried

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, for a run the dashboard did for the command line (service.py)."""
        return {
            "changes": [asdict(change) for change in self.changes],
            "sent": [list(item) for item in self.sent],
            "failed": [list(item) for item in self.failed],
            "pending": self.pending,
            "waiting": self.waiting,
            "out_of_time": self.out_of_time,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        return cls(
            changes=[Change(**change) for change in data["changes"]],
            sent=[(key, event_id) for key, event_id in data["sent"]],
            failed=[(key, event_id, error) for key, event_id, error in data["failed"]],
            pending=int(data["pending"]),
            waiting=int(data.get("waiting", 0)),
            out_of_time=bool(data.get("out_of_time", False)),
        )


def _deliver(send: Any, receiver: Receiver, body: dict[str, Any], deadline_s: float) -> webhooks.Delivery:
    """`send`, with any exception turned into a failed delivery: one receiver's fault never stops the others."""
    try:
        return send(receiver, body, deadline_s=deadline_s)
    except Exception as exc:  # noqa: BLE001 - reported as this receiver's error, the run goes on
        # no traceback: its lines could quote the URL, and with it the key
        error = webhooks.without_secrets(f"{type(exc).__name__}: {exc}", receiver.url)
        log.warning("alert webhook %s: the post failed: %s", receiver.key, error)
        return webhooks.Delivery(False, 1, error)


def run(
    store: Store,
    state: Alerts,
    receivers: list[Receiver],
    now: datetime,
    mode: str,
    *,
    dry_run: bool = False,
    send: Any = webhooks.send,
    post_deadline_s: float = webhooks.POST_DEADLINE_S,
    run_deadline_s: float = RUN_DEADLINE_S,
) -> RunResult:
    """Evaluate every account with thresholds, record the changes, deliver what is pending.

    A receiver that fails keeps its notifications pending (the next run sends them, in order); it is
    not tried again in this run, so one that is down costs at most one bounded retry sequence.
    Each post ends by `post_deadline_s` and no post starts `run_deadline_s` after the first one
    started; what was not sent stays pending. A run waits for one already running in this process,
    then finds its changes recorded and its notifications sent.
    Dry run: the changes and the pending notifications are computed, nothing is written or sent.
    """
    if dry_run:
        return _run(store, state, receivers, now, mode, True, send, post_deadline_s, run_deadline_s)
    # the run holding the lock posts for at most its deadline; evaluating takes seconds more at most
    if not _RUN_LOCK.acquire(timeout=run_deadline_s + 60):
        raise AlertsBusy("another alerts run is still going; this one did nothing, the next one will catch up")
    try:
        return _run(store, state, receivers, now, mode, False, send, post_deadline_s, run_deadline_s)
    finally:
        _RUN_LOCK.release()


def _run(
    store: Store,
    state: Alerts,
    receivers: list[Receiver],
    now: datetime,
    mode: str,
    dry_run: bool,
    send: Any,
    post_deadline_s: float,
    run_deadline_s: float,
) -> RunResult:
    thresholds = state.all_thresholds()
    known = set(store.account_ids())
    conditions: list[Condition] = []
    for account_id, rules in sorted(thresholds.items()):
        if account_id in known and rules.active:
            conditions.extend(evaluate(store, account_id, rules, now, mode))
    changes = changes_for(conditions, state.states())
    keys = [receiver.key for receiver in receivers]
    if dry_run:
        undelivered = state.undelivered()
        would = {(row["event_id"], row["receiver"]) for row in state.pending(keys)}
        would |= {(event_id, key) for event_id in undelivered for key in keys}
        waiting = 0 if keys else len(undelivered) + len(changes)
        return RunResult(changes, [], [], len(would) + len(changes) * len(keys), waiting)
    state.record_changes(changes, keys, now)
    state.bind(keys, now)
    waiting = 0 if keys else len(state.undelivered())
    sent: list[tuple[str, str]] = []
    failed: list[tuple[str, str, str]] = []
    by_key = {receiver.key: receiver for receiver in receivers}
    down: set[str] = set()
    out_of_time = False
    pending = state.pending(keys)
    # the clock starts with the posting: however long the evaluation takes, some posting gets done
    end = time.monotonic() + run_deadline_s
    for notification in pending:
        key = notification["receiver"]
        if key in down:
            continue
        left = end - time.monotonic()
        if left <= 0:
            out_of_time = True
            log.warning("the alerts run reached its deadline of %g s; the rest stays pending", run_deadline_s)
            break
        receiver = by_key[key]
        notification = {**notification, "event_at": notification["event_at"].isoformat()}
        body = webhooks.body_for(receiver.kind, notification, message(notification))
        delivery = _deliver(send, receiver, body, min(post_deadline_s, left))
        state.record_delivery(notification["event_id"], key, delivery.ok, delivery.attempts, delivery.error)
        if delivery.ok:
            sent.append((key, notification["event_id"]))
        else:
            down.add(key)
            failed.append((key, notification["event_id"], delivery.error or "failed"))
            log.warning("alert notifications to %s stay pending: %s", key, delivery.error)
    return RunResult(changes, sent, failed, len(pending) - len(sent), waiting, out_of_time)


__all__ = ["RULES", "AlertsBusy", "Condition", "RunResult", "evaluate", "firing", "message", "run", "spike_condition"]

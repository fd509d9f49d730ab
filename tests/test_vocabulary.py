"""The typed vocabularies: each defined once, their values the strings the exports and the app database hold,
and every member's label in English and Chinese."""

from __future__ import annotations

from enum import StrEnum

import pytest

from token_analytics.accounts.audit import ACTIONS, KINDS, AuditAction
from token_analytics.alerts.state import RULES, STATES, AlertRule, AlertState
from token_analytics.billing import orders, plan_requests, prices
from token_analytics.billing.orders import OrderKind, OrderStatus
from token_analytics.billing.plan_requests import PlanRequestKind
from token_analytics.engine import ledger, schema
from token_analytics.engine.vocabulary import PaymentMethod, Plan, TxnType
from token_analytics.settings import MODES, Mode, load_settings
from token_analytics.strings import STRINGS

# What the files hold: changing one of these strings needs a migration of every app database and export.
STORED: dict[type[StrEnum], tuple[str, ...]] = {
    Mode: ("saas", "self-hosted"),
    TxnType: ("CONSUME", "RECHARGE", "BONUS", "REFUND", "ADJUSTMENT"),
    PaymentMethod: ("WECHAT", "ALIPAY", "BANK_TRANSFER"),
    Plan: ("free", "pro", "enterprise"),
    OrderKind: ("recharge", "plan"),
    OrderStatus: ("PENDING", "PAID", "CANCELLED"),
    PlanRequestKind: ("upgrade", "enterprise_contact"),
    AuditAction: (
        "sign_in.success", "sign_in.failure", "sign_in.refused", "session.end", "throttle.unlock",
        "transfer.confirm", "transfer.reject", "order.paid", "order.cancel", "plan.change", "plan.request",
        "adjustment.post", "alert.thresholds", "account.switch",
    ),
    AlertRule: ("balance", "runway", "usage_spike"),
    AlertState: ("firing", "resolved"),
}  # fmt: skip
LABELLED = [Mode, TxnType, PaymentMethod, OrderStatus, PlanRequestKind, AuditAction, AlertRule]


@pytest.mark.parametrize("vocabulary", list(STORED), ids=lambda v: v.__name__)
def test_the_values_are_the_stored_strings(vocabulary: type[StrEnum]) -> None:
    assert tuple(member.value for member in vocabulary) == STORED[vocabulary]
    assert all(member == member.value and str(member) == member.value for member in vocabulary)


@pytest.mark.parametrize(
    "member", [m for v in LABELLED for m in v], ids=lambda m: f"{type(m).__name__}.{m.name}"
)  # fmt: skip
def test_every_member_has_its_label_in_english_and_chinese(member: StrEnum) -> None:
    key = member.message_id  # type: ignore[attr-defined]
    assert key in STRINGS, key
    assert STRINGS[key].get("en") and STRINGS[key].get("zh"), key


def test_the_tuples_the_code_checks_against_are_the_enums() -> None:
    assert MODES == tuple(Mode)
    assert ledger.TYPES == tuple(TxnType) and ledger.METHODS == tuple(PaymentMethod)
    assert orders.METHODS == tuple(PaymentMethod) and orders.PLANS == tuple(Plan) == prices.PLAN_IDS
    assert orders.KINDS == tuple(OrderKind) and orders.STATUSES == tuple(OrderStatus)
    assert plan_requests.PLAN_REQUEST_KINDS == tuple(PlanRequestKind)
    assert set(plan_requests.PLAN_REQUEST_PLANS) < set(Plan)
    assert ACTIONS == tuple(AuditAction) and RULES == tuple(AlertRule) and STATES == tuple(AlertState)
    assert {action for kind in KINDS.values() for action in kind} <= set(AuditAction)


def test_the_export_format_lists_the_same_vocabularies() -> None:
    # engine/schema.py's tuples drive the ingest's accepted values; they must not drift from the types.
    assert schema.TXN_TYPES == tuple(TxnType)
    assert schema.PAYMENT_METHODS == tuple(PaymentMethod)
    assert schema.PLANS == tuple(Plan)


def test_settings_carry_the_mode_as_its_type() -> None:
    assert load_settings({"ANALYTICS_MODE": "Self-Hosted"}).mode is Mode.SELF_HOSTED
    assert load_settings({}).mode is Mode.SAAS and load_settings({}).saas

"""The export format's vocabularies as types: transaction type, payment method, plan (SPEC §3).

Billing writes the same values into the app's own ledger and orders, so it imports these rather than
spelling them again. The values are what the exports and the app database hold; a member is its value
(`TxnType.CONSUME == "CONSUME"`), so rows read back compare equal without conversion.
"""

from __future__ import annotations

from enum import StrEnum

from token_analytics.labels import Labelled


class TxnType(Labelled, prefix="txn."):
    """A ledger entry's `type`."""

    CONSUME = "CONSUME"
    RECHARGE = "RECHARGE"
    BONUS = "BONUS"
    REFUND = "REFUND"
    ADJUSTMENT = "ADJUSTMENT"


class PaymentMethod(Labelled, prefix="method."):
    """How a RECHARGE was paid (`payment_method`)."""

    WECHAT = "WECHAT"
    ALIPAY = "ALIPAY"
    BANK_TRANSFER = "BANK_TRANSFER"


class Plan(StrEnum):
    """An account's plan, lowest first."""

    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"

"""Payment providers (SPEC §6): payment links and QR codes, bank-transfer instructions.

The default, and for now only, provider is a sandbox: its links start with
`sandbox://` so no wallet app can pay them, its bank account is fictitious, and
`simulate_payment` stands in for the provider's "paid" callback. A real provider
implements PaymentProvider and is returned by `get_provider`; it must credit an
order only through `Orders.mark_paid`, which credits exactly once.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Protocol

import segno

from token_analytics.billing.orders import Order, Orders
from token_analytics.db.appfile import AppDBError, UnknownOrderError
from token_analytics.engine.vocabulary import PaymentMethod

WALLET_METHODS = (PaymentMethod.WECHAT, PaymentMethod.ALIPAY)


class PaymentError(AppDBError):
    """The provider refused; the message is one sentence a person can act on."""


class PaymentProvider(Protocol):
    """What the recharge and subscription pages need from a payment provider."""

    name: str
    is_sandbox: bool

    def payment_link(self, order: Order) -> str:
        """The link a WECHAT or ALIPAY wallet opens to pay the order."""
        ...

    def qr_png(self, order: Order) -> bytes:
        """The payment link as a QR code, PNG bytes (what `st.image` shows)."""
        ...

    def qr_svg(self, order: Order) -> str:
        """The payment link as a QR code, inline SVG markup."""
        ...

    def bank_instructions(self, order: Order) -> dict[str, str | int]:
        """What to transfer where, with the order's unique reference."""
        ...


def _qr(link: str) -> segno.QRCode:
    # micro=False: phone scanners do not read Micro QR codes, which segno picks for short data.
    return segno.make(link, error="m", micro=False)


class SandboxProvider:
    """A clearly labelled test provider: nothing is charged, a button stands in for payment."""

    name = "Sandbox (test payments, nothing is charged)"
    is_sandbox = True

    def payment_link(self, order: Order) -> str:
        if order.method not in WALLET_METHODS:
            raise PaymentError(
                f"Order {order.order_id} is paid by bank transfer; it has no payment link.",
                "appdb.no_payment_link",
                order=order.order_id,
            )
        return f"sandbox://pay/{order.method.lower()}/{order.order_id}"

    def qr_png(self, order: Order) -> bytes:
        buffer = io.BytesIO()
        _qr(self.payment_link(order)).save(buffer, kind="png", scale=5)
        return buffer.getvalue()

    def qr_svg(self, order: Order) -> str:
        return _qr(self.payment_link(order)).svg_inline(scale=5)

    def bank_instructions(self, order: Order) -> dict[str, str | int]:
        if order.method != PaymentMethod.BANK_TRANSFER:
            raise PaymentError(
                f"Order {order.order_id} is not a bank transfer.", "appdb.not_bank_transfer", order=order.order_id
            )
        return {
            "bank_name": "Sandbox Bank (test only, do not transfer)",
            "account_name": "Token Analytics Center (sandbox)",
            "account_number": "0000 0000 0000 0000",
            "reference": order.reference,
            "amount_cents": order.price_cents,
            "currency": order.currency,
            "amount": f"{order.price_cents // 100:,}.{order.price_cents % 100:02d} {order.currency}",
        }

    def simulate_payment(
        self, appdb: Orders, order_id: str, actor: str = "sandbox", now: datetime | None = None
    ) -> str | None:
        """Pay a WECHAT or ALIPAY order as the provider would; returns the ledger `txn_id` (see mark_paid).

        Bank transfers are refused: only an admin who saw the money arrive may confirm them.
        """
        order = appdb.order(order_id)
        if order is None:
            raise UnknownOrderError(f"There is no order {order_id!r}.", "appdb.unknown_order", order=repr(order_id))
        if order.method not in WALLET_METHODS:
            raise PaymentError(
                "A bank transfer is confirmed by an admin once the money arrives, not by the sandbox.",
                "appdb.transfer_not_simulated",
            )
        return appdb.mark_paid(order_id, actor, now=now)


def get_provider() -> PaymentProvider:
    """The configured payment provider; the sandbox until a real one is plugged in here."""
    return SandboxProvider()

"""Rules an order must meet before it is accepted (ACCOUNTING.md "Numbers", "Cash and buying power")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from portfolio.domain.fills import EXACT, Side, fee_for
from tradingsite.lib.numbers import decimal_str

_PLAIN_DECIMAL = re.compile(r"(?:0|[1-9]\d{0,19})(?:\.\d{1,18})?")


@dataclass
class RuleViolation(Exception):
    """A business rule the order breaks: a stable code, a human message, details for the client."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def parse_quantity(raw: object) -> Decimal:
    """A quantity as clients must send it: a plain positive decimal string, no sign, no exponent,
    at most 18 decimal places ("0.5", never 0.5, "5e-1", "NaN", "Infinity" or "1,5")."""
    if not isinstance(raw, str) or not _PLAIN_DECIMAL.fullmatch(raw):
        raise RuleViolation("quantity_invalid", 'Send the quantity as a plain decimal string, like "0.015".')
    quantity = Decimal(raw)
    if quantity <= 0:
        raise RuleViolation("quantity_not_positive", "The quantity must be greater than zero.")
    return quantity


def check_lot(quantity: Decimal, *, step_size: Decimal, min_qty: Decimal) -> None:
    if quantity < min_qty:
        raise RuleViolation("quantity_below_minimum", f"The minimum quantity is {decimal_str(min_qty)}.",
                            {"min_qty": decimal_str(min_qty)})  # fmt: skip
    with localcontext(EXACT):
        if quantity % step_size != 0:
            raise RuleViolation(
                "quantity_off_step",
                f"The quantity must be a multiple of {decimal_str(step_size)}.",
                {"step_size": decimal_str(step_size)},
            )


def check_notional(quantity: Decimal, price: Decimal, *, min_notional: Decimal) -> None:
    with localcontext(EXACT):
        if quantity * price < min_notional:
            raise RuleViolation(
                "notional_below_minimum",
                f"The order is worth less than the minimum {decimal_str(min_notional)}.",
                {"min_notional": decimal_str(min_notional)},
            )


def reduces(held: Decimal, side: Side, quantity: Decimal) -> bool:
    """The order only makes the open position smaller (never flips it)."""
    return held != 0 and (held > 0) is (side is Side.SELL) and quantity <= held.copy_abs()


def check_size(
    quantity: Decimal, price: Decimal, side: Side, *, held: Decimal, step_size: Decimal, min_qty: Decimal,
    min_notional: Decimal,
) -> None:  # fmt: skip
    """The symbol's lot and notional rules. An order that only reduces the position is exempt from the
    minimums (dust must stay closable), and closing the whole position is always possible."""
    if reduces(held, side, quantity):
        if quantity != held.copy_abs():
            check_lot(quantity, step_size=step_size, min_qty=Decimal(0))
        return
    check_lot(quantity, step_size=step_size, min_qty=min_qty)
    check_notional(quantity, price, min_notional=min_notional)


@dataclass(frozen=True, slots=True)
class PendingOrder:
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal  # its snapshot
    fee_rate: Decimal


def project_pending(
    cash: Decimal, positions: Mapping[str, Decimal], pending: Iterable[PendingOrder]
) -> tuple[Decimal, dict[str, Decimal]]:
    """Cash and positions as they would be once every pending order filled at its snapshot price: what
    a new order's buying power is checked against (as Alpaca counts open orders)."""
    projected = dict(positions)
    with localcontext(EXACT):
        for order in pending:
            projected[order.symbol] = projected.get(order.symbol, Decimal(0)) + order.side.sign() * order.quantity
            cash -= order.side.sign() * order.quantity * order.price + fee_for(
                order.quantity, order.price, order.fee_rate
            )
    return cash, {symbol: quantity for symbol, quantity in projected.items() if quantity}


def check_buying_power(
    *,
    cash: Decimal,
    positions: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    symbol: str,
    side: Side,
    quantity: Decimal,
    fee_rate: Decimal,
    max_leverage: Decimal,
) -> None:
    """After the fill at the snapshot price: gross exposure ≤ equity × max leverage and equity > 0.
    An order that only reduces the position in its symbol is always accepted."""
    before = positions.get(symbol, Decimal(0))
    if reduces(before, side, quantity):
        return
    with localcontext(EXACT):
        after = before + side.sign() * quantity
        price = prices[symbol]
        cash_after = cash - side.sign() * quantity * price - fee_for(quantity, price, fee_rate)
        held = {**positions, symbol: after}
        market_values = [q * prices[s] for s, q in held.items() if q]
        equity = cash_after + sum(market_values, Decimal(0))
        exposure = sum((v.copy_abs() for v in market_values), Decimal(0))
        if equity <= 0 or exposure > equity * max_leverage:
            raise RuleViolation(
                "insufficient_buying_power",
                "Not enough buying power for this order.",
                {"equity_after": decimal_str(equity), "gross_exposure_after": decimal_str(exposure)},
            )

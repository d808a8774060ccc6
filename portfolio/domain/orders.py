"""Rules an order must meet before it is accepted (ACCOUNTING.md "Numbers", "Cash and buying power")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from portfolio.domain.fills import EXACT, Side, fee_for

_PLAIN_DECIMAL = re.compile(r"^(?:0|[1-9]\d{0,19})(?:\.\d{1,18})?$")


@dataclass
class RuleViolation(Exception):
    """A business rule the order breaks: a stable code, a human message, details for the client."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def parse_quantity(raw: object) -> Decimal:
    """A quantity as clients must send it: a plain positive decimal string, no sign, no exponent,
    at most 18 decimal places ("0.5", never 0.5, "5e-1", "NaN", "Infinity" or "1,5")."""
    if not isinstance(raw, str) or not _PLAIN_DECIMAL.match(raw):
        raise RuleViolation("quantity_invalid", 'Send the quantity as a plain decimal string, like "0.015".')
    quantity = Decimal(raw)
    if quantity <= 0:
        raise RuleViolation("quantity_not_positive", "The quantity must be greater than zero.")
    return quantity


def check_lot(quantity: Decimal, *, step_size: Decimal, min_qty: Decimal) -> None:
    if quantity < min_qty:
        raise RuleViolation("quantity_below_minimum", f"The minimum quantity is {min_qty.normalize():f}.",
                            {"min_qty": f"{min_qty.normalize():f}"})  # fmt: skip
    with localcontext(EXACT):
        if quantity % step_size != 0:
            raise RuleViolation(
                "quantity_off_step",
                f"The quantity must be a multiple of {step_size.normalize():f}.",
                {"step_size": f"{step_size.normalize():f}"},
            )


def check_notional(quantity: Decimal, price: Decimal, *, min_notional: Decimal) -> None:
    with localcontext(EXACT):
        if quantity * price < min_notional:
            raise RuleViolation(
                "notional_below_minimum",
                f"The order is worth less than the minimum {min_notional.normalize():f}.",
                {"min_notional": f"{min_notional.normalize():f}"},
            )


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
    with localcontext(EXACT):
        after = before + side.sign() * quantity
        if abs(after) <= abs(before) and after * before >= 0:
            return
        price = prices[symbol]
        cash_after = cash - side.sign() * quantity * price - fee_for(quantity, price, fee_rate)
        held = {**positions, symbol: after}
        market_values = [q * prices[s] for s, q in held.items() if q]
        equity = cash_after + sum(market_values, Decimal(0))
        exposure = sum((abs(v) for v in market_values), Decimal(0))
        if equity <= 0 or exposure > equity * max_leverage:
            raise RuleViolation(
                "insufficient_buying_power",
                "Not enough buying power for this order.",
                {"equity_after": f"{equity:f}", "gross_exposure_after": f"{exposure:f}"},
            )

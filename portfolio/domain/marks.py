"""Valuing open positions at a mark price.

Unrealized PnL follows Alpaca's definitions on signed quantities:
`cost_basis = quantity × avg_entry`, `market_value = quantity × mark`,
`unrealized_pnl = market_value − cost_basis`, `unrealized_pnl_percent = unrealized_pnl / |cost_basis| × 100`.
Products of decimals are exact; quotients (average price, percentages) are rounded half-even to the
places below, which is the only rounding anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

PRICE_QUANTUM = Decimal("1e-10")
PERCENT_QUANTUM = Decimal("1e-4")
ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Holding:
    position_id: int
    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal
    opened_at: datetime

    @property
    def side(self) -> str:
        return "long" if self.quantity > 0 else "short"

    @property
    def avg_entry_price(self) -> Decimal:
        return (self.cost_basis / self.quantity).quantize(PRICE_QUANTUM, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Marked:
    """A holding valued at one mark price."""

    market_value: Decimal
    unrealized_pnl: Decimal
    unrealized_pnl_percent: Decimal


@dataclass(frozen=True, slots=True)
class Totals:
    total_invested: Decimal
    total_market_value: Decimal
    total_unrealized_pnl: Decimal
    total_pnl_percent: Decimal


def mark(holding: Holding, price: Decimal) -> Marked:
    market_value = holding.quantity * price
    unrealized = market_value - holding.cost_basis
    return Marked(market_value, unrealized, percent(unrealized, abs(holding.cost_basis)))


def totals(pairs: Iterable[tuple[Holding, Marked]]) -> Totals:
    invested = market_value = unrealized = ZERO
    for holding, marked in pairs:
        invested += abs(holding.cost_basis)
        market_value += marked.market_value
        unrealized += marked.unrealized_pnl
    return Totals(invested, market_value, unrealized, percent(unrealized, invested))


def percent(part: Decimal, whole: Decimal) -> Decimal:
    if whole == 0:
        return ZERO
    return (part / whole * HUNDRED).quantize(PERCENT_QUANTUM, ROUND_HALF_EVEN)


def decimal_str(value: Decimal) -> str:
    """The JSON form of every number: plain notation, no exponent, no trailing zeros, every digit
    kept. (On the live socket's hot path: str() and trimming is twice as fast as format().)"""
    if value == 0:
        return "0"
    text = str(value)
    if "E" in text:
        text = format(value, "f")  # never normalize(): it rounds to the context's 28 digits
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


@lru_cache(maxsize=16_384)
def price_str(price: Decimal) -> str:
    """decimal_str for prices: one price is shown to every socket holding the symbol."""
    return decimal_str(price)

"""Valuing open positions at a mark price.

Unrealized PnL follows Alpaca's definitions on signed quantities:
`cost_basis = quantity × avg_entry`, `market_value = quantity × mark`,
`unrealized_pnl = market_value − cost_basis`, `unrealized_pnl_percent = unrealized_pnl / |cost_basis| × 100`.
Products of decimals are exact; percentages are rounded half-even to PERCENT_QUANTUM, the only
rounding here. The average entry price is the position's own (portfolio.domain.fills).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

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
    avg_entry_price: Decimal  # stored, never derived from the cost: a reduce does not move it

    @property
    def side(self) -> str:
        return "long" if self.quantity > 0 else "short"


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

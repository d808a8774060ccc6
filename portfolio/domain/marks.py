"""Valuing open positions at a mark price.

Unrealized PnL follows Alpaca's definitions on signed quantities:
`cost_basis = quantity × avg_entry`, `market_value = quantity × mark`,
`unrealized_pnl = market_value − cost_basis`, `unrealized_pnl_percent = unrealized_pnl / |cost_basis| × 100`.
Products and sums are exact (a 60-digit context); percentages are rounded half-even to
PERCENT_QUANTUM from the exact quotient, the only rounding here. The average entry price is the
position's own (portfolio.domain.fills).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from portfolio.domain.fills import EXACT
from portfolio.domain.fixed import decimal_percent

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
    with localcontext(EXACT):
        market_value = holding.quantity * price
        unrealized = market_value - holding.cost_basis
    return Marked(market_value, unrealized, percent(unrealized, holding.cost_basis.copy_abs()))


def totals(pairs: Iterable[tuple[Holding, Marked]]) -> Totals:
    invested = market_value = unrealized = ZERO
    with localcontext(EXACT):
        for holding, marked in pairs:
            invested += holding.cost_basis.copy_abs()
            market_value += marked.market_value
            unrealized += marked.unrealized_pnl
    return Totals(invested, market_value, unrealized, percent(unrealized, invested))


def totals_at(positions: Iterable[tuple[Decimal, Decimal, Decimal]]) -> Totals:
    """totals() from (quantity, cost_basis, mark price) alone: the same exact sums, without marking
    each position (no per-position percentage, a division each): what the portfolio summary needs."""
    invested = market_value = unrealized = ZERO
    with localcontext(EXACT):
        for quantity, cost_basis, price in positions:
            value = quantity * price
            invested += cost_basis.copy_abs()
            market_value += value
            unrealized += value - cost_basis
    return Totals(invested, market_value, unrealized, percent(unrealized, invested))


def percent(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole × 100, rounded half-even to 4 places from the exact quotient."""
    return decimal_percent(part, whole)

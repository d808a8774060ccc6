"""The accounting rules of ACCOUNTING.md as pure functions over plain values: no ORM, no I/O.

- `marks`: valuing open positions at a price (unrealized PnL, totals).
- `fills`: applying a fill to a position (average cost), fees, cash, zero crossings.
- `orders`: validating an order's quantity and checking buying power.
- `lots`: the tax view (FIFO, LIFO, HIFO, average) for the realized-gains report.
"""

from portfolio.domain.marks import (
    PERCENT_QUANTUM,
    Holding,
    Marked,
    Totals,
    mark,
    percent,
    totals,
    totals_at,
)

__all__ = [
    "PERCENT_QUANTUM",
    "Holding",
    "Marked",
    "Totals",
    "mark",
    "percent",
    "totals",
    "totals_at",
]

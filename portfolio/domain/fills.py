"""Applying a fill to a position: the trading view, average cost (ACCOUNTING.md "Positions", "Cash").

A position keeps two things about its entry:
- `avg_entry_price`, the quantity-weighted average of its opening fills, kept to AVG_QUANTUM
  (30 decimal places: far below any price's last digit). Only a fill that adds to the position
  moves it; a reduce never does.
- `cost_basis`, the signed cost still held: exact (Σ quantity × price) while the position only
  grows. A partial reduce leaves `quantity × avg_entry_price` rounded to MONEY_QUANTUM and releases
  the rest; the fill that closes the position releases all that is left. Over a position's life its
  gross realized PnL is therefore exactly Σ proceeds − Σ costs, flat is exactly zero, and the stored
  cost never strays more than half a MONEY_QUANTUM from `quantity × avg_entry_price`.

Fees are rounded to MONEY_QUANTUM; when one order is split in two trades the second part takes what
the first did not, so the parts always add up to the fee.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from enum import StrEnum

MONEY_QUANTUM = Decimal("1e-8")
AVG_QUANTUM = Decimal("1e-30")
ZERO = Decimal(0)
# Wide enough that products of quantities, prices and rates never round before we decide to.
EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


@dataclass(frozen=True, slots=True)
class Book:
    """One position's running totals. `quantity` is signed (> 0 long, < 0 short); `cost_basis` is the
    signed total `quantity × avg entry`; `realized_pnl` is net of every fee paid in the position."""

    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    avg_entry_price: Decimal = ZERO  # > 0 while open; on a closed book, the average it closed at

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0


@dataclass(frozen=True, slots=True)
class TradePart:
    """One trade row: a whole fill, or one of the two halves of a fill that crosses zero."""

    side: Side
    quantity: Decimal  # > 0
    price: Decimal
    fee: Decimal
    closes: bool  # reduces the open position (True) or opens / adds to one (False)
    realized_pnl_gross: Decimal | None  # closing parts only
    realized_pnl_net: Decimal | None
    cash_delta: Decimal


@dataclass(frozen=True, slots=True)
class FillOutcome:
    parts: tuple[TradePart, ...]
    closed: Book | None  # the position this fill closed (final totals, quantity 0), if any
    book: Book  # the open position after the fill; Book() when flat
    cash_delta: Decimal  # BUY: −(notional + fee), SELL: notional − fee


def fee_for(quantity: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    with localcontext(EXACT):
        return (quantity * price * fee_rate).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)


def split_fee(fee: Decimal, part: Decimal, whole: Decimal) -> tuple[Decimal, Decimal]:
    """The fee of `part` out of `whole`, pro rata, and the rest: the two always sum to `fee`."""
    with localcontext(EXACT):
        first = fee if part == whole else (fee * part / whole).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)
        return first, fee - first


def apply_fill(book: Book, side: Side, quantity: Decimal, price: Decimal, fee_rate: Decimal) -> FillOutcome:
    if quantity <= 0 or price <= 0:
        raise ValueError("a fill needs a positive quantity and price")
    fee = fee_for(quantity, price, fee_rate)
    if book.is_flat or (book.quantity > 0) == (side is Side.BUY):
        part, after = _add(book, side, quantity, price, fee)
        return FillOutcome((part,), None, after, part.cash_delta)
    open_quantity = book.quantity.copy_abs()
    if quantity <= open_quantity:
        part, after = _reduce(book, side, quantity, price, fee)
        closed = after if after.is_flat else None
        return FillOutcome((part,), closed, Book() if closed else after, part.cash_delta)
    # Crossing zero: close what is open, open the rest on the other side, at the same price.
    close_fee, open_fee = split_fee(fee, open_quantity, quantity)
    closing, closed = _reduce(book, side, open_quantity, price, close_fee)
    opening, after = _add(Book(), side, quantity - open_quantity, price, open_fee)
    return FillOutcome((closing, opening), closed, after, closing.cash_delta + opening.cash_delta)


def _cash_delta(side: Side, quantity: Decimal, price: Decimal, fee: Decimal) -> Decimal:
    with localcontext(EXACT):
        return -side.sign() * quantity * price - fee


def _add(book: Book, side: Side, quantity: Decimal, price: Decimal, fee: Decimal) -> tuple[TradePart, Book]:
    with localcontext(EXACT):
        signed = side.sign() * quantity
        held = book.quantity.copy_abs()
        average = (held * book.avg_entry_price + quantity * price) / (held + quantity)
        after = Book(
            quantity=book.quantity + signed,
            cost_basis=book.cost_basis + signed * price,
            realized_pnl=book.realized_pnl - fee,  # an opening fee is charged when paid
            fees_paid=book.fees_paid + fee,
            avg_entry_price=price if held == 0 else average.quantize(AVG_QUANTUM, ROUND_HALF_EVEN),
        )
    part = TradePart(side, quantity, price, fee, False, None, None, _cash_delta(side, quantity, price, fee))
    return part, after


def _reduce(book: Book, side: Side, quantity: Decimal, price: Decimal, fee: Decimal) -> tuple[TradePart, Book]:
    with localcontext(EXACT):
        closed_signed = quantity if book.quantity > 0 else -quantity
        remaining = book.quantity - closed_signed
        kept = (remaining * book.avg_entry_price).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN) if remaining else ZERO
        released = book.cost_basis - kept
        # LONG: closed × fill − released cost; SHORT: the same with both signs negative.
        gross = closed_signed * price - released
        after = Book(
            quantity=remaining,
            cost_basis=kept,
            realized_pnl=book.realized_pnl + gross - fee,
            fees_paid=book.fees_paid + fee,
            avg_entry_price=book.avg_entry_price,  # a reduce never moves the average
        )
    part = TradePart(side, quantity, price, fee, True, gross, gross - fee, _cash_delta(side, quantity, price, fee))
    return part, after

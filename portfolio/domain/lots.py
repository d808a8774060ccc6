"""The tax view: lots and realized gains (ACCOUNTING.md "Realized-gains report").

Every opening fill creates a lot; a closing fill consumes lots in the order its method says (FIFO,
LIFO, HIFO, or one pooled average lot) and yields one row per lot consumed. A lot's opening fee is
part of its cost and is consumed pro rata; the closing fee is deducted from proceeds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum

from portfolio.domain.fills import EXACT, MONEY_QUANTUM, split_fee

LONG_TERM_AFTER = timedelta(days=365)


class Method(StrEnum):
    FIFO = "fifo"
    LIFO = "lifo"
    HIFO = "hifo"
    AVERAGE = "average"


@dataclass(frozen=True, slots=True)
class Lot:
    lot_id: str
    side: str  # long | short
    quantity: Decimal  # > 0, what is left of it
    price: Decimal
    fee: Decimal  # what is left of its opening fee
    opened_at: datetime
    cost: Decimal | None = None  # pooled (average) lots: the exact total cost, else quantity × price


@dataclass(frozen=True, slots=True)
class GainRow:
    side: str
    quantity: Decimal
    opened_at: datetime
    closed_at: datetime
    proceeds: Decimal  # net of the closing fee share
    cost_basis: Decimal  # including the consumed opening fee share
    closing_fee: Decimal
    opening_fee: Decimal  # the consumed share of the lot's opening fee (inside cost_basis)
    gain: Decimal
    term: str  # short | long
    method: Method
    lot_ids: tuple[str, ...]


def open_lot(lots: list[Lot], lot: Lot, method: Method) -> list[Lot]:
    if method is not Method.AVERAGE or not lots:
        return [*lots, lot]
    pooled = lots[0]
    with localcontext(EXACT):
        cost = _lot_cost(pooled) + lot.quantity * lot.price
        quantity = pooled.quantity + lot.quantity
        merged = Lot(
            lot_id=f"{pooled.lot_id}+{lot.lot_id}",
            side=pooled.side,
            quantity=quantity,
            price=cost / quantity,
            fee=pooled.fee + lot.fee,
            opened_at=pooled.opened_at,
            cost=cost,
        )
    return [merged]


def close_lots(
    lots: list[Lot], *, quantity: Decimal, price: Decimal, fee: Decimal, closed_at: datetime, method: Method
) -> tuple[list[Lot], list[GainRow]]:
    """Consume `quantity` from `lots` at `price`; returns the lots left and one row per lot touched."""
    order = _consumption_order(lots, method)
    left, rows = {lot.lot_id: lot for lot in lots}, []
    remaining, fee_left = quantity, fee
    for lot in order:
        if remaining == 0:
            break
        take = min(remaining, lot.quantity)
        closing_fee, fee_left = split_fee(fee_left, take, remaining)
        rows.append(_row(lot, take, price, closing_fee, closed_at, method))
        rest = _shrink(lot, take)
        if rest is None:
            del left[lot.lot_id]
        else:
            left[lot.lot_id] = rest
        remaining -= take
    if remaining:
        raise ValueError("closing more than the lots hold")
    return [left[lot.lot_id] for lot in lots if lot.lot_id in left], rows


def _consumption_order(lots: list[Lot], method: Method) -> list[Lot]:
    if method is Method.LIFO:
        return list(reversed(lots))
    if method is Method.HIFO:
        # Highest cost first for longs (smallest gain); lowest sale price first for shorts.
        return sorted(lots, key=lambda lot: -lot.price if lot.side == "long" else lot.price)
    return list(lots)


def _lot_cost(lot: Lot) -> Decimal:
    with localcontext(EXACT):
        return lot.cost if lot.cost is not None else lot.quantity * lot.price


def _share(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    with localcontext(EXACT):
        return total if part == whole else (total * part / whole).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)


def _shrink(lot: Lot, taken: Decimal) -> Lot | None:
    if taken == lot.quantity:
        return None
    with localcontext(EXACT):
        cost = None if lot.cost is None else lot.cost - _share(lot.cost, taken, lot.quantity)
        return replace(
            lot, quantity=lot.quantity - taken, fee=lot.fee - _share(lot.fee, taken, lot.quantity), cost=cost
        )


def _row(
    lot: Lot, quantity: Decimal, price: Decimal, closing_fee: Decimal, closed_at: datetime, method: Method
) -> GainRow:
    with localcontext(EXACT):
        opening_fee = _share(lot.fee, quantity, lot.quantity)
        opened_value = _share(_lot_cost(lot), quantity, lot.quantity) if lot.cost is not None else quantity * lot.price
        closing_value = quantity * price
        if lot.side == "long":
            proceeds, cost = closing_value - closing_fee, opened_value + opening_fee
        else:  # a short sold first (proceeds) and buys back now (cost)
            proceeds, cost = opened_value - closing_fee, closing_value + opening_fee
        term = "long" if closed_at - lot.opened_at > LONG_TERM_AFTER else "short"
        return GainRow(
            side=lot.side,
            quantity=quantity,
            opened_at=lot.opened_at,
            closed_at=closed_at,
            proceeds=proceeds,
            cost_basis=cost,
            closing_fee=closing_fee,
            opening_fee=opening_fee,
            gain=proceeds - cost,
            term=term,
            method=method,
            lot_ids=tuple(lot.lot_id.split("+")),
        )

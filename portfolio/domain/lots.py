"""The tax view: lots and realized gains (ACCOUNTING.md "Realized-gains report").

Every opening fill creates a lot; a closing fill consumes lots in the order its method says (FIFO,
LIFO, HIFO, or one pooled average lot) and yields one row per lot consumed. A lot's opening fee is
part of its cost and is consumed pro rata; the closing fee is deducted from proceeds.

Each method keeps its open lots in the structure it consumes from (a queue, a stack, a heap by
price, one pool), so a replay costs O(log n) per lot touched, whatever the history looks like: a
year of 50,000 small buys and then 50,000 small sells is as cheap as alternating ones.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum
from typing import NamedTuple

from portfolio.domain.fills import AVG_QUANTUM, EXACT, MONEY_QUANTUM

LONG_TERM_AFTER = timedelta(days=365)


class Method(StrEnum):
    FIFO = "fifo"
    LIFO = "lifo"
    HIFO = "hifo"
    AVERAGE = "average"


class Lot(NamedTuple):
    lot_id: str
    side: str  # long | short
    quantity: Decimal  # > 0, what is left of it
    price: Decimal
    fee: Decimal  # what is left of its opening fee
    opened_at: datetime
    cost: Decimal | None = None  # pooled (average) lots: the exact total cost, else quantity × price
    # Pooled lots: the ids of the opening fills in the pool, as the first `pooled` of an append-only
    # list shared along the pool's history (adding a fill to a pool is O(1), not a copy).
    members: list[str] | None = None
    pooled: int = 0

    @property
    def lot_ids(self) -> tuple[str, ...]:
        return (self.lot_id,) if self.members is None else tuple(self.members[: self.pooled])


class GainRow(NamedTuple):
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


class Fill(NamedTuple):
    """One trade row as the tax view reads it: an opening part creates a lot, a closing part consumes."""

    trade_id: int
    symbol: str
    side: str  # buy | sell
    quantity: Decimal
    price: Decimal
    fee: Decimal
    executed_at: datetime
    closes: bool


# --- the books: one per symbol, in the structure its method consumes from -----------------------
# (Their methods run inside the caller's EXACT context.)


class _Queue:
    """FIFO (from the front) and LIFO (from the back)."""

    def __init__(self, method: Method) -> None:
        self.method, self.lots = method, deque[Lot]()

    def add(self, lot: Lot) -> None:
        self.lots.append(lot)

    def take(self, quantity: Decimal, price: Decimal, fee: Decimal, closed_at: datetime) -> list[GainRow]:
        lots, front = self.lots, self.method is Method.FIFO
        rows, remaining = [], quantity
        while remaining:
            if not lots:
                raise ValueError("closing more than the lots hold")
            lot = lots[0] if front else lots[-1]
            take, fee_part, fee = _consume(lot, remaining, fee)
            rows.append(_row(lot, take, price, fee_part, closed_at, self.method))
            if front:
                lots.popleft()
            else:
                lots.pop()
            if take < lot.quantity:
                rest = _shrink(lot, take)
                lots.appendleft(rest) if front else lots.append(rest)
            remaining -= take
        return rows

    def open(self) -> list[Lot]:
        return list(self.lots)


class _Heap:
    """HIFO: the highest-cost long lot first (the smallest gain); for shorts the lowest sale price."""

    def __init__(self, method: Method) -> None:
        self.heap: list[tuple[Decimal, int, Lot]] = []
        self.opened = 0

    def add(self, lot: Lot) -> None:
        key = -lot.price if lot.side == "long" else lot.price
        heapq.heappush(self.heap, (key, self.opened, lot))  # ties: the earlier lot first
        self.opened += 1

    def take(self, quantity: Decimal, price: Decimal, fee: Decimal, closed_at: datetime) -> list[GainRow]:
        heap, rows, remaining = self.heap, [], quantity
        while remaining:
            if not heap:
                raise ValueError("closing more than the lots hold")
            key, order, lot = heap[0]
            take, fee_part, fee = _consume(lot, remaining, fee)
            rows.append(_row(lot, take, price, fee_part, closed_at, Method.HIFO))
            if take < lot.quantity:
                heapq.heapreplace(heap, (key, order, _shrink(lot, take)))
            else:
                heapq.heappop(heap)
            remaining -= take
        return rows

    def open(self) -> list[Lot]:
        return [lot for _, _, lot in sorted(self.heap, key=lambda entry: entry[1])]


class _Pool:
    """Average cost: one lot, kept exactly as the position view keeps its book
    (portfolio.domain.fills): the average to AVG_QUANTUM, moved only by adds, the cost exact while it
    grows. So each closing row's gain reconciles with the position's realized PnL."""

    def __init__(self, method: Method) -> None:
        self.lot: Lot | None = None

    def add(self, lot: Lot) -> None:
        pool = self.lot
        if pool is None:
            members = [*lot.lot_ids]
            self.lot = Lot(lot.lot_id, lot.side, lot.quantity, lot.price, lot.fee, lot.opened_at,
                           _lot_cost(lot), members, len(members))  # fmt: skip
            return
        assert pool.members is not None
        members = pool.members
        if len(members) != pool.pooled:  # this pool's history forked: copy, never write a shared prefix
            members = members[: pool.pooled]
        members.extend(lot.lot_ids)
        quantity = pool.quantity + lot.quantity
        average = (pool.quantity * pool.price + lot.quantity * lot.price) / quantity
        self.lot = Lot(
            pool.lot_id, pool.side, quantity, average.quantize(AVG_QUANTUM, ROUND_HALF_EVEN), pool.fee + lot.fee,
            pool.opened_at, _lot_cost(pool) + lot.quantity * lot.price, members, len(members),
        )  # fmt: skip

    def take(self, quantity: Decimal, price: Decimal, fee: Decimal, closed_at: datetime) -> list[GainRow]:
        pool = self.lot
        if pool is None or quantity > pool.quantity:
            raise ValueError("closing more than the lots hold")
        row = _row(pool, quantity, price, fee, closed_at, Method.AVERAGE)
        self.lot = _shrink(pool, quantity) if quantity < pool.quantity else None
        return [row]

    def open(self) -> list[Lot]:
        return [] if self.lot is None else [self.lot]


_Book = _Queue | _Heap | _Pool
_BOOKS: dict[Method, type[_Queue] | type[_Heap] | type[_Pool]] = {
    Method.FIFO: _Queue,
    Method.LIFO: _Queue,
    Method.HIFO: _Heap,
    Method.AVERAGE: _Pool,
}


def _book(lots: Iterable[Lot], method: Method) -> _Book:
    book = _BOOKS[method](method)
    for lot in lots:
        book.add(lot)
    return book


# --- the arithmetic (inside the caller's EXACT context) ------------------------------------------


def _consume(lot: Lot, remaining: Decimal, fee: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """How much of `lot` the rest of a closing fill takes, that part's closing fee, and the fee left
    (pro rata, the parts summing exactly to the fill's fee)."""
    take = remaining if remaining < lot.quantity else lot.quantity
    part = fee if take == remaining else (fee * take / remaining).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)
    return take, part, fee - part


def _lot_cost(lot: Lot) -> Decimal:
    return lot.cost if lot.cost is not None else lot.quantity * lot.price


def _share(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    return total if part == whole else (total * part / whole).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)


def _kept_cost(lot: Lot, taken: Decimal) -> Decimal:
    """A pooled lot after `taken` leaves it: the rest × the average, to MONEY_QUANTUM (as a position)."""
    return ((lot.quantity - taken) * lot.price).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)


def _shrink(lot: Lot, taken: Decimal) -> Lot:
    return Lot(
        lot.lot_id, lot.side, lot.quantity - taken, lot.price, lot.fee - _share(lot.fee, taken, lot.quantity),
        lot.opened_at, None if lot.cost is None else _kept_cost(lot, taken), lot.members, lot.pooled,
    )  # fmt: skip


def _row(
    lot: Lot, quantity: Decimal, price: Decimal, closing_fee: Decimal, closed_at: datetime, method: Method
) -> GainRow:
    opening_fee = _share(lot.fee, quantity, lot.quantity)
    if lot.cost is None:
        opened_value = quantity * lot.price
    else:  # a pooled lot releases what it does not keep (all of it when it closes)
        opened_value = lot.cost - (_kept_cost(lot, quantity) if quantity != lot.quantity else 0)
    closing_value = quantity * price
    if lot.side == "long":
        proceeds, cost = closing_value - closing_fee, opened_value + opening_fee
    else:  # a short sold first (proceeds) and buys back now (cost)
        proceeds, cost = opened_value - closing_fee, closing_value + opening_fee
    term = "long" if closed_at - lot.opened_at > LONG_TERM_AFTER else "short"
    return GainRow(
        lot.side, quantity, lot.opened_at, closed_at, proceeds, cost, closing_fee, opening_fee, proceeds - cost, term,
        method, lot.lot_ids,
    )  # fmt: skip


# --- the API -------------------------------------------------------------------------------------


def open_lot(lots: list[Lot], lot: Lot, method: Method) -> list[Lot]:
    """The open lots after `lot` opens (under the average method: the one pool it joins)."""
    with localcontext(EXACT):
        book = _book(lots, method)
        book.add(lot)
        return book.open()


def close_lots(
    lots: list[Lot], *, quantity: Decimal, price: Decimal, fee: Decimal, closed_at: datetime, method: Method
) -> tuple[list[Lot], list[GainRow]]:
    """Consume `quantity` from `lots` at `price`; returns the lots left (in opening order) and one row
    per lot touched (in the order consumed)."""
    with localcontext(EXACT):
        book = _book(lots, method)
        rows = book.take(quantity, price, fee, closed_at)
        return book.open(), rows


def replay(fills: Iterable[Fill], method: Method) -> Iterator[tuple[str, GainRow]]:
    """The realized-gains rows of a trade history (in execution order), symbol by symbol: long lots
    opened by buys and closed by sells, short lots opened by sells and closed by buys."""
    yield from replay_lots(fills, method, {})


def replay_lots(fills: Iterable[Fill], method: Method, lots: dict[str, list[Lot]]) -> Iterator[tuple[str, GainRow]]:
    """`replay`, leaving in `lots` what is still open at the end (per symbol, in opening order)."""
    books: dict[str, _Book] = {}
    make = _BOOKS[method]
    for fill in fills:
        book = books.get(fill.symbol)
        if book is None:
            book = books[fill.symbol] = make(method)
        with localcontext(EXACT):  # per fill, never across a yield: the caller keeps its own context
            if fill.closes:
                rows = book.take(fill.quantity, fill.price, fill.fee, fill.executed_at)
            else:
                side = "long" if fill.side == "buy" else "short"
                book.add(Lot(str(fill.trade_id), side, fill.quantity, fill.price, fill.fee, fill.executed_at))
                continue
        for row in rows:
            yield fill.symbol, row
    lots.clear()
    for symbol, book in books.items():
        if held := book.open():
            lots[symbol] = held

"""Reads of the trading core: plain values and payloads, a fixed number of queries each."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from decimal import Decimal, localcontext
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet, Sum

from portfolio import domain
from portfolio.domain import Holding
from portfolio.domain.fills import EXACT
from portfolio.models import Account, Order, Position, Trade
from portfolio.payloads import (
    TRADE_COLUMNS,
    TRADE_FIELDS,
    position_model_payload,
    totals_payload,
    trade_row_payload,
)
from pricefeed.bus import get_bus
from pricefeed.domain import Tick
from tradingsite.lib.numbers import decimal_str


def holding_list(*, user_id: int) -> list[Holding]:
    """A user's open positions as plain values, one query."""
    rows = (
        Position.objects.filter(user_id=user_id, status=Position.Status.OPEN)
        .order_by("symbol_id")
        .values_list("id", "symbol_id", "quantity", "cost_basis", "realized_pnl", "opened_at", "avg_entry_price")
    )
    return [Holding(*row) for row in rows]


def position_list(*, user_id: int, status: str = "open") -> list[dict[str, Any]]:
    positions = Position.objects.filter(user_id=user_id).order_by("symbol_id", "-opened_at")
    if status != "all":
        positions = positions.filter(status=status)
    rows = list(positions)
    ticks = get_bus().get_many({p.symbol_id for p in rows if p.status == Position.Status.OPEN})
    return [position_model_payload(p, ticks.get(p.symbol_id)) for p in rows]


def position_get(*, user_id: int, symbol: str) -> dict[str, Any] | None:
    position = Position.objects.filter(user_id=user_id, symbol_id=symbol, status=Position.Status.OPEN).first()
    if position is None:
        return None
    return position_model_payload(position, get_bus().get_many([symbol]).get(symbol))


def _marked(user_id: int) -> tuple[list[Holding], dict[str, Tick], list[tuple[Holding, domain.Marked]]]:
    holdings = holding_list(user_id=user_id)
    ticks = get_bus().get_many({h.symbol for h in holdings})
    # Without any price, a position is valued at its entry (no unrealized PnL) rather than left out.
    pairs = [(h, domain.mark(h, ticks[h.symbol].price if h.symbol in ticks else h.avg_entry_price)) for h in holdings]
    return holdings, ticks, pairs


def portfolio_summary(*, user_id: int) -> dict[str, Any]:
    holdings, ticks, pairs = _marked(user_id)
    priced = [(h, m) for h, m in pairs if h.symbol in ticks]
    return totals_payload(domain.totals(priced), priced=len(priced), positions=len(holdings))


def account_summary(*, user_id: int) -> dict[str, Any]:
    account = Account.objects.filter(user_id=user_id).first()
    cash = account.cash if account else settings.STARTING_BALANCE
    _, _, pairs = _marked(user_id)
    with localcontext(EXACT):
        market_value = sum((m.market_value for _, m in pairs), Decimal(0))
        exposure = sum((m.market_value.copy_abs() for _, m in pairs), Decimal(0))
        equity = cash + market_value
        buying_power = max(Decimal(0), equity * settings.MAX_LEVERAGE - exposure)
    realized = Position.objects.filter(user_id=user_id).aggregate(total=Sum("realized_pnl"))["total"] or Decimal(0)
    return {
        "cash": decimal_str(cash),
        "equity": decimal_str(equity),
        "buying_power": decimal_str(buying_power),
        "gross_exposure": decimal_str(exposure),
        "realized_pnl": decimal_str(realized),
        "fee_rate": decimal_str(settings.FEE_RATE),
        "quote_asset": settings.QUOTE_ASSET,
    }


def order_queryset(*, user_id: int, status: str | None = None, symbol: str | None = None) -> QuerySet[Order]:
    orders = Order.objects.filter(user_id=user_id)
    if status:
        orders = orders.filter(status=status)
    if symbol:
        orders = orders.filter(symbol_id=symbol)
    return orders


CSV_BATCH_ROWS = 2000


async def trade_csv(trades: QuerySet[Trade]) -> AsyncIterator[str]:
    """Every trade of the queryset as CSV, oldest first, read in batches of CSV_BATCH_ROWS by keyset
    (executed_at, id): memory stays flat whatever the number of rows, and no transaction or server
    cursor is held open while the client reads."""
    buffer = _Lines()
    writer = csv.DictWriter(buffer, fieldnames=TRADE_FIELDS)
    writer.writeheader()
    yield buffer.take()
    after: tuple[Any, int] | None = None
    while True:
        rows = await sync_to_async(_trade_batch, thread_sensitive=False)(trades, after)
        for row in rows:
            writer.writerow(trade_row_payload(row))
        if rows:
            yield buffer.take()
        if len(rows) < CSV_BATCH_ROWS:
            return
        after = (rows[-1][-1], rows[-1][0])


def _trade_batch(trades: QuerySet[Trade], after: tuple[Any, int] | None) -> list[tuple[Any, ...]]:
    try:
        if after is not None:
            at, pk = after
            trades = trades.filter(Q(executed_at__gt=at) | Q(executed_at=at, id__gt=pk))
        return list(trades.order_by("executed_at", "id").values_list(*TRADE_COLUMNS)[:CSV_BATCH_ROWS])
    finally:
        connection.close()  # this thread is not a request's: the connection goes back to the pool


class _Lines:
    """A file for csv.writer whose text is taken away chunk by chunk."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> str:
        text, self.parts = "".join(self.parts), []
        return text


def trade_queryset(*, user_id: int, symbol: str | None = None, start: Any = None, end: Any = None) -> QuerySet[Trade]:
    trades = Trade.objects.filter(user_id=user_id).select_related("order")
    if symbol:
        trades = trades.filter(symbol_id=symbol)
    if start:
        trades = trades.filter(executed_at__gte=start)
    if end:
        trades = trades.filter(executed_at__lt=end)
    return trades

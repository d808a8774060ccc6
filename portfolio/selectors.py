"""Reads of the trading core: plain values and payloads, a fixed number of queries each."""

from __future__ import annotations

import csv
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections, transaction
from django.db.models import BooleanField, QuerySet, Sum
from django.db.models.expressions import RawSQL

from portfolio import domain
from portfolio.domain import Holding
from portfolio.domain.fills import EXACT
from portfolio.domain.lots import Fill, GainRow, Lot, Method, replay_lots
from portfolio.models import Account, Order, Position, RealizedReport, Trade, WatchedSymbol
from portfolio.payloads import (
    TRADE_COLUMNS,
    TRADE_FIELDS,
    position_model_payload,
    totals_payload,
    trade_json,
    trade_row_payload,
)
from pricefeed.bus import get_bus
from pricefeed.domain import Tick
from tradingsite.db import lagging_reads
from tradingsite.lib.compiled import MARKER, CompiledValues
from tradingsite.lib.memory import collection_paused
from tradingsite.lib.numbers import average_str, decimal_str


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
    """The totals of the open positions that have a price (as the live socket's): three columns read,
    no position marked one by one."""
    rows = _OPEN_POSITION_COSTS.rows(user_id=user_id)
    ticks = get_bus().get_many({symbol for symbol, _, _ in rows})
    priced = [(quantity, cost, ticks[symbol].price) for symbol, quantity, cost in rows if symbol in ticks]
    return totals_payload(domain.totals_at(priced), priced=len(priced), positions=len(rows))


# (symbol, quantity, cost basis) of each open position (tradingsite/lib/compiled.py).
_OPEN_POSITION_COSTS = CompiledValues(
    lambda user_id: Position.objects.filter(user_id=user_id, status=Position.Status.OPEN).values_list(
        "symbol_id", "quantity", "cost_basis"
    ),
    user_id=MARKER,
)


def account_cost_basis_method(*, user_id: int) -> str:
    found = Account.objects.filter(user_id=user_id).values_list("cost_basis_method", flat=True).first()
    return found or "fifo"


def account_summary(*, user_id: int) -> dict[str, Any]:
    account = Account.objects.filter(user_id=user_id).first()
    cash = account.cash if account else settings.STARTING_BALANCE
    _, _, pairs = _marked(user_id)
    with localcontext(EXACT):
        long_value = sum((m.market_value for _, m in pairs if m.market_value > 0), Decimal(0))
        short_value = sum((m.market_value for _, m in pairs if m.market_value < 0), Decimal(0))
        market_value = long_value + short_value
        exposure = long_value - short_value
        equity = cash + market_value
        buying_power = max(Decimal(0), equity * settings.MAX_LEVERAGE - exposure)
    realized = Position.objects.filter(user_id=user_id).aggregate(total=Sum("realized_pnl"))["total"] or Decimal(0)
    return {
        "cash": decimal_str(cash),
        "equity": decimal_str(equity),
        "buying_power": decimal_str(buying_power),
        "gross_exposure": decimal_str(exposure),
        "long_market_value": decimal_str(long_value),
        "short_market_value": decimal_str(short_value),
        "realized_pnl": decimal_str(realized),
        "fee_rate": decimal_str(settings.FEE_RATE),
        "max_leverage": decimal_str(settings.MAX_LEVERAGE),
        "quote_asset": settings.QUOTE_ASSET,
        "cost_basis_method": account.cost_basis_method if account else "fifo",
    }


def watchlist(*, user_id: int) -> list[str]:
    """The user's watched symbols, in the order they were added."""
    return list(
        WatchedSymbol.objects.filter(user_id=user_id).order_by("added_at", "id").values_list("symbol_id", flat=True)
    )


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


_AFTER_ROW = '("portfolio_trade"."executed_at", "portfolio_trade"."id") > (%s, %s)'


def _trade_batch(trades: QuerySet[Trade], after: tuple[Any, int] | None) -> list[tuple[Any, ...]]:
    try:
        if after is not None:
            # A row comparison, not `a > x OR (a = x AND id > y)`: PostgreSQL turns it into an index
            # range, where the OR form scanned every earlier row of the user again per batch
            # (100,000 rows: 14,000 rows/s instead of 50,000+).
            trades = trades.filter(RawSQL(_AFTER_ROW, after, output_field=BooleanField()))  # noqa: S611  # constant SQL, bound parameters
        batch = trades.order_by("executed_at", "id").values_list(*TRADE_COLUMNS)[:CSV_BATCH_ROWS]
        connection = connections[trades.db]
        if connection.vendor != "postgresql":
            return list(batch)
        with transaction.atomic(using=trades.db), connection.cursor() as cursor:
            # Read in the index's order, never sorted: where the planner's statistics put the user at
            # about a batch of rows (a user past the most-common-values list, or new since the last
            # ANALYZE), it chose to read ALL the user's rows after the key and sort them for each batch
            # (EXPLAIN on 10 M trades: 100,000 rows read for 2,000, 39 ms a batch instead of 0.6):
            # quadratic in the history. Without sorts, the one plan left is the index range.
            cursor.execute("SET LOCAL enable_sort = off")
            return list(batch)
    finally:
        connections[trades.db].close()  # this thread is not a request's: the connection goes back to the pool


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
    trades = Trade.objects.using(lagging_reads()).filter(user_id=user_id).select_related("order")
    if symbol:
        trades = trades.filter(symbol_id=symbol)
    if start:
        trades = trades.filter(executed_at__gte=start)
    if end:
        trades = trades.filter(executed_at__lt=end)
    return trades


TRADES_ORDERING = ("-executed_at", "-id")  # newest first: the trade list's order (its cursor's position first)


def trade_json_page(*, user_id: int, rows: int) -> list[tuple[datetime, str, str]]:
    """The user's newest `rows` trades as (executed_at, client order id, the trade's JSON written
    by the database), as GET /api/v1/trades reads its first page; the query built once per row count
    (tradingsite/lib/compiled.py). PostgreSQL only (the JSON is its)."""
    page = _TRADE_JSON_PAGES.get(rows)
    if page is None:
        if len(_TRADE_JSON_PAGES) > 64:
            _TRADE_JSON_PAGES.clear()
        page = _TRADE_JSON_PAGES[rows] = CompiledValues(
            lambda user_id: (
                trade_queryset(user_id=user_id)
                .annotate(json=trade_json())
                .order_by(*TRADES_ORDERING)
                .values_list("executed_at", "order__client_order_id", "json")[:rows]
            ),
            user_id=MARKER,
        )
    return page.rows(user_id=user_id)


_TRADE_JSON_PAGES: dict[int, CompiledValues] = {}


# --- the realized-gains report (the tax view) ---------------------------------------------------------

REPORT_FIELDS = [
    "symbol",
    "side",
    "quantity",
    "opened_at",
    "closed_at",
    "proceeds",
    "cost_basis",
    "opening_fee",
    "closing_fee",
    "gain",
    "term",
    "method",
    "lot_ids",
]
_FILL_COLUMNS = ["id", "symbol_id", "side", "quantity", "price", "fee", "executed_at", "realized_pnl_gross"]


def report_history(*, user_id: int, year: int) -> tuple[int, int]:
    """The user's newest trade id (0 for none) and how many trades a report of `year` replays."""
    return newest_trade_id(user_id=user_id), report_trade_count(user_id=user_id, year=year)


def newest_trade_id(*, user_id: int) -> int:
    trades = Trade.objects.using(lagging_reads()).filter(user_id=user_id)
    return trades.order_by("-executed_at", "-id").values_list("id", flat=True).first() or 0


def report_trade_count(*, user_id: int, year: int) -> int:
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    return Trade.objects.using(lagging_reads()).filter(user_id=user_id, executed_at__lt=end).count()


def realized_report_cached(*, user_id: int, year: int, method: Method, through_trade_id: int) -> RealizedReport | None:
    """A report built by a worker for the same question over the same history, if there is one."""
    return (
        RealizedReport.objects.filter(
            user_id=user_id,
            year=year,
            method=method.value,
            through_trade_id=through_trade_id,
            status=RealizedReport.Status.READY,
        )
        .order_by("-created_at")
        .first()
    )


def realized_report_job(*, user_id: int, report_id: uuid.UUID) -> RealizedReport | None:
    return RealizedReport.objects.filter(user_id=user_id, pk=report_id).first()


def realized_report(*, user_id: int, year: int, method: Method) -> dict[str, Any]:
    """The year's realized gains by `method`, replayed from the trades (the source of truth): one row
    per closing fill and lot it consumed, for the fills that closed in the year (UTC); the totals; and
    the lots still open at the year's end. Deterministic: the same trades give the same report."""
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    trades = Trade.objects.using(lagging_reads()).filter(user_id=user_id, executed_at__lt=end)
    trades = trades.order_by("executed_at", "id")
    fills = (
        Fill(pk, symbol, side, quantity, price, fee, at, gross is not None)
        for pk, symbol, side, quantity, price, fee, at, gross in trades.values_list(*_FILL_COLUMNS).iterator(20_000)
    )
    lots: dict[str, list[Lot]] = {}
    with collection_paused():
        rows = [(s, row) for s, row in replay_lots(fills, method, lots) if row.closed_at >= start]
        return {
            "year": year,
            "method": method.value,
            "rows": _report_rows(rows),
            "totals": _report_totals([row for _, row in rows]),
            "open_lots": [
                {
                    "symbol": symbol,
                    "side": lot.side,
                    "quantity": decimal_str(lot.quantity),
                    "price": average_str(lot.price),
                    "opened_at": lot.opened_at.astimezone(UTC).isoformat(),
                    "lot_ids": list(lot.lot_ids),
                }
                for symbol in sorted(lots)
                for lot in lots[symbol]
            ],
        }


def _report_rows(rows: list[tuple[str, GainRow]]) -> list[dict[str, Any]]:
    times: dict[datetime, str] = {}  # a fill's time is on each row it closed, a lot's on each it fed

    def iso(at: datetime) -> str:
        text = times.get(at)
        if text is None:
            text = times[at] = at.astimezone(UTC).isoformat()
        return text

    return [
        {
            "symbol": symbol,
            "side": row.side,
            "quantity": decimal_str(row.quantity),
            "opened_at": iso(row.opened_at),
            "closed_at": iso(row.closed_at),
            "proceeds": decimal_str(row.proceeds),
            "cost_basis": decimal_str(row.cost_basis),
            "opening_fee": decimal_str(row.opening_fee),
            "closing_fee": decimal_str(row.closing_fee),
            "gain": decimal_str(row.gain),
            "term": row.term,
            "method": row.method.value,
            "lot_ids": list(row.lot_ids),
        }
        for symbol, row in rows
    ]


def _report_totals(rows: list[GainRow]) -> dict[str, str]:
    with localcontext(EXACT):
        total = {
            "proceeds": sum((r.proceeds for r in rows), Decimal(0)),
            "cost_basis": sum((r.cost_basis for r in rows), Decimal(0)),
            "gain": sum((r.gain for r in rows), Decimal(0)),
            "short_term_gain": sum((r.gain for r in rows if r.term == "short"), Decimal(0)),
            "long_term_gain": sum((r.gain for r in rows if r.term == "long"), Decimal(0)),
        }
    return {name: decimal_str(value) for name, value in total.items()}

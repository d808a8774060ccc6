"""Every list and detail endpoint reads a fixed number of queries, whatever the rows (no N+1), and the
trade export streams: memory flat however many trades."""

from __future__ import annotations

import asyncio
import csv
import io
import tracemalloc
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.backends.signals import connection_created
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portfolio.models import Order, Position, Trade
from portfolio.selectors import trade_csv, trade_queryset
from pricefeed.models import Symbol

pytestmark = [pytest.mark.integration]


def holdings(user, positions: int, trades: int) -> None:
    """`positions` open positions and `trades` trades (of as many orders), written in bulk."""
    symbols = list(Symbol.objects.order_by("symbol").values_list("symbol", flat=True)[:positions])
    now = timezone.now()
    opened = Position.objects.bulk_create(
        Position(user=user, symbol_id=s, quantity=Decimal(1), cost_basis=Decimal(100), avg_entry_price=Decimal(100),
                 opened_at=now) for s in symbols
    )  # fmt: skip
    orders = Order.objects.bulk_create(
        Order(user=user, client_order_id=f"q{n}", symbol_id=symbols[n % len(symbols)], side="buy",
              quantity=Decimal(1), price=Decimal(100), price_ts=1, fee_rate=Decimal(0), status="filled")
        for n in range(trades)
    )  # fmt: skip
    Trade.objects.bulk_create(
        Trade(user=user, order=o, position=opened[n % len(opened)], symbol_id=o.symbol_id, side="buy",
              quantity=Decimal(1), price=Decimal(100), fee=Decimal(0), fee_currency="USDT",
              executed_at=now - timedelta(seconds=n))
        for n, o in enumerate(orders)
    )  # fmt: skip


ENDPOINTS = [
    "/api/v1/positions",
    "/api/v1/positions?status=all",
    "/api/v1/positions/{symbol}",
    "/api/v1/orders",
    "/api/v1/orders/{order}",
    "/api/v1/orders/by-client-id/q0",
    "/api/v1/trades",
    "/api/v1/account",
    "/api/v1/portfolio",
    "/api/v1/auth/sessions",
    "/api/v1/reports/realized?year=2026",
]


def queries_per_endpoint(user) -> dict[str, int]:
    client = Client()
    client.force_login(user)
    first = Position.objects.filter(user=user).order_by("symbol_id").first()
    order = Order.objects.filter(user=user).order_by("id").first()
    counts = {}
    for path in ENDPOINTS:
        url = path.format(symbol=first.symbol_id if first else "BTCUSDT", order=order.pk if order else 0)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200, url
        counts[path] = len(captured)
    return counts


def test_no_endpoint_reads_more_queries_for_more_rows(symbols, prices, owner, other_user):
    holdings(owner, positions=1, trades=1)
    holdings(other_user, positions=50, trades=1000)
    few, many = queries_per_endpoint(owner), queries_per_endpoint(other_user)
    assert many == few
    assert max(many.values()) <= 4, many  # session user, the rows, and at most two lookups


def test_the_csv_export_streams_in_flat_memory(symbols, owner):
    holdings(owner, positions=5, trades=12_000)
    trades = trade_queryset(user_id=owner.pk)

    async def read_all() -> tuple[int, int, list[str]]:
        tracemalloc.start()
        chunks, rows, biggest, peak = 0, 0, 0, 0
        first: list[str] = []
        async for chunk in trade_csv(trades):
            chunks += 1
            rows += chunk.count("\n")
            biggest = max(biggest, len(chunk))
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            if len(first) < 2:
                first += chunk.splitlines()
        tracemalloc.stop()
        return rows, peak, first

    rows, peak, first = asyncio.run(read_all())
    assert rows == 12_001  # the header and every trade, once
    assert peak < 8 * 1024 * 1024, peak  # a few batches' worth, not 12,000 rows at once
    header, oldest = next(csv.reader(io.StringIO("\n".join(first[:2])))), first[1].split(",")
    assert header[:3] == ["id", "order_id", "client_order_id"]
    assert oldest[2] == "q11999"  # oldest first


def test_the_csv_export_reads_every_batch_in_index_order_whatever_the_planner_expects(symbols, owner, other_user):
    # The planner's estimate for the owner is a few rows (ANALYZE ran before the owner traded: a user
    # new since the last ANALYZE, or past the most-common-values list of a large table). With such an
    # estimate PostgreSQL read every row of the user after the key and sorted them, for each batch.
    holdings(other_user, positions=1, trades=300)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE portfolio_trade")
    holdings(owner, positions=5, trades=5_000)
    plans: list[str] = []

    def explain_first(execute, sql, params, many, context):  # on the export's own threads' connections
        if sql.startswith("SELECT") and '"portfolio_trade"' in sql:
            raw = context["cursor"].cursor
            raw.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(row[0] for row in raw.fetchall()))
        return execute(sql, params, many, context)

    def wrap(sender, connection, **kwargs):
        if explain_first not in connection.execute_wrappers:  # a pooled connection is created again
            connection.execute_wrappers.append(explain_first)

    async def read_all() -> int:
        return sum([chunk.count("\n") async for chunk in trade_csv(trade_queryset(user_id=owner.pk))])

    connection_created.connect(wrap)
    try:
        assert asyncio.run(read_all()) == 5_001
    finally:
        connection_created.disconnect(wrap)
    assert len(plans) == 3  # 2,000 + 2,000 + 1,000 rows
    for plan in plans:
        assert "Sort" not in plan, plan
        assert "Bitmap" not in plan, plan
        assert "trade_user_time" in plan, plan

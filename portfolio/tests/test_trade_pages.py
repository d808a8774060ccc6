"""A page of trades is written as JSON by PostgreSQL; it must be the same text the rest of the API
(the CSV export, the order frames) makes in Python, for any value a trade can hold."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.test import Client

from portfolio.models import Order, Position, Trade
from portfolio.payloads import TRADE_COLUMNS, trade_row_payload

pytestmark = [pytest.mark.integration]

VALUES = [
    # quantity, price, fee, gross, net, executed_at
    ("0.000000000000000001", "0.000000021767", "0", None, None, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("123456789.5", "100", "12.34567891", "-1500.25", "-1512.59", datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC)),
    ("1", "67234.5", "0.06723450", "0", "-0.0672345", datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
    (
        "2.000000000000000000",
        "3000.10",
        "6.0002",
        "1000",
        "993.9998",
        datetime(1999, 3, 4, 0, 0, 0, 100_000, tzinfo=UTC),
    ),
]


def test_a_page_written_by_the_database_equals_the_python_payload(symbols, owner):
    position = Position.objects.create(
        user=owner, symbol_id="BTCUSDT", quantity=1, cost_basis=1, avg_entry_price=1, opened_at=VALUES[0][5]
    )
    for n, (quantity, price, fee, gross, net, at) in enumerate(VALUES):
        order = Order.objects.create(
            user=owner, client_order_id=f"page-{n}", symbol_id="BTCUSDT", side="buy", quantity=D(quantity),
            price=D(price), price_ts=1, fee_rate=D("0.001"), status="filled",
        )  # fmt: skip
        Trade.objects.create(
            user=owner, order=order, position=position, symbol_id="BTCUSDT", side="sell" if n % 2 else "buy",
            quantity=D(quantity), price=D(price), fee=D(fee), fee_currency="USDT",
            realized_pnl_gross=None if gross is None else D(gross), realized_pnl_net=None if net is None else D(net),
            executed_at=at,
        )  # fmt: skip
    client = Client()
    client.force_login(owner)
    response = client.get("/api/v1/trades")
    assert response.status_code == 200
    expected = [trade_row_payload(row) for row in Trade.objects.values_list(*TRADE_COLUMNS)]
    assert response.json()["results"] == expected
    assert [t["executed_at"] for t in expected][:2] == ["2026-01-02T03:04:05.000007+00:00", "2026-01-02T03:04:05+00:00"]
    assert expected[-1]["quantity"] == "2"

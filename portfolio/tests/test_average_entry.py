"""The average entry price through the API: a reduce never moves it, and any price keeps its digits."""

from decimal import Decimal
from fractions import Fraction

import pytest

from portfolio.services import order_execute
from portfolio.tests.conftest import place, trader

pytestmark = [pytest.mark.integration]


def fill(client, prices, symbol: str, side: str, quantity: str, price: str) -> None:
    prices.set(symbol, price)
    response = place(client, symbol, side, quantity)
    assert response.status_code == 202, response.content
    order_execute(order_id=response.json()["id"])


def test_partial_reduces_leave_the_average_where_it_was(settings, symbols, prices, owner):
    settings.FEE_RATE = Decimal("0.001")
    client = trader(owner)
    fill(client, prices, "BTCUSDT", "buy", "0.0007", "66755.69")
    fill(client, prices, "BTCUSDT", "buy", "0.0006", "66755.72")
    exact = (Fraction("0.0007") * Fraction("66755.69") + Fraction("0.0006") * Fraction("66755.72")) / Fraction("0.0013")
    before = client.get("/api/v1/positions/BTCUSDT").json()["avg_entry_price"]
    assert before == "66755.7038461538"  # 15 significant digits of 66755.70384615384615…
    for sold in ["0.0005", "0.0004", "0.0003", "0.00009"]:  # down to 0.00001, where rounding showed most
        fill(client, prices, "BTCUSDT", "sell", sold, "67000")
        position = client.get("/api/v1/positions/BTCUSDT").json()
        assert position["avg_entry_price"] == before
        assert abs(Fraction(position["avg_entry_price"]) - exact) / exact < Fraction(1, 10**14)
    assert position["quantity"] == "0.00001"


def test_an_average_of_tiny_prices_keeps_its_significant_digits(settings, symbols, prices, owner):
    settings.FEE_RATE = Decimal(0)
    client = trader(owner)
    fill(client, prices, "PEPEUSDT", "buy", "1000000", "0.00000217")
    fill(client, prices, "PEPEUSDT", "buy", "2000000", "0.00000218")
    exact = Fraction(217 + 2 * 218, 3 * 10**8)  # 0.0000021766666…
    for path in ("/api/v1/positions/PEPEUSDT", "/api/v1/positions"):
        body = client.get(path).json()
        position = body if isinstance(body, dict) else body[0]
        reported = Fraction(position["avg_entry_price"])
        assert abs(reported - exact) / exact < Fraction(1, 10**9), position["avg_entry_price"]
    fill(client, prices, "PEPEUSDT", "sell", "3000000", "0.00000220")
    closed = client.get("/api/v1/positions?status=closed").json()[0]
    assert closed["avg_entry_price"] == "0.00000217666666666667"  # a closed position keeps its average
    assert closed["realized_pnl"] == "0.07"  # 3,000,000 × 0.0000022 − (2.17 + 4.36)

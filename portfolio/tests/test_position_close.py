"""Closing positions: dust is always closable, and close-all tells the truth about every symbol."""

from decimal import Decimal

import pytest

from portfolio.models import Order, Position
from portfolio.services import order_execute
from portfolio.tests.conftest import open_position, place, trader

pytestmark = [pytest.mark.integration]


@pytest.fixture
def market(symbols, prices):
    prices.set("BTCUSDT", "60000")
    prices.set("ETHUSDT", "3000")
    prices.set("XRPUSDT", "2.2")
    prices.set("SOLUSDT", "140", age_ms=60_000)  # stale


def _fill(order: dict) -> None:
    order_execute(order_id=order["id"])


@pytest.mark.parametrize(
    ("quantity", "why"),
    [
        ("0.00001", "worth 0.6 USDT, under the 5 USDT minimum notional"),
        ("0.000004", "under the 0.00001 minimum quantity, and off the step"),
    ],
)
def test_a_dust_position_can_always_be_closed(market, owner, quantity, why):
    open_position(owner, "BTCUSDT", quantity, "60000")
    client = trader(owner)
    response = client.delete("/api/v1/positions/BTCUSDT")
    assert response.status_code == 202, (why, response.content)
    assert (response.json()["side"], response.json()["quantity"]) == ("sell", quantity)
    _fill(response.json())
    assert not Position.objects.filter(status="open").exists()


def test_a_plain_opposite_order_that_only_reduces_is_exempt_from_the_minimums(market, owner):
    open_position(owner, "BTCUSDT", "0.00002", "60000")  # 1.2 USDT
    client = trader(owner)
    reduce = place(client, "BTCUSDT", "sell", "0.00001")
    assert reduce.status_code == 202, reduce.content
    _fill(reduce.json())
    assert Position.objects.get(status="open").quantity == Decimal("0.00001")
    # Beyond the position, the same order adds exposure on the other side: the minimums apply.
    crossing = place(client, "BTCUSDT", "sell", "0.00002")
    assert crossing.json()["error"]["code"] == "notional_below_minimum"
    # So does an add, and a partial reduce off the step.
    assert place(client, "BTCUSDT", "buy", "0.00001").json()["error"]["code"] == "notional_below_minimum"
    assert place(client, "BTCUSDT", "sell", "0.000005").json()["error"]["code"] == "quantity_off_step"


def test_dust_closes_in_close_all_too(market, owner):
    open_position(owner, "BTCUSDT", "0.00001", "60000")
    open_position(owner, "ETHUSDT", "0.0001", "3000")  # 0.3 USDT
    response = trader(owner).delete("/api/v1/positions")
    assert response.status_code == 207
    assert [(r["symbol"], r["status"]) for r in response.json()] == [("BTCUSDT", 202), ("ETHUSDT", 202)]


def test_close_all_tries_every_symbol_and_says_what_became_of_each(market, owner):
    for symbol, quantity, price in [("BTCUSDT", "0.1", "60000"), ("SOLUSDT", "2", "140"), ("XRPUSDT", "100", "2")]:
        open_position(owner, symbol, quantity, price)
    client = trader(owner)
    response = client.delete("/api/v1/positions")
    assert response.status_code == 207, response.content
    results = {r["symbol"]: r for r in response.json()}
    assert [r["symbol"] for r in response.json()] == ["BTCUSDT", "SOLUSDT", "XRPUSDT"]
    assert (results["SOLUSDT"]["status"], results["SOLUSDT"]["order"]) == (422, None)
    assert results["SOLUSDT"]["error"]["code"] == "price_stale"
    for symbol in ("BTCUSDT", "XRPUSDT"):  # the one after the refusal was tried too
        assert (results[symbol]["status"], results[symbol]["error"]) == (202, None)
        order = results[symbol]["order"]
        assert (order["symbol"], order["status"], order["reduce_only"]) == (symbol, "pending", True)
        assert client.get(f"/api/v1/orders/{order['id']}").json() == order  # the answer is what is stored
    assert sorted(Order.objects.values_list("symbol_id", flat=True)) == ["BTCUSDT", "XRPUSDT"]


def test_close_all_with_nothing_open_is_an_empty_list(market, owner):
    response = trader(owner).delete("/api/v1/positions")
    assert (response.status_code, response.json()) == (207, [])


def test_a_quantity_with_surrounding_whitespace_is_refused(market, owner):
    client = trader(owner)
    for raw in [" 0.001", "0.001 ", "\t0.001", "0.001\n"]:
        response = place(client, "BTCUSDT", "buy", raw)
        assert response.status_code == 400, raw
        assert response.json()["error"]["code"] == "quantity_invalid"
    assert place(client, " BTCUSDT", "buy", "0.001").json()["error"]["code"] == "symbol_unknown"
    assert Order.objects.count() == 0

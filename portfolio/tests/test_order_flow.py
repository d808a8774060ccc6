"""ACCOUNTING.md's worked examples end to end: prices in the price store, orders through the API,
fills by a real Celery worker on the real broker, results read back from the API."""

from decimal import Decimal

import pytest

from portfolio.tests.conftest import place, trader, wait_final

pytestmark = [pytest.mark.integration]


def trade(client, prices, symbol: str, side: str, quantity: str, price: str) -> dict:
    prices.set(symbol, price)
    response = place(client, symbol, side, quantity)
    assert response.status_code == 202, response.content
    accepted = response.json()
    assert (accepted["status"], accepted["price"]) == ("pending", price)
    filled = wait_final(client, accepted["id"])
    assert filled["status"] == "filled", filled
    return filled


def test_example_1_average_cost_end_to_end(settings, symbols, workers, prices, owner):
    settings.FEE_RATE = 0
    workers.start()
    client = trader(owner)
    for side, quantity, price in [
        ("buy", "0.5", "60000"),
        ("buy", "0.3", "62000"),
        ("sell", "0.2", "65000"),
        ("buy", "0.1", "63000"),
    ]:
        trade(client, prices, "BTCUSDT", side, quantity, price)
    prices.set("BTCUSDT", "64000")
    position = client.get("/api/v1/positions/BTCUSDT").json()
    assert (position["quantity"], position["cost_basis"], position["realized_pnl"]) == ("0.7", "42750", "850")
    assert position["avg_entry_price"] == "61071.4285714286"  # 61,071.43 on screen
    assert (position["current_price"], position["unrealized_pnl"], position["side"]) == ("64000", "2050", "long")
    trades = client.get("/api/v1/trades").json()["results"]
    assert [(t["side"], t["quantity"], t["price"], t["realized_pnl_gross"]) for t in reversed(trades)] == [
        ("buy", "0.5", "60000", None),
        ("buy", "0.3", "62000", None),
        ("sell", "0.2", "65000", "850"),
        ("buy", "0.1", "63000", None),
    ]
    account = client.get("/api/v1/account").json()
    assert (account["cash"], account["realized_pnl"]) == ("58100", "850")  # 100,000 − 48,600 + 13,000 − 6,300
    assert account["equity"] == "102900"  # 58,100 + 0.7 × 64,000


def test_example_2_ends_flat_with_950_realized(settings, symbols, workers, prices, owner):
    settings.FEE_RATE = 0
    workers.start()
    client = trader(owner)
    steps = [
        ("buy", "100", "8"),
        ("buy", "100", "9"),
        ("sell", "100", "10"),
        ("buy", "150", "11"),
        ("sell", "100", "12"),
        ("sell", "150", "14"),
    ]
    for side, quantity, price in steps:
        trade(client, prices, "DOGEUSDT", side, quantity, price)
    assert client.get("/api/v1/positions").json() == []
    closed = client.get("/api/v1/positions?status=closed").json()
    assert [(p["status"], p["quantity"], p["realized_pnl"], p["exit_price"]) for p in closed] == [
        ("closed", "0", "950", "14")
    ]
    realized = [t["realized_pnl_gross"] for t in reversed(client.get("/api/v1/trades").json()["results"])]
    assert realized == [None, None, "150", None, "200", "600"]
    account = client.get("/api/v1/account").json()
    assert (account["cash"], account["realized_pnl"], account["equity"]) == ("100950", "950", "100950")


def test_example_3_dust_free_flat_and_a_fee_taking_crossing(settings, symbols, workers, prices, owner):
    settings.FEE_RATE = 0
    workers.start()
    client = trader(owner)
    for side, quantity, price in [("buy", "0.1", "30000"), ("buy", "0.2", "30000"), ("sell", "0.3", "30001")]:
        trade(client, prices, "BTCUSDT", side, quantity, price)
    closed = client.get("/api/v1/positions?status=closed").json()
    assert [(p["quantity"], p["realized_pnl"]) for p in closed] == [("0", "0.3")]

    settings.FEE_RATE = Decimal("0.001")
    trade(client, prices, "ETHUSDT", "buy", "1", "3000")  # fee 3
    trade(client, prices, "ETHUSDT", "sell", "1.5", "3100")  # crosses zero: fee 4.65 split 3.1 / 1.55
    eth = client.get("/api/v1/trades?symbol=ETHUSDT").json()["results"]
    closing, opening = sorted(eth, key=lambda t: t["id"])[1:]
    assert (closing["quantity"], closing["fee"], closing["realized_pnl_gross"], closing["realized_pnl_net"]) == (
        "1",
        "3.1",
        "100",
        "96.9",
    )
    assert (opening["quantity"], opening["fee"], opening["realized_pnl_gross"]) == ("0.5", "1.55", None)
    assert closing["position_id"] != opening["position_id"]
    short = client.get("/api/v1/positions/ETHUSDT").json()
    assert (short["side"], short["quantity"], short["avg_entry_price"], short["realized_pnl"]) == (
        "short",
        "-0.5",
        "3100",
        "-1.55",
    )
    old = [p for p in client.get("/api/v1/positions?status=closed").json() if p["symbol"] == "ETHUSDT"]
    assert old[0]["realized_pnl"] == "93.9"  # 100 − 3 opening fee − 3.1 closing share

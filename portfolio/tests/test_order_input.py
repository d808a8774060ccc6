"""Bad orders get a clear 4xx with a stable code and write nothing; trades never change."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.test import Client

from portfolio.models import Order, Position, Trade
from portfolio.services import order_execute
from portfolio.tests.conftest import place, streamed, trader
from pricefeed.models import Symbol

pytestmark = [pytest.mark.integration]


@pytest.fixture
def market(symbols, prices):
    prices.set("BTCUSDT", "60000")
    prices.set("ETHUSDT", "3000")
    halted = Symbol.objects.get(pk="LTCUSDT")
    halted.status = Symbol.Status.HALT
    halted.save(update_fields=["status"])  # as the admin and sync_symbols do: the cache hears of it
    prices.set("LTCUSDT", "80")
    prices.set("SOLUSDT", "140", age_ms=60_000)  # stale


@pytest.fixture
def owner_eth(owner):
    """The owner holds 1 ETH long at 3,000."""
    return Position.objects.create(
        user=owner,
        symbol_id="ETHUSDT",
        quantity=Decimal(1),
        cost_basis=Decimal(3000),
        avg_entry_price=Decimal(3000),
        opened_at="2026-01-01T00:00:00Z",
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"symbol": "NOPEUSDT", "side": "buy", "quantity": "1"}, 422, "symbol_unknown"),
        ({"symbol": "LTCUSDT", "side": "buy", "quantity": "1"}, 422, "symbol_halted"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "0"}, 400, "quantity_not_positive"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "-0.01"}, 400, "quantity_invalid"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "NaN"}, 400, "quantity_invalid"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "Infinity"}, 400, "quantity_invalid"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "1e-2"}, 400, "quantity_invalid"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "0.0000000000000000001"}, 400, "quantity_invalid"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": 0.01}, 400, "invalid_input"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "0.000015"}, 422, "quantity_off_step"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "0.00001"}, 422, "notional_below_minimum"),
        ({"symbol": "SOLUSDT", "side": "buy", "quantity": "1"}, 422, "price_stale"),
        ({"symbol": "ADAUSDT", "side": "buy", "quantity": "100"}, 422, "price_stale"),  # never priced
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "2"}, 422, "insufficient_buying_power"),
        ({"symbol": "BTCUSDT", "side": "hold", "quantity": "1"}, 400, "invalid_input"),
        ({"symbol": "BTCUSDT", "quantity": "1"}, 400, "invalid_input"),
        ({"symbol": ["BTCUSDT"], "side": "buy", "quantity": "1"}, 400, "invalid_input"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "1", "client_order_id": "has space"}, 400, "invalid_input"),
        ({"symbol": "BTCUSDT", "side": "buy", "quantity": "1", "client_order_id": "x" * 65}, 400, "invalid_input"),
    ],
)
def test_bad_orders_are_refused_with_a_stable_code_and_nothing_written(market, owner, body, status, code):
    response = trader(owner).post("/api/v1/orders", body, content_type="application/json")
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert Order.objects.count() == 0


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"x"', b"null"])
def test_malformed_bodies_are_400(market, owner, raw):
    response = trader(owner).generic("POST", "/api/v1/orders", raw, content_type="application/json")
    assert response.status_code == 400
    assert Order.objects.count() == 0


def test_closing_more_than_is_open_is_refused_and_never_flips(market, owner, owner_eth):
    client = trader(owner)
    for query, code in [
        ("quantity=1.5", "position_insufficient"),
        ("percentage=150", "percentage_invalid"),
        ("quantity=abc", "quantity_invalid"),
    ]:
        response = client.delete(f"/api/v1/positions/ETHUSDT?{query}")
        assert response.status_code in (400, 422), response.content
        assert response.json()["error"]["code"] == code
    assert client.delete("/api/v1/positions/BTCUSDT").status_code == 404
    assert Order.objects.count() == 0
    half = client.delete("/api/v1/positions/ETHUSDT?percentage=50")
    assert half.status_code == 202
    assert (half.json()["side"], half.json()["quantity"], half.json()["reduce_only"]) == ("sell", "0.5", True)


def test_nobody_sees_or_touches_another_users_orders_or_positions(market, owner, other_user, owner_eth):
    mine = place(trader(owner), "BTCUSDT", "buy", "0.01", "private").json()
    intruder = trader(other_user)
    assert intruder.get(f"/api/v1/orders/{mine['id']}").status_code == 404
    assert intruder.get("/api/v1/orders/by-client-id/private").status_code == 404
    assert intruder.get("/api/v1/orders").json()["results"] == []
    assert intruder.get("/api/v1/positions").json() == []
    assert intruder.get("/api/v1/positions/ETHUSDT").status_code == 404
    assert intruder.delete("/api/v1/positions/ETHUSDT").status_code == 404
    assert intruder.get("/api/v1/trades").json()["results"] == []
    for path in ("/api/v1/orders", "/api/v1/positions", "/api/v1/account", "/api/v1/portfolio", "/api/v1/trades"):
        assert Client().get(path).status_code == 401


def test_trades_cannot_be_changed_or_deleted_by_api_admin_or_sql(market, owner, admin_client):
    client = trader(owner)
    order = place(client, "BTCUSDT", "buy", "0.01").json()
    order_execute(order_id=order["id"])
    trade = Trade.objects.get()
    for method in ("put", "patch", "delete"):
        assert getattr(client, method)("/api/v1/trades", content_type="application/json").status_code == 405
    assert admin_client.get(f"/admin/portfolio/trade/{trade.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/portfolio/trade/{trade.pk}/change/", {"price": "1"}).status_code == 403
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Trade.objects.filter(pk=trade.pk).update(price=Decimal("1"))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Trade.objects.filter(pk=trade.pk).delete()
    trade.refresh_from_db()
    assert trade.price == Decimal("60000")


def test_trades_come_as_csv_with_accept_text_csv(market, owner):
    client = trader(owner)
    order = place(client, "BTCUSDT", "buy", "0.01").json()
    order_execute(order_id=order["id"])
    response = client.get("/api/v1/trades", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming  # read in batches, never the whole history at once (test_queries.py)
    lines = streamed(response).decode().splitlines()
    assert lines[0].startswith("id,order_id,client_order_id,position_id,symbol,side,quantity,price,fee")
    assert ",BTCUSDT,buy,0.01,60000,0.6,USDT," in lines[1]


def test_a_pending_order_past_its_ttl_expires_instead_of_filling(market, owner, settings):
    order = place(trader(owner), "BTCUSDT", "buy", "0.01").json()
    Order.objects.filter(pk=order["id"]).update(created_at="2020-01-01T00:00:00Z")
    assert order_execute(order_id=order["id"]).status == "expired"
    assert Trade.objects.count() == 0

"""Symbols, prices and the feed's state over the API and /readyz, read from the real price store."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client

from pricefeed.bus import RedisPriceBus
from pricefeed.domain import Batch, Tick, now_ms
from pricefeed.models import Symbol
from pricefeed.services import symbol_sync_from_snapshot

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def client(owner, redis_client) -> Client:
    symbol_sync_from_snapshot()
    client = Client()
    client.force_login(owner)
    return client


def publish(*prices: tuple[str, str], age_ms: int = 0, source: str = "binance") -> None:
    at = now_ms() - age_ms
    bus = RedisPriceBus(str(settings.REDIS_URL), 60)
    asyncio.run(bus.publish(Batch(source, at, tuple(Tick(s, Decimal(p), at - 5, at) for s, p in prices))))
    asyncio.run(bus.publish_stats({"source": source, "connections": 1, "reconnects": 2, "lag_ms_p99": 40}))


def test_market_data_needs_a_login(redis_client):
    for path in ("/api/v1/symbols", "/api/v1/prices?symbols=BTCUSDT", "/api/v1/feed"):
        response = Client().get(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "not_authenticated"


def test_symbols_with_their_filters_and_status(client):
    halted = Symbol.objects.get(pk="LTCUSDT")
    halted.status = Symbol.Status.HALT
    halted.save()
    body = client.get("/api/v1/symbols").json()
    btc = next(s for s in body["symbols"] if s["symbol"] == "BTCUSDT")
    assert btc == {
        "symbol": "BTCUSDT",
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "status": "TRADING",
        "tick_size": "0.01",
        "step_size": "0.00001",
        "min_qty": "0.00001",
        "min_notional": "5",
    }
    assert [s["symbol"] for s in client.get("/api/v1/symbols?status=HALT").json()["symbols"]] == ["LTCUSDT"]
    assert client.get("/api/v1/symbols?status=closed").json()["error"]["code"] == "status_invalid"


def test_prices_carry_exchange_time_age_and_a_stale_flag(client):
    publish(("BTCUSDT", "91234.50"))
    publish(("ETHUSDT", "3100.10"), age_ms=60_000)
    body = client.get("/api/v1/prices?symbols=btcusdt,ETHUSDT,SOLUSDT").json()
    btc, eth, sol = body["prices"]
    assert (btc["symbol"], btc["price"], btc["stale"]) == ("BTCUSDT", "91234.5", False)
    assert isinstance(btc["price_ts"], int)
    assert 0 <= btc["age_ms"] < 5_000
    assert (eth["price"], eth["stale"]) == ("3100.1", True)
    assert sol == {"symbol": "SOLUSDT", "price": None, "price_ts": None, "age_ms": None, "stale": True}


@pytest.mark.parametrize("query", ["", "?symbols=", "?symbols=BTC/USDT", "?symbols=" + ",".join(["BTCUSDT"] * 101)])
def test_bad_price_queries_get_400(client, query):
    response = client.get("/api/v1/prices" + query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "symbols_invalid"


@pytest.mark.django_db(transaction=True)  # /readyz probes on connections of their own: data committed
def test_the_feed_state_per_symbol_staleness_and_counters(client):
    assert client.get("/api/v1/feed").json()["state"] == "none"
    publish(("BTCUSDT", "91000"), ("ETHUSDT", "3100"))
    feed = client.get("/api/v1/feed").json()
    assert (feed["state"], feed["source"]) == ("live", "binance")
    trading = Symbol.objects.filter(status=Symbol.Status.TRADING).count()
    assert feed["symbols"]["trading"] == trading
    assert feed["symbols"]["stale"] == trading - 2  # every TRADING symbol without a fresh price
    assert "BTCUSDT" not in feed["symbols"]["stale_symbols"]
    assert "SOLUSDT" in feed["symbols"]["stale_symbols"]
    assert {p["symbol"]: p["stale"] for p in feed["prices"]}["BTCUSDT"] is False
    assert feed["stats"]["reconnects"] == 2

    ready = client.get("/readyz").json()["checks"]["prices"]
    assert (ready["ok"], ready["state"], ready["reconnects"], ready["lag_ms_p99"]) == (True, "live", 2, 40)
    assert ready["symbols"]["stale"] == trading - 2

    publish(("BTCUSDT", "91000"), age_ms=30_000)  # the feed has said nothing for 30 s
    assert client.get("/api/v1/feed").json()["state"] == "stale"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["prices"]["state"] == "stale"


@pytest.mark.django_db(transaction=True)
def test_a_feeder_that_runs_but_receives_no_price_is_stale(client):
    """The exchange is gone for the feeder: it still flushes (its status is fresh), but every price it
    holds is older than PRICE_MAX_AGE_SECONDS."""
    publish(("BTCUSDT", "91000"), age_ms=30_000)
    bus = RedisPriceBus(str(settings.REDIS_URL), 60)
    asyncio.run(bus.publish(Batch("binance", now_ms(), ())))  # the feeder's flush: fresh, empty
    assert client.get("/api/v1/feed").json()["state"] == "stale"
    assert client.get("/readyz").status_code == 503
    publish(("BTCUSDT", "91001"))  # prices again
    assert client.get("/api/v1/feed").json()["state"] == "live"
    assert client.get("/readyz").status_code == 200

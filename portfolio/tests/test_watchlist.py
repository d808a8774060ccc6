"""The watch list: listed symbols only, at most WS_MAX_WATCHED_SYMBOLS, in the order added, each
user's own; adding or removing twice changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from pricefeed.models import Symbol

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(owner):
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def other_api(other_user):
    client = Client()
    client.force_login(other_user)
    return client


@pytest.fixture
def listed():
    names = [f"W{i:02d}USDT" for i in range(4)]
    Symbol.objects.bulk_create(
        Symbol(
            symbol=n,
            base_asset=n[:-4],
            quote_asset="USDT",
            tick_size=Decimal("0.01"),
            step_size=Decimal("0.001"),
            min_qty=Decimal("0.001"),
            min_notional=Decimal("1"),
        )
        for n in names
    )
    return names


def test_a_watch_list_keeps_the_order_added_and_each_change_once(api, other_api, listed):
    assert api.put("/api/v1/watchlist/w02usdt").json() == {"symbols": ["W02USDT"]}
    assert api.put("/api/v1/watchlist/W00USDT").json() == {"symbols": ["W02USDT", "W00USDT"]}
    assert api.put("/api/v1/watchlist/W02USDT").json() == {"symbols": ["W02USDT", "W00USDT"]}  # unchanged
    assert api.delete("/api/v1/watchlist/W02USDT").json() == {"symbols": ["W00USDT"]}
    assert api.delete("/api/v1/watchlist/W02USDT").json() == {"symbols": ["W00USDT"]}  # unchanged
    assert other_api.get("/api/v1/watchlist").json() == {"symbols": []}  # each user's own


def test_only_listed_symbols_and_at_most_the_limit(api, listed, settings):
    settings.WS_MAX_WATCHED_SYMBOLS = 3
    unknown = api.put("/api/v1/watchlist/NOPEUSDT")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "symbol_unknown")
    for name in listed[:3]:
        assert api.put(f"/api/v1/watchlist/{name}").status_code == 200
    full = api.put(f"/api/v1/watchlist/{listed[3]}")
    assert (full.status_code, full.json()["error"]["code"]) == (422, "watchlist_full")
    assert api.get("/api/v1/watchlist").json() == {"symbols": listed[:3]}


def test_the_watch_list_needs_a_login(client):
    assert client.get("/api/v1/watchlist").status_code == 401

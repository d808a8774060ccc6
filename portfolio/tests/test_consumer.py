"""The live portfolio socket, on the real Redis channel layer and price bus."""

import asyncio
import json
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from portfolio.tests.conftest import open_position
from pricefeed.bus import RedisPriceBus
from pricefeed.domain import Batch, Tick, now_ms
from pricefeed.services import symbol_sync_from_snapshot
from tradingsite.asgi import application

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

T0 = 1_795_000_000_000


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def traders(owner, other_user, redis_client):
    symbol_sync_from_snapshot()
    open_position(owner, "BTCUSDT", "0.5", "60000")
    open_position(owner, "ETHUSDT", "-2", "3000")
    open_position(other_user, "SOLUSDT", "10", "100")
    return {"owner": session_cookie(owner), "other": session_cookie(other_user), "owner_user": owner}


async def publish(*prices: tuple[str, str, int]) -> None:
    ticks = tuple(Tick(s, Decimal(p), ts, ts) for s, p, ts in prices)
    await RedisPriceBus(str(settings.REDIS_URL), 60).publish(Batch("simulated", T0, ticks))


def socket(cookie: str | None, origin: str = "http://testserver") -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/v1/portfolio", headers=headers)


async def receive(ws: WebsocketCommunicator) -> dict:
    return json.loads(await ws.receive_from(timeout=3))


async def beyond_heartbeats(ws: WebsocketCommunicator, wait: float = 3) -> dict:
    """The next frame that is not a heartbeat (each socket beats at a random phase of its own)."""
    while (frame := json.loads(await ws.receive_from(timeout=wait)))["type"] == "heartbeat":
        pass
    return frame


async def assert_refused(ws: WebsocketCommunicator) -> None:
    connected, _ = await ws.connect()
    assert connected is False
    await ws.disconnect()  # what the server sends after refusing; ends the consumer instance


async def test_a_socket_without_a_session_is_refused_before_accept(price_hub, traders):
    await assert_refused(socket(None))


async def test_a_foreign_origin_is_refused(price_hub, traders):
    await assert_refused(socket(traders["owner"], origin="http://evil.example"))
    await assert_refused(socket(traders["owner"], origin="http://evil-testserver"))
    await assert_refused(socket(traders["owner"], origin="null"))


async def test_the_snapshot_values_positions_at_the_stored_prices(price_hub, traders):
    await publish(("BTCUSDT", "61000", T0), ("ETHUSDT", "2900", T0 + 1))
    ws = socket(traders["owner"])
    assert (await ws.connect())[0]
    snapshot = await receive(ws)
    assert (snapshot["type"], snapshot["seq"]) == ("snapshot", 1)
    assert snapshot["pnl_fields"] == ["symbol", "current_price", "unrealized_pnl", "unrealized_pnl_percent"]
    positions = {p["symbol"]: p for p in snapshot["positions"]}
    assert set(positions) == {"BTCUSDT", "ETHUSDT"}  # never another user's SOLUSDT
    btc, eth = positions["BTCUSDT"], positions["ETHUSDT"]
    assert (btc["side"], btc["quantity"], btc["avg_entry_price"], btc["cost_basis"]) == (
        "long",
        "0.5",
        "60000",
        "30000",
    )
    assert (btc["current_price"], btc["market_value"], btc["unrealized_pnl"]) == ("61000", "30500", "500")
    assert btc["unrealized_pnl_percent"] == "1.6667"
    assert (eth["side"], eth["quantity"], eth["market_value"], eth["unrealized_pnl"]) == ("short", "-2", "-5800", "200")
    assert snapshot["totals"] == {
        "total_invested": "36000",
        "total_market_value": "24700",
        "total_unrealized_pnl": "700",
        "total_pnl_percent": "1.9444",
        "positions": 2,
        "priced_positions": 2,
    }
    await ws.disconnect()


async def test_a_price_move_sends_one_pnl_delta_to_holders_only(price_hub, traders):
    await publish(("BTCUSDT", "61000", T0), ("ETHUSDT", "2900", T0), ("SOLUSDT", "100", T0))
    owner, other = socket(traders["owner"]), socket(traders["other"])
    assert (await owner.connect())[0]
    assert (await other.connect())[0]
    await receive(owner), await receive(other)

    await publish(("BTCUSDT", "62000.5", T0 + 100), ("XRPUSDT", "2.2", T0 + 100))
    pnl = await receive(owner)
    assert (pnl["type"], pnl["seq"], pnl["price_ts"], pnl["since_ts"]) == ("pnl", 2, T0 + 100, T0 + 100)
    assert pnl["positions"] == [["BTCUSDT", "62000.5", "1000.25", "3.3342"]]  # only what moved
    assert pnl["totals"] == {
        "total_invested": "36000",
        "total_market_value": "25200.25",
        "total_unrealized_pnl": "1200.25",
        "total_pnl_percent": "3.334",
        "positions": 2,
        "priced_positions": 2,
    }
    assert await other.receive_nothing(timeout=0.3)  # holds SOLUSDT only
    await owner.disconnect()
    await other.disconnect()


async def test_resync_sends_a_fresh_snapshot_and_bad_messages_get_an_error(price_hub, traders):
    await publish(("BTCUSDT", "61000", T0), ("ETHUSDT", "2900", T0))
    ws = socket(traders["owner"])
    await ws.connect()
    await receive(ws)
    await ws.send_to(text_data="{not json")
    error = await receive(ws)
    assert (error["type"], error["seq"], error["code"]) == ("error", 2, "message_invalid")
    await ws.send_to(text_data=json.dumps({"type": "launch"}))
    assert (await receive(ws))["code"] == "message_type_unknown"
    await ws.send_to(text_data="x" * 10_000)
    assert (await receive(ws))["code"] == "message_invalid"
    await ws.send_to(text_data=json.dumps({"type": "resync"}))
    snapshot = await receive(ws)
    assert (snapshot["type"], snapshot["seq"]) == ("snapshot", 5)
    await ws.disconnect()


async def test_a_portfolio_event_on_the_channel_layer_reloads_positions(price_hub, traders):
    await publish(("BTCUSDT", "61000", T0), ("ETHUSDT", "2900", T0), ("SOLUSDT", "150", T0))
    ws = socket(traders["owner"])
    await ws.connect()
    await receive(ws)
    await database_sync_to_async(open_position)(traders["owner_user"], "SOLUSDT", "1", "140")
    await get_channel_layer().group_send(f"user.{traders['owner_user'].pk}", {"type": "portfolio.changed"})
    snapshot = await receive(ws)
    assert snapshot["type"] == "snapshot"
    assert {p["symbol"] for p in snapshot["positions"]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    await publish(("SOLUSDT", "151", T0 + 5))
    pnl = await receive(ws)
    assert pnl["positions"][0][:3] == ["SOLUSDT", "151", "11"]
    await ws.disconnect()


async def test_the_socket_hears_when_the_feed_goes_stale_and_comes_back(price_hub, traders, settings):
    settings.PRICE_MAX_AGE_SECONDS = 1
    bus = RedisPriceBus(str(settings.REDIS_URL), 60)

    async def fresh_batch() -> None:  # a symbol nobody holds: only the feed state can change
        now = now_ms()
        await bus.publish(Batch("simulated", now, (Tick("XRPUSDT", Decimal("2.2"), now, now),)))

    await fresh_batch()
    ws = socket(traders["owner"])
    await ws.connect()
    snapshot = await receive(ws)
    assert snapshot["feed"]["state"] == "simulated"
    await asyncio.sleep(1.1)  # the hub has looked at the feed once: simulated
    stale = await beyond_heartbeats(ws, wait=4)
    assert (stale["type"], stale["state"], stale["source"]) == ("feed", "stale", "simulated")
    await fresh_batch()
    back = await beyond_heartbeats(ws)
    assert (back["type"], back["state"]) == ("feed", "simulated")
    assert back["seq"] > stale["seq"]

    # The feeder keeps flushing, but no price comes (the exchange is gone for it): stale too.
    async def empty_batches() -> None:
        for _ in range(40):
            await bus.publish(Batch("simulated", now_ms(), ()))
            await asyncio.sleep(0.1)

    flushing = asyncio.create_task(empty_batches())
    quiet = await beyond_heartbeats(ws, wait=4)
    assert (quiet["type"], quiet["state"]) == ("feed", "stale")
    flushing.cancel()
    await ws.disconnect()


def test_a_socket_message_budget_allows_bursts_drops_the_excess_and_names_a_flood():
    from portfolio.consumers import MessageBudget

    budget = MessageBudget(10, strikes=5, now=0.0)
    assert all(budget.take(now=0.0) for _ in range(20))  # a burst of twice the rate
    assert not budget.take(now=0.0)
    assert [budget.tell(now=t) for t in (0.0, 0.5, 1.0)] == [True, False, True]  # one error a second
    assert budget.take(now=0.1)  # 0.1 s later: one more allowed, and the strikes start again
    assert not any(budget.take(now=0.1) for _ in range(4))
    assert not budget.flooding
    assert not budget.take(now=0.1)
    assert budget.flooding  # five dropped in a row

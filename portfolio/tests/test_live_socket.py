"""The live socket's contract (ARCHITECTURE §5.3) checked against the REST API at the same prices:
snapshot, pnl, prices, order and error frames; seq without gaps; watch caps; throttle; the per-user
connection cap. Real Redis channel layer, real price bus, the consumer in this process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from portfolio.payloads import order_payload
from portfolio.services import OrderRequest, order_place
from portfolio.tests.conftest import open_position
from pricefeed.bus import RedisPriceBus
from pricefeed.domain import Batch, Tick, now_ms
from pricefeed.services import symbol_sync_from_snapshot
from tradingsite.asgi import application

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def holder(owner, other_user, redis_client):
    symbol_sync_from_snapshot()
    for user, symbol, quantity, price in (
        (owner, "BTCUSDT", "0.5", "60000"),
        (owner, "ETHUSDT", "-2", "3000"),
        (owner, "SOLUSDT", "12.5", "141.2"),
        (other_user, "DOGEUSDT", "1000", "0.16"),
    ):
        open_position(user, symbol, quantity, price)
    client = Client()
    client.force_login(owner)
    other = Client()
    other.force_login(other_user)
    return {"client": client, "cookie": f"sessionid={client.cookies['sessionid'].value}", "user": owner, "other": other}


async def publish(*prices: tuple[str, str]) -> int:
    at = now_ms()
    ticks = tuple(Tick(s, Decimal(p), at, at) for s, p in prices)
    await RedisPriceBus(str(settings.REDIS_URL), 60).publish(Batch("simulated", at, ticks))
    return at


def socket(cookie: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, "/ws/v1/portfolio", headers=[(b"origin", b"http://testserver"), (b"cookie", cookie.encode())]
    )


class Frames:
    """Every frame a socket got, in order, so seq can be checked over the whole conversation."""

    def __init__(self, ws: WebsocketCommunicator):
        self.ws = ws
        self.all: list[dict] = []

    async def next(self, kind: str | None = None, within: float = 3) -> dict:
        while True:
            frame = json.loads(await self.ws.receive_from(timeout=within))
            self.all.append(frame)
            if kind is None or frame["type"] == kind:
                return frame

    def assert_seq_has_no_gaps(self) -> None:
        assert [f["seq"] for f in self.all] == list(range(1, len(self.all) + 1))


async def rest(client: Client, path: str) -> dict:
    response = await sync_to_async(client.get)(path)
    assert response.status_code == 200, response.content
    return response.json()


TOTAL_FIELDS = ("total_invested", "total_market_value", "total_unrealized_pnl", "total_pnl_percent")


async def test_every_frame_agrees_with_the_rest_api_at_the_same_prices(price_hub, holder):
    await publish(("BTCUSDT", "61000.12"), ("ETHUSDT", "2950.5"), ("SOLUSDT", "139.77"))
    ws = socket(holder["cookie"])
    assert (await ws.connect())[0]
    frames = Frames(ws)

    # snapshot == GET /positions and GET /portfolio
    snapshot = await frames.next("snapshot")
    api_positions = {p["symbol"]: p for p in await rest(holder["client"], "/api/v1/positions")}
    for position in snapshot["positions"]:
        api = api_positions[position["symbol"]]
        for field, value in position.items():
            assert api[field] == value, (position["symbol"], field)
    portfolio = await rest(holder["client"], "/api/v1/portfolio")
    for field in TOTAL_FIELDS:
        assert snapshot["totals"][field] == portfolio[field], field

    # pnl after a move == REST after the same move
    await publish(("SOLUSDT", "142.01"), ("DOGEUSDT", "0.17"))
    pnl = await frames.next("pnl")
    assert [p[0] for p in pnl["positions"]] == ["SOLUSDT"]
    api_sol = await rest(holder["client"], "/api/v1/positions/SOLUSDT")
    for field, value in zip(snapshot["pnl_fields"], pnl["positions"][0], strict=True):
        assert value == api_sol[field], field
    portfolio = await rest(holder["client"], "/api/v1/portfolio")
    for field in TOTAL_FIELDS:
        assert pnl["totals"][field] == portfolio[field], field
    assert pnl["price_ts"] == api_sol["price_ts"]

    # prices for watched symbols == GET /prices
    await ws.send_to(text_data=json.dumps({"type": "watch", "symbols": ["DOGEUSDT", "BTCUSDT"]}))
    prices = await frames.next("prices")
    api_prices = {
        p["symbol"]: p for p in (await rest(holder["client"], "/api/v1/prices?symbols=DOGEUSDT,BTCUSDT"))["prices"]
    }
    assert [p["symbol"] for p in prices["prices"]] == ["BTCUSDT", "DOGEUSDT"]
    for row in prices["prices"]:
        assert (row["price"], row["price_ts"]) == (
            api_prices[row["symbol"]]["price"],
            api_prices[row["symbol"]]["price_ts"],
        )
    await publish(("DOGEUSDT", "0.1712"))
    moved = await frames.next("prices")
    assert moved["prices"] == [{"symbol": "DOGEUSDT", "price": "0.1712", "price_ts": moved["prices"][0]["price_ts"]}]

    # order == GET /orders/{id}
    order, _ = await sync_to_async(order_place)(
        user=holder["user"], request=OrderRequest(symbol="BTCUSDT", side="buy", quantity="0.001")
    )
    await get_channel_layer().group_send(
        f"user.{holder['user'].pk}", {"type": "order.updated", "order": await sync_to_async(order_payload)(order)}
    )
    frame = await frames.next("order")
    assert frame["order"] == await rest(holder["client"], f"/api/v1/orders/{order.pk}")

    # error: the socket lives on
    await ws.send_to(text_data="[1, 2")
    error = await frames.next("error")
    assert error["code"] == "message_invalid"
    await ws.send_to(text_data=json.dumps({"type": "resync"}))
    assert (await frames.next())["type"] == "snapshot"
    frames.assert_seq_has_no_gaps()
    await ws.disconnect()


async def test_watch_is_capped_validated_and_unwatch_stops_prices(price_hub, holder, settings):
    settings.WS_MAX_WATCHED_SYMBOLS = 3
    await publish(("XRPUSDT", "2.2"), ("ADAUSDT", "0.46"))
    ws = socket(holder["cookie"])
    assert (await ws.connect())[0]
    frames = Frames(ws)
    await frames.next("snapshot")
    for bad in ({"type": "watch", "symbols": "XRPUSDT"}, {"type": "watch", "symbols": ["xrp/usdt"]}, {"type": "watch"}):
        await ws.send_to(text_data=json.dumps(bad))
        assert (await frames.next())["code"] == "symbols_invalid"
    await ws.send_to(text_data=json.dumps({"type": "watch", "symbols": ["XRPUSDT", "ADAUSDT", "TRXUSDT"]}))
    assert {p["symbol"] for p in (await frames.next("prices"))["prices"]} == {"XRPUSDT", "ADAUSDT"}  # TRX: no price yet
    await ws.send_to(text_data=json.dumps({"type": "watch", "symbols": ["LINKUSDT"]}))
    assert (await frames.next())["code"] == "watch_limit"
    await ws.send_to(text_data=json.dumps({"type": "unwatch", "symbols": ["XRPUSDT"]}))
    await ws.send_to(text_data=json.dumps({"type": "resync"}))  # answered after the unwatch is applied
    await frames.next("snapshot")
    await publish(("XRPUSDT", "2.3"), ("ADAUSDT", "0.47"))
    moved = await frames.next("prices")
    assert [p["symbol"] for p in moved["prices"]] == ["ADAUSDT"]
    await ws.send_to(text_data=json.dumps({"type": "watch", "symbols": ["LINKUSDT"]}))  # room again
    assert await ws.receive_nothing(timeout=0.2)  # no price for LINK yet: nothing to send, no error
    frames.assert_seq_has_no_gaps()
    await ws.disconnect()


async def test_throttle_conflates_to_the_latest_numbers(price_hub, holder):
    await publish(("BTCUSDT", "61000"))
    ws = socket(holder["cookie"])
    assert (await ws.connect())[0]
    frames = Frames(ws)
    await frames.next("snapshot")
    for bad in (0, -1, 11, "5", True, None):
        await ws.send_to(text_data=json.dumps({"type": "throttle", "max_hz": bad}))
        assert (await frames.next())["code"] == "max_hz_invalid"
    await ws.send_to(text_data=json.dumps({"type": "throttle", "max_hz": 2}))
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    for i in range(10):  # 10 batches in 0.5 s
        await publish(("BTCUSDT", f"{61001 + i}"))
        await asyncio.sleep(0.05)
    received = []
    while asyncio.get_running_loop().time() - started < 1.6:
        if not await ws.receive_nothing(timeout=0.1):  # (a receive timeout would end the consumer)
            frame = await frames.next()  # a heartbeat may come too: waiting for a pnl after it timed out
            if frame["type"] == "pnl":
                received.append(frame)
    assert 2 <= len(received) <= 4  # at most 2 a second, not 10
    assert received[-1]["positions"][0][1] == "61010"  # latest wins
    frames.assert_seq_has_no_gaps()
    await ws.disconnect()


async def test_the_sixth_socket_of_a_user_is_closed_with_4429(price_hub, holder):
    sockets = [socket(holder["cookie"]) for _ in range(5)]
    for ws in sockets:
        assert (await ws.connect())[0]
        assert json.loads(await ws.receive_from(timeout=3))["type"] == "snapshot"
    sixth = socket(holder["cookie"])
    assert (await sixth.connect())[0]  # accepted, then closed
    error = json.loads(await sixth.receive_from(timeout=3))
    assert error["code"] == "too_many_connections"
    assert await sixth.receive_output(timeout=3) == {"type": "websocket.close", "code": 4429}
    await sockets[0].disconnect()
    again = socket(holder["cookie"])  # one left: room for one more
    assert (await again.connect())[0]
    assert json.loads(await again.receive_from(timeout=3))["type"] == "snapshot"
    for ws in (*sockets[1:], again):
        await ws.disconnect()


async def test_heartbeats_keep_coming(price_hub, holder, settings):
    settings.WS_HEARTBEAT_SECONDS = 1
    ws = socket(holder["cookie"])
    assert (await ws.connect())[0]
    frames = Frames(ws)
    await frames.next("snapshot")
    first = await frames.next("heartbeat", within=2)
    second = await frames.next("heartbeat", within=2)
    assert 900 <= second["ts"] - first["ts"] <= 1500
    frames.assert_seq_has_no_gaps()
    await ws.disconnect()


async def _lines(chunks) -> AsyncIterator[str]:
    async for chunk in chunks:
        for line in chunk.decode().splitlines():
            yield line


async def test_a_price_reads_the_same_in_every_endpoint_and_frame(price_hub, holder):
    """One formatter: Binance's "67234.50000000" is "67234.5" wherever it leaves the server."""
    await publish(("BTCUSDT", "67234.50000000"))
    ws = socket(holder["cookie"])
    assert (await ws.connect())[0]
    frames = Frames(ws)
    snapshot = await frames.next("snapshot")
    seen = {"snapshot": next(p for p in snapshot["positions"] if p["symbol"] == "BTCUSDT")["current_price"]}
    await ws.send_to(text_data=json.dumps({"type": "watch", "symbols": ["BTCUSDT"]}))
    seen["prices frame"] = (await frames.next("prices"))["prices"][0]["price"]
    await publish(("BTCUSDT", "67234.60000000"), ("ETHUSDT", "3000.10"))
    await publish(("BTCUSDT", "67234.50000000"))
    while True:
        pnl = await frames.next("pnl")
        btc = [p for p in pnl["positions"] if p[0] == "BTCUSDT"]
        if btc and btc[0][1] != "67234.6":
            seen["pnl frame"] = btc[0][1]
            break
    client = holder["client"]
    seen["GET /prices"] = (await rest(client, "/api/v1/prices?symbols=BTCUSDT"))["prices"][0]["price"]
    seen["GET /positions"] = next(p for p in await rest(client, "/api/v1/positions") if p["symbol"] == "BTCUSDT")[
        "current_price"
    ]
    seen["GET /positions/BTCUSDT"] = (await rest(client, "/api/v1/positions/BTCUSDT"))["current_price"]
    order, _ = await sync_to_async(order_place)(
        user=holder["user"], request=OrderRequest(symbol="BTCUSDT", side="buy", quantity="0.001")
    )
    seen["GET /orders/{id}"] = (await rest(client, f"/api/v1/orders/{order.pk}"))["price"]
    from portfolio.services import order_execute

    await sync_to_async(order_execute)(order_id=order.pk)
    seen["GET /trades"] = (await rest(client, "/api/v1/trades"))["results"][0]["price"]
    csv = await sync_to_async(client.get)("/api/v1/trades", HTTP_ACCEPT="text/csv")
    header, row = [line async for line in _lines(csv.streaming_content)][:2]
    seen["trades CSV"] = dict(zip(header.split(","), row.split(","), strict=True))["price"]
    assert seen == dict.fromkeys(seen, "67234.5")
    await ws.disconnect()

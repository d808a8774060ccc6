"""The Redis contract of ARCHITECTURE §5.1, read back from a real Redis."""

import asyncio
import json
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from pricefeed.bus import RedisPriceBus
from pricefeed.domain import Batch, Tick

pytestmark = pytest.mark.integration


def batch(*prices: tuple[str, str, int]) -> Batch:
    return Batch("simulated", 1_795_000_000_500, tuple(Tick(s, Decimal(p), ts, ts + 3) for s, p, ts in prices))


async def test_a_batch_is_stored_per_symbol_with_a_ttl_and_published_once(redis_client):
    bus = RedisPriceBus(str(settings.REDIS_URL), ttl_seconds=60)
    listener = aioredis.Redis.from_url(str(settings.REDIS_URL))
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe("prices")

    sent = batch(("BTCUSDT", "67234.50", 1_795_000_000_000), ("ETHUSDT", "3105.4", 1_795_000_000_100))
    await bus.publish(sent)

    assert json.loads(redis_client.get("price:BTCUSDT")) == {
        "symbol": "BTCUSDT",
        "price": "67234.50",
        "event_ts": 1_795_000_000_000,
        "received_ts": 1_795_000_000_003,
    }
    assert 58 <= redis_client.ttl("price:BTCUSDT") <= 60
    messages = []
    deadline = asyncio.get_running_loop().time() + 0.5
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            messages.append(message)
    assert len(messages) == 1
    assert Batch.from_json(messages[0]["data"]) == sent
    await pubsub.aclose()
    await listener.aclose()


async def test_readers_get_what_was_stored_and_skip_missing_symbols(redis_client):
    bus = RedisPriceBus(str(settings.REDIS_URL), ttl_seconds=60)
    await bus.publish(batch(("SOLUSDT", "141.62", 5)))
    expected = {"SOLUSDT": Tick("SOLUSDT", Decimal("141.62"), 5, 8)}
    assert bus.get_many(["SOLUSDT", "NOPEUSDT"]) == expected
    assert await bus.aget_many(["SOLUSDT", "NOPEUSDT"]) == expected
    status = bus.feed_status()
    assert status is not None
    assert status.source == "simulated"


async def test_a_reader_sees_each_new_price_and_a_malformed_one_is_skipped(redis_client):
    """A tick decoded once is reused while its stored bytes are the same: never past a change."""
    bus = RedisPriceBus(str(settings.REDIS_URL), ttl_seconds=60)
    for price, ts in (("141.62", 5), ("141.63", 6), ("141.62", 7), ("141.62", 7)):
        await bus.publish(batch(("SOLUSDT", price, ts)))
        assert bus.get_many(["SOLUSDT"]) == {"SOLUSDT": Tick("SOLUSDT", Decimal(price), ts, ts + 3)}
    redis_client.set("price:SOLUSDT", b'{"symbol":"SOLUSDT","price":"-1","event_ts":8,"received_ts":9}')
    assert bus.get_many(["SOLUSDT"]) == {}


async def test_subscribers_receive_batches_in_order(redis_client):
    bus = RedisPriceBus(str(settings.REDIS_URL), ttl_seconds=60)
    received: list[Batch] = []

    async def listen() -> None:
        async for b in bus.subscribe():
            received.append(b)
            if len(received) == 3:
                return

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.2)  # let the subscription reach Redis
    sent = [batch(("BTCUSDT", str(60_000 + i), i)) for i in range(3)]
    for b in sent:
        await bus.publish(b)
    await asyncio.wait_for(task, 5)
    assert received == sent

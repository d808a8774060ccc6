"""A burst of 100,000 updates in one second, through the real Binance source and feeder, while Redis
answers slowly: the buffer stays bounded by the number of symbols, the latest value of every symbol
wins, and every flush is one pipeline (one PUBLISH per batch, never two flushes in flight)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from pricefeed.bus import RedisPriceBus
from pricefeed.domain import Tick
from pricefeed.feeder import Feeder, LatestWinsBuffer
from pricefeed.sources.binance import BinanceConfig, BinanceSource
from tradingsite.testing.fake_binance import FakeBinance
from tradingsite.testing.slow_proxy import SlowProxy

pytestmark = pytest.mark.integration

SYMBOLS = [f"B{i:03d}USDT" for i in range(500)]
UPDATES = 100_000
FRAMES = 100  # `!miniTicker@arr`-style frames of 1,000 updates each, spread over one second
REDIS_DELAY = 0.25  # every write to Redis waits this long


class MeasuredBuffer(LatestWinsBuffer):
    def __init__(self) -> None:
        super().__init__()
        self.max_len = 0

    def put(self, tick: Tick) -> None:
        super().put(tick)
        self.max_len = max(self.max_len, len(self._ticks))


class CountingBus(RedisPriceBus):
    stats_writes = 0

    async def publish_stats(self, stats: dict[str, Any]) -> None:
        self.stats_writes += 1
        await super().publish_stats(stats)


def frame(start: int, count: int, base_ts: int) -> tuple[str, dict[str, str]]:
    items, last = [], {}
    for n in range(start, start + count):
        symbol = SYMBOLS[n % len(SYMBOLS)]
        price = f"{100 + n // len(SYMBOLS)}.{n % 100:02d}"
        items.append({"e": "24hrMiniTicker", "E": base_ts + n // 1000, "s": symbol, "c": price})
        last[symbol] = price
    return json.dumps({"stream": "!miniTicker@arr", "data": items}, separators=(",", ":")), last


async def test_a_burst_with_a_slow_redis_stays_bounded_and_the_latest_value_wins(redis_client):
    redis_client.config_resetstat()
    url = urlsplit(str(settings.REDIS_URL))
    proxy = await SlowProxy(url.hostname or "127.0.0.1", url.port or 6379, REDIS_DELAY).start()
    slow_url = f"redis://127.0.0.1:{proxy.listen_port}{url.path}"
    server = await FakeBinance().start()

    async def tradable() -> set[str]:
        return set(SYMBOLS)

    config = BinanceConfig(ws_url=server.ws_url, rest_url=server.rest_url, streams_per_request=200)
    source = BinanceSource(config, tradable)
    bus = CountingBus(slow_url, 60)
    feeder = Feeder(source, bus, 100)
    feeder.buffer = MeasuredBuffer()
    task = asyncio.create_task(feeder.run())
    try:
        deadline = time.monotonic() + 10
        while len(server.subscribed()) < len(SYMBOLS):
            assert time.monotonic() < deadline, "not subscribed"
            await asyncio.sleep(0.05)
        batches_before = feeder.stats.batches_out

        expected: dict[str, str] = {}
        frames = [frame(i * (UPDATES // FRAMES), UPDATES // FRAMES, time.time_ns() // 1_000_000) for i in range(FRAMES)]
        started = time.monotonic()
        for i, (raw, last) in enumerate(frames):
            await asyncio.sleep(max(0.0, started + i / FRAMES - time.monotonic()))
            await server.send_raw(raw)
            expected.update(last)
        sent_in = time.monotonic() - started

        deadline = time.monotonic() + 20
        while source.stats.ticks_in < UPDATES or len(feeder.buffer):
            assert time.monotonic() < deadline, f"only {source.stats.ticks_in} updates received"
            await asyncio.sleep(0.05)
        await asyncio.sleep(2 * REDIS_DELAY + 0.3)  # the last flush lands
        stored = {
            s: json.loads(raw)["price"]
            for s, raw in zip(SYMBOLS, redis_client.mget([f"price:{s}" for s in SYMBOLS]), strict=True)
        }
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()
        await proxy.stop()

    assert sent_in < 1.5
    assert source.stats.ticks_in >= UPDATES
    # Memory: one slot per symbol, whatever arrives (and the socket buffers at most 64 frames).
    assert feeder.buffer.max_len <= len(SYMBOLS)
    # The latest value of every symbol wins.
    assert stored == expected
    # One pipeline per flush: one PUBLISH per batch, SETs only inside them, flushes never overlapping
    # (with each round trip slowed to >= 0.25 s, at most one batch per 0.25 s got out).
    stats = redis_client.info("commandstats")
    batches = feeder.stats.batches_out
    assert stats["cmdstat_publish"]["calls"] == batches
    # every SET: a price, the feed status of each batch, or the feeder's counters
    assert stats["cmdstat_set"]["calls"] == feeder.stats.ticks_out + batches + bus.stats_writes
    assert feeder.stats.max_flush_ms >= REDIS_DELAY * 1000
    burst_batches = batches - batches_before
    assert burst_batches <= (sent_in + 25) / REDIS_DELAY
    print(
        f"\n{source.stats.ticks_in} updates in {sent_in:.2f}s; {burst_batches} flushes while Redis was slow;"
        f" buffer max {feeder.buffer.max_len}; flush max {feeder.stats.max_flush_ms:.0f} ms"
    )

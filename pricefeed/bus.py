"""The price bus: where the feeder writes ticks and where every web process reads them.

Two backends behind one interface, picked by settings (the code that uses the bus never branches):
- `RedisPriceBus` (production): `SET price:{SYMBOL} <tick> EX ttl` for every tick of a batch plus
  one `PUBLISH prices <batch>`, all in one pipeline; readers `MGET` and `SUBSCRIBE`.
- `MemoryPriceBus` (embedded): the same contract inside one process, for the demo and unit tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from functools import cache
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

from pricefeed.domain import Batch, FeedStatus, Tick
from tradingsite.lib.aredis import REDIS_TIMEOUTS, RETRY_ONCE, client_for

logger = logging.getLogger(__name__)

PRICES_CHANNEL = "prices"
FEED_STATUS_KEY = "feed:status"
FEED_STATS_KEY = "feed:stats"


def price_key(symbol: str) -> str:
    return f"price:{symbol}"


class PriceBus(ABC):
    @abstractmethod
    async def publish(self, batch: Batch) -> None:
        """Store every tick of the batch and announce the batch, as one unit."""

    @abstractmethod
    def get_many(self, symbols: Iterable[str]) -> dict[str, Tick]:
        """The stored latest tick per symbol (symbols without a live price are left out)."""

    @abstractmethod
    async def aget_many(self, symbols: Iterable[str]) -> dict[str, Tick]: ...

    @abstractmethod
    def feed_status(self) -> FeedStatus | None: ...

    @abstractmethod
    async def afeed_status(self) -> FeedStatus | None: ...

    @abstractmethod
    async def publish_stats(self, stats: dict[str, Any]) -> None:
        """The feeder's counters (written about once a second)."""

    @abstractmethod
    def feed_stats(self) -> dict[str, Any] | None: ...

    @abstractmethod
    def subscribe(self, stop: asyncio.Event | None = None) -> AsyncIterator[Batch]:
        """Batches as they are published, from now on, until `stop` is set; survives a lost
        connection."""


class RedisPriceBus(PriceBus):
    def __init__(self, url: str, ttl_seconds: int):
        self.url = url
        self.ttl = ttl_seconds
        self._sync = redis.Redis.from_url(url, **REDIS_TIMEOUTS, **RETRY_ONCE)

    def _aclient(self) -> aioredis.Redis:
        return client_for(self.url)

    async def publish(self, batch: Batch) -> None:
        pipe = self._aclient().pipeline(transaction=False)
        for tick in batch.ticks:
            pipe.set(price_key(tick.symbol), tick.to_json(), ex=self.ttl)
        pipe.set(FEED_STATUS_KEY, FeedStatus(batch.source, batch.flushed_ts).to_json(), ex=self.ttl)
        pipe.publish(PRICES_CHANNEL, batch.to_json())
        await pipe.execute()

    def get_many(self, symbols: Iterable[str]) -> dict[str, Tick]:
        names = list(symbols)
        return _decode_ticks(names, self._sync.mget([price_key(s) for s in names]) if names else [])

    async def aget_many(self, symbols: Iterable[str]) -> dict[str, Tick]:
        names = list(symbols)
        if not names:
            return {}
        return _decode_ticks(names, await self._aclient().mget([price_key(s) for s in names]))

    def feed_status(self) -> FeedStatus | None:
        raw = self._sync.get(FEED_STATUS_KEY)
        return None if raw is None else FeedStatus.from_json(raw)

    async def afeed_status(self) -> FeedStatus | None:
        raw = await self._aclient().get(FEED_STATUS_KEY)
        return None if raw is None else FeedStatus.from_json(raw)

    async def publish_stats(self, stats: dict[str, Any]) -> None:
        await self._aclient().set(FEED_STATS_KEY, json.dumps(stats), ex=self.ttl)

    def feed_stats(self) -> dict[str, Any] | None:
        raw = self._sync.get(FEED_STATS_KEY)
        return None if raw is None else json.loads(raw)

    async def subscribe(self, stop: asyncio.Event | None = None) -> AsyncIterator[Batch]:
        """Batches are read and decoded on a thread of their own and handed to the event loop.

        Reading them as an asyncio task gave that task one turn per round of the loop: with
        thousands of sockets a round takes about a second, batches arrive every 100 ms, and the
        subscription fell ever further behind (Redis's output buffer for it grew; measured with
        bench/live.py). Here every batch that arrived is waiting in the queue at each turn, and all
        of them are applied at once.
        """
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Batch] = asyncio.Queue()
        halt = threading.Event()
        reader = threading.Thread(
            target=self._read_forever, args=(loop, queue, halt), name="price-subscription", daemon=True
        )
        reader.start()
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                getting = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if getting not in done:
                    getting.cancel()
                    break
                yield getting.result()
                while not queue.empty():
                    yield queue.get_nowait()
        finally:
            halt.set()
            stopping.cancel()

    def _read_forever(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Batch], halt: threading.Event
    ) -> None:
        delay = 0.1
        while not halt.is_set():
            client = redis.Redis.from_url(self.url, socket_timeout=5)
            pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(PRICES_CHANNEL)
                delay = 0.1
                while not halt.is_set():
                    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None:
                        continue
                    batch = _decode_batch(message["data"])
                    if batch is not None:
                        loop.call_soon_threadsafe(queue.put_nowait, batch)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                logger.warning("price subscription lost (%s); retrying in %.1fs", exc, delay)
            except RuntimeError:
                return  # the event loop is closed: nobody is listening any more
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()
                    client.close()
            if not halt.wait(delay):
                delay = min(delay * 2, 1.0)  # back within a second of Redis: prices are live data


class MemoryPriceBus(PriceBus):
    """One process's bus. Subscribers get bounded queues: a subscriber that falls behind loses the
    oldest batches, never grows memory (prices are state, not events: the newest batch wins)."""

    QUEUE_SIZE = 64

    def __init__(self) -> None:
        self._prices: dict[str, Tick] = {}
        self._status: FeedStatus | None = None
        self._stats: dict[str, Any] | None = None
        self._queues: set[asyncio.Queue[Batch]] = set()

    async def publish(self, batch: Batch) -> None:
        for tick in batch.ticks:
            self._prices[tick.symbol] = tick
        self._status = FeedStatus(batch.source, batch.flushed_ts)
        for queue in list(self._queues):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(batch)

    def get_many(self, symbols: Iterable[str]) -> dict[str, Tick]:
        return {s: self._prices[s] for s in symbols if s in self._prices}

    async def aget_many(self, symbols: Iterable[str]) -> dict[str, Tick]:
        return self.get_many(symbols)

    def feed_status(self) -> FeedStatus | None:
        return self._status

    async def afeed_status(self) -> FeedStatus | None:
        return self._status

    async def publish_stats(self, stats: dict[str, Any]) -> None:
        self._stats = dict(stats)

    def feed_stats(self) -> dict[str, Any] | None:
        return self._stats

    async def subscribe(self, stop: asyncio.Event | None = None) -> AsyncIterator[Batch]:
        queue: asyncio.Queue[Batch] = asyncio.Queue(self.QUEUE_SIZE)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)


# The last value read per symbol and its Tick: a symbol moves a few times a second and is read far
# more often (every portfolio read of every holder), so most reads find the same bytes and skip
# the decode (~2.6 µs a tick; 50 per portfolio read). Bounded by the number of symbols.
_decoded: dict[str, tuple[bytes | str, Tick]] = {}


def _decode_ticks(names: list[str], raws: Sequence[bytes | str | None]) -> dict[str, Tick]:
    ticks: dict[str, Tick] = {}
    for name, raw in zip(names, raws, strict=True):
        if raw is None:
            continue
        seen = _decoded.get(name)
        if seen is not None and seen[0] == raw:
            ticks[name] = seen[1]
            continue
        try:
            ticks[name] = tick = Tick.from_json(raw)
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring malformed price for %s: %r", name, raw[:200])
            continue
        if len(_decoded) >= 20_000:
            _decoded.clear()
        _decoded[name] = (raw, tick)
    return ticks


def _decode_batch(raw: bytes) -> Batch | None:
    try:
        return Batch.from_json(raw)
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring malformed price batch: %r", raw[:200])
        return None


@cache
def get_bus() -> PriceBus:
    if settings.PRICE_BUS == "redis":
        return RedisPriceBus(str(settings.PRICE_REDIS_URL), settings.PRICE_TTL_SECONDS)
    return MemoryPriceBus()

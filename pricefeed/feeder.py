"""The ingestion loop: a source fills a latest-value-wins buffer, a flusher empties it every interval
into the price bus as ONE batch (ARCHITECTURE §3, §5.4).

Memory is bounded by the number of symbols, whatever the input rate: a symbol that ticks 1,000
times between two flushes still occupies one slot, holding its newest tick.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pricefeed.bus import PriceBus
from pricefeed.domain import Batch, Tick, now_ms

logger = logging.getLogger(__name__)

IDLE_HEARTBEAT_MS = 1000  # with no ticks at all, still refresh the feed status this often
STATS_EVERY_MS = 1000  # counters written to the bus (feed:stats) this often
OUTAGE_LOG_SECONDS = 30  # while the bus is unreachable, one log line this often


def percentiles(name: str, samples: Iterable[int]) -> dict[str, int]:
    """`{name}_p50` and `{name}_p99` of the samples (nothing when there are none)."""
    ordered = sorted(samples)
    if not ordered:
        return {}
    return {
        f"{name}_p50": ordered[len(ordered) // 2],
        f"{name}_p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


class Source(Protocol):
    name: str

    async def run(self, emit: TickSink) -> None: ...


class TickSink(Protocol):
    def __call__(self, tick: Tick, /) -> None: ...


class LatestWinsBuffer:
    def __init__(self) -> None:
        self._ticks: dict[str, Tick] = {}

    def put(self, tick: Tick) -> None:
        current = self._ticks.get(tick.symbol)
        if current is None or tick.event_ts >= current.event_ts:
            self._ticks[tick.symbol] = tick

    def drain(self) -> tuple[Tick, ...]:
        ticks, self._ticks = self._ticks, {}
        return tuple(ticks.values())

    def __len__(self) -> int:
        return len(self._ticks)


@dataclass
class FeederStats:
    ticks_in: int = 0
    batches_out: int = 0
    ticks_out: int = 0
    last_flush_ms: float = 0.0
    max_flush_ms: float = 0.0
    flush_errors: int = 0
    # receive → publish, per tick, of the latest batches (bounded)
    publish_lag_ms: collections.deque[int] = field(default_factory=lambda: collections.deque(maxlen=20_000))

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {k: v for k, v in vars(self).items() if k != "publish_lag_ms"}
        body["last_flush_ms"] = round(self.last_flush_ms, 2)
        body["max_flush_ms"] = round(self.max_flush_ms, 2)
        body.update(percentiles("publish_lag_ms", self.publish_lag_ms))
        return body


class Feeder:
    def __init__(self, source: Source, bus: PriceBus, interval_ms: int):
        self.source = source
        self.bus = bus
        self.interval = interval_ms / 1000
        self.buffer = LatestWinsBuffer()
        self.stats = FeederStats()
        self._last_publish_ms = 0
        self._last_stats_ms = 0
        self._failing_since: float | None = None  # monotonic time of the first failed flush of an outage
        self._failed_flushes = 0
        self._last_outage_log = 0.0

    def status(self) -> dict[str, Any]:
        """Counters of the feeder and of its source, for logs, /readyz and the API."""
        body = {"source": self.source.name, **self.stats.as_dict()}
        source_status = getattr(self.source, "status", None)
        if callable(source_status):
            body.update(source_status())
        return body

    def emit(self, tick: Tick) -> None:
        self.stats.ticks_in += 1
        self.buffer.put(tick)

    async def run(self) -> None:
        source_task = asyncio.create_task(self.source.run(self.emit), name=f"price-source-{self.source.name}")
        try:
            await self._flush_forever(source_task)
        finally:
            source_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await source_task
            await self.flush()  # whatever arrived since the last tick of the clock

    async def _flush_forever(self, source_task: asyncio.Task[None]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while not source_task.done():
            deadline += self.interval
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            await self.flush()
        source_task.result()  # a source that ended by itself: surface its exception

    def _flush_failed(self, exc: Exception) -> None:
        """One line with the traceback when an outage starts, then one line every OUTAGE_LOG_SECONDS
        while it lasts (not one per flush: ten a second), one when it ends (`flush`)."""
        clock = time.monotonic()
        if self._failing_since is None:
            self._failing_since, self._failed_flushes, self._last_outage_log = clock, 0, clock
            logger.error("price flush failed; prices kept for the next flush (latest wins)", exc_info=exc)
        self._failed_flushes += 1
        if clock - self._last_outage_log >= OUTAGE_LOG_SECONDS:
            self._last_outage_log = clock
            logger.warning(
                "price bus still unreachable after %.0f s (%d flushes failed): %s",
                clock - self._failing_since,
                self._failed_flushes,
                exc,
            )

    async def flush(self) -> None:
        ticks = self.buffer.drain()
        now = now_ms()
        if not ticks and now - self._last_publish_ms < IDLE_HEARTBEAT_MS:
            return
        started = time.perf_counter()
        try:
            await self.bus.publish(Batch(self.source.name, now, ticks))
        except Exception as exc:
            # Keep the newest values for the next attempt instead of losing them.
            self.stats.flush_errors += 1
            for tick in ticks:
                self.buffer.put(tick)
            self._flush_failed(exc)
            return
        if self._failing_since is not None:
            logger.warning(
                "price bus back after %.1f s: %d flushes had failed; publishing again",
                time.monotonic() - self._failing_since,
                self._failed_flushes,
            )
            self._failing_since = None
        self._last_publish_ms = now
        self.stats.batches_out += 1
        self.stats.ticks_out += len(ticks)
        self.stats.last_flush_ms = (time.perf_counter() - started) * 1000
        self.stats.max_flush_ms = max(self.stats.max_flush_ms, self.stats.last_flush_ms)
        self.stats.publish_lag_ms.extend(now - tick.received_ts for tick in ticks)
        if now - self._last_stats_ms >= STATS_EVERY_MS:
            self._last_stats_ms = now
            with contextlib.suppress(Exception):
                await self.bus.publish_stats(self.status())

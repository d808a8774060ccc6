"""One price hub per web process (ARCHITECTURE §7).

It holds the process's only subscription to the price bus, keeps the latest tick per symbol in
memory, and indexes local listeners (WebSocket consumers) by symbol. Per batch, each affected
listener is told once which of its symbols changed; the listener does the rest on its own task, so
a slow socket never delays the others and the hub never waits on one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Protocol

from django.conf import settings

from pricefeed.bus import get_bus
from pricefeed.domain import Batch, FeedStatus, Tick, now_ms

logger = logging.getLogger(__name__)


class PriceListener(Protocol):
    def prices_changed(self, symbols: set[str], /) -> None: ...

    def feed_changed(self, state: dict[str, Any], /) -> None: ...


FEED_CHECK_SECONDS = 1.0


class PriceHub:
    def __init__(self) -> None:
        self.prices: dict[str, Tick] = {}
        self.status: FeedStatus | None = None
        self._index: dict[str, set[PriceListener]] = {}
        self._listeners: set[PriceListener] = set()
        self._symbols_of: dict[PriceListener, set[str]] = {}  # the index the other way round
        self._feed_state: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    # --- life cycle ---------------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start listening on the running loop (idempotent; cheap enough to call per connection)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        self._stop = asyncio.Event()
        self.prices.clear()
        self._index.clear()
        self._symbols_of.clear()
        self._tasks = [
            loop.create_task(self._listen(), name="price-hub"),
            loop.create_task(self._watch_feed(), name="price-hub-feed-state"),
        ]
        if settings.PRICE_FEED_IN_PROCESS:
            self._tasks.append(loop.create_task(_run_embedded_feeder(), name="embedded-price-feeder"))
        logger.info("price hub started (in-process feed: %s)", settings.PRICE_FEED_IN_PROCESS)

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=5)
            for task in stuck:
                logger.error("price hub task %s did not stop within 5 s", task.get_name())
        self._tasks = []
        self._loop = None

    async def _listen(self) -> None:
        async for batch in get_bus().subscribe(self._stop):
            try:
                self.apply(batch)
            except Exception:
                logger.exception("price batch could not be applied")

    async def _watch_feed(self) -> None:
        """A feed that goes quiet sends no batch to say so: look at the clock as well."""
        while not self._stop.is_set():
            await asyncio.sleep(FEED_CHECK_SECONDS)
            try:
                self._check_feed()
            except Exception:
                logger.exception("feed state check failed")

    def _check_feed(self) -> None:
        """Tell every listener when the feed's state (live / stale / simulated / replay) changes."""
        state = self.feed_state()
        if state["state"] == self._feed_state:
            return
        first, self._feed_state = self._feed_state is None, state["state"]
        if not first:
            for listener in list(self._listeners):
                listener.feed_changed(state)

    # --- listeners ----------------------------------------------------------------------------

    def register(self, listener: PriceListener, symbols: Iterable[str]) -> None:
        self._listeners.add(listener)
        symbols = list(symbols)
        self._symbols_of.setdefault(listener, set()).update(symbols)
        for symbol in symbols:
            self._index.setdefault(symbol, set()).add(listener)

    def forget(self, listener: PriceListener, symbols: Iterable[str]) -> None:
        """The listener is gone: no more prices, no more feed changes."""
        self._listeners.discard(listener)
        self.unregister(listener, symbols)
        self._symbols_of.pop(listener, None)

    def unregister(self, listener: PriceListener, symbols: Iterable[str]) -> None:
        symbols = list(symbols)
        mine = self._symbols_of.get(listener)
        if mine is not None:
            mine.difference_update(symbols)
        for symbol in symbols:
            listeners = self._index.get(symbol)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._index[symbol]

    async def prices_for(self, symbols: Iterable[str]) -> dict[str, Tick]:
        """Latest known prices; symbols not seen since start are read once from the store."""
        wanted = set(symbols)
        missing = wanted - self.prices.keys()
        if missing:
            for tick in (await get_bus().aget_many(missing)).values():
                self._remember(tick)
        return {s: self.prices[s] for s in wanted if s in self.prices}

    def feed_state(self) -> dict[str, Any]:
        status = self.status or get_bus().feed_status()
        if status is None:
            return {"state": "stale", "source": None, "updated_ts": None}
        state = status.state(now_ms(), settings.PRICE_MAX_AGE_SECONDS * 1000)
        return {"state": state, "source": status.source, "updated_ts": status.updated_ts}

    # --- the hot path -------------------------------------------------------------------------

    def apply(self, batch: Batch) -> None:
        self.status = FeedStatus(batch.source, batch.flushed_ts)
        if self._feed_state is not None and self._feed_state != self.status.state(batch.flushed_ts, 1):
            self._check_feed()  # back from stale, or another source: say so now, not a second later
        changed = {tick.symbol for tick in batch.ticks if self._remember(tick)}
        if not changed:
            return
        if len(changed) * 8 < len(self._listeners):
            # A few symbols moved: walk the index (symbol → listeners).
            affected: dict[PriceListener, set[str]] = {}
            for symbol in changed:
                for listener in self._index.get(symbol, ()):
                    affected.setdefault(listener, set()).add(symbol)
            for listener, symbols in affected.items():
                listener.prices_changed(symbols)
            return
        # Many moved (the design load moves ~250 of 500 symbols per batch): one C-level set
        # intersection per listener beats a Python step per (symbol, listener) pair.
        for listener, symbols in self._symbols_of.items():
            hit = changed & symbols
            if hit:
                listener.prices_changed(hit)

    def _remember(self, tick: Tick) -> bool:
        current = self.prices.get(tick.symbol)
        if current is not None and current.event_ts > tick.event_ts:
            return False  # never let an older tick overwrite a newer one
        self.prices[tick.symbol] = tick
        return True


hub = PriceHub()


async def _run_embedded_feeder() -> None:
    from pricefeed.feeder import Feeder
    from pricefeed.sources.simulated import SimulatedSource, bundled_symbols

    source = SimulatedSource(bundled_symbols(), settings.SIMULATED_RATE, settings.SIMULATED_SEED)
    await Feeder(source, get_bus(), settings.PRICE_FLUSH_INTERVAL_MS).run()


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PriceHubMiddleware:
    """Starts the hub on the server's loop: at ASGI lifespan start-up where the server has it
    (uvicorn), else on the first request (daphne has no lifespan)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub.ensure_started()
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await hub.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

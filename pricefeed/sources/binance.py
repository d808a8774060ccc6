"""Live prices from Binance's combined market streams.

One `StreamSlot` per group of at most 1024 streams, each holding one WebSocket at a time:
- pings are answered by the WebSocket library with a pong echoing the payload (RFC 6455); our own
  keepalive pings are off, since Binance counts every incoming message against its 5/s limit;
- a silence watchdog: no frame at all (data or ping) for `silence_timeout` → the socket is replaced;
- `serverShutdown` and the proactive rotation before Binance's 24 h cut open the replacement first
  and close the old socket only once the new one is subscribed (the overlap gives duplicates, which
  the latest-wins buffer absorbs);
- a lost socket is reconnected with full-jitter exponential backoff, forever, every attempt going
  through one process-wide limiter kept under Binance's 300 connection attempts per 5 minutes;
- after every gap, prices are re-seeded from REST `GET /api/v3/ticker/price` (Binance replays
  nothing that was missed);
- live SUBSCRIBE / UNSUBSCRIBE when the symbol set changes, outgoing messages paced under Binance's
  5 messages per second per connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import random
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from pricefeed import binance
from pricefeed.domain import Tick, now_ms
from pricefeed.feeder import TickSink, percentiles

logger = logging.getLogger(__name__)

SymbolsProvider = Callable[[], Awaitable[set[str]]]
_rng = random.Random()  # noqa: S311 (jitter, not secrets)


@dataclass
class BinanceConfig:
    ws_url: str = "wss://data-stream.binance.vision"
    rest_url: str = "https://data-api.binance.vision"
    stream: str = "aggTrade"
    streams_per_connection: int = binance.MAX_STREAMS_PER_CONNECTION
    url_streams: int = 100  # streams named in the connect URL; the rest are SUBSCRIBEd
    streams_per_request: int = 100  # streams per SUBSCRIBE / UNSUBSCRIBE message
    messages_per_second: int = 4  # Binance cuts at 5 incoming/s, pongs included: keep one spare
    silence_timeout: float = 60.0
    rotate_after: float = 23.5 * 3600  # Binance cuts every connection at 24 h
    backoff_base: float = 0.5
    backoff_cap: float = 10.0  # an exchange back after an outage is read again within 10 s
    attempts_per_window: int = 250  # Binance: 300 connection attempts per 5 minutes per IP
    attempt_window: float = 300.0
    symbols_refresh: float = 30.0  # how often the wanted symbol set is re-read
    open_timeout: float = 10.0
    rest_timeout: float = 10.0


@dataclass
class BinanceStats:
    frames_in: int = 0
    ticks_in: int = 0
    invalid_frames: int = 0
    unknown_events: int = 0
    error_replies: int = 0
    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    watchdog_reconnects: int = 0
    server_shutdowns: int = 0
    rotations: int = 0
    reseeds: int = 0
    reseed_failures: int = 0
    messages_out: int = 0
    lag_ms: collections.deque[int] = field(default_factory=lambda: collections.deque(maxlen=10_000))

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in vars(self).items() if k != "lag_ms"}, **percentiles("lag_ms", self.lag_ms)}


class AttemptLimiter:
    """At most `limit` connection attempts in any `window` seconds, process-wide."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._times: collections.deque[float] = collections.deque()

    async def acquire(self) -> None:
        while True:
            now = time.monotonic()
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            if len(self._times) < self.limit:
                self._times.append(now)
                return
            await asyncio.sleep(self._times[0] + self.window - now)


class MessagePacer:
    """At most `limit` outgoing messages in any window of `window` seconds, per connection. The window
    is a little over Binance's one second: network jitter must not squeeze six sends into the one
    second Binance measures (it would cut the connection with 1008)."""

    def __init__(self, limit: int, window: float = 1.1):
        self.limit, self.window = limit, window
        self._times: collections.deque[float] = collections.deque(maxlen=limit)

    async def wait(self) -> None:
        if len(self._times) == self.limit:
            await asyncio.sleep(max(0.0, self._times[0] + self.window - time.monotonic()))
        self._times.append(time.monotonic())


class ClockedConnection(ClientConnection):
    """A socket that remembers when the last frame of any kind (data, ping, pong, close) arrived
    (the watchdog's clock: the library answers pings itself and never shows them to the reader),
    which streams it carries, and its own outgoing message pace."""

    last_frame_at: float = 0.0
    subscribed: set[str]
    version: int = -1
    pacer: MessagePacer

    def process_event(self, event: Any) -> None:
        self.last_frame_at = time.monotonic()
        super().process_event(event)


def full_jitter(attempt: int, base: float, cap: float) -> float:
    return _rng.uniform(0, min(cap, base * (2**attempt)))


class Stalled(Exception):
    pass


class BinanceSource:
    name = "binance"

    def __init__(self, config: BinanceConfig, tradable: SymbolsProvider, wanted: set[str] | None = None):
        """`tradable` gives the symbols Binance trades (exchangeInfo, through the Symbol table);
        `wanted` narrows them (None: all). A wanted symbol that is not tradable is marked invalid
        and skipped: Binance would acknowledge its SUBSCRIBE and then send nothing."""
        if config.stream not in binance.STREAM_KINDS:
            raise ValueError(f"stream must be one of {binance.STREAM_KINDS}")
        self.config = config
        self.tradable = tradable
        self.wanted = wanted
        self.stats = BinanceStats()
        self.attempts = AttemptLimiter(config.attempts_per_window, config.attempt_window)
        self.invalid_symbols: set[str] = set()
        self._slots: list[StreamSlot] = []
        self._emit: TickSink | None = None

    def status(self) -> dict[str, Any]:
        return {
            "connections": sum(1 for s in self._slots if s.connected),
            "streams": sum(len(s.streams) for s in self._slots),
            "invalid_symbols": sorted(self.invalid_symbols),
            **self.stats.as_dict(),
        }

    async def run(self, emit: TickSink) -> None:
        self._emit = emit
        failing_since: float | None = None
        try:
            while True:
                try:
                    wanted = await self._symbols()
                except Exception as exc:
                    # The Symbol table unreachable (PostgreSQL down): the open streams go on as they
                    # are; one line when it starts, one when it ends, a retry every few seconds.
                    if failing_since is None:
                        failing_since = time.monotonic()
                        logger.warning("symbol list unavailable (%s); streams kept as they are, retrying", exc)
                    await asyncio.sleep(min(5.0, self.config.symbols_refresh))
                    continue
                if failing_since is not None:
                    logger.warning("symbol list back after %.0f s", time.monotonic() - failing_since)
                    failing_since = None
                await self._apply(wanted)
                await asyncio.sleep(self.config.symbols_refresh)
        finally:
            for slot in self._slots:
                slot.stop()
            await asyncio.gather(*(slot.closed() for slot in self._slots), return_exceptions=True)

    async def _symbols(self) -> set[str]:
        tradable = await self.tradable()
        if self.wanted is None:
            return tradable
        invalid = self.wanted - tradable
        if invalid != self.invalid_symbols:
            logger.warning("not tradable on Binance, skipped: %s", ", ".join(sorted(invalid)) or "none")
            self.invalid_symbols = invalid
        return self.wanted & tradable

    async def _apply(self, wanted: set[str]) -> None:
        """Spread the wanted streams over slots of at most `streams_per_connection`; existing slots
        keep what they have (live SUBSCRIBE / UNSUBSCRIBE for the difference)."""
        wanted_streams = {binance.stream_name(s, self.config.stream) for s in wanted}
        for slot in self._slots:
            slot.retarget(slot.streams & wanted_streams)
        placed = set().union(*(slot.streams for slot in self._slots)) if self._slots else set()
        missing = sorted(wanted_streams - placed)
        for slot in self._slots:
            room = self.config.streams_per_connection - len(slot.streams)
            if room > 0 and missing:
                slot.retarget(slot.streams | set(missing[:room]))
                missing = missing[room:]
        for group in binance.chunked(missing, self.config.streams_per_connection):
            slot = StreamSlot(self, set(group), len(self._slots))
            self._slots.append(slot)
            slot.start()

    def on_ticks(self, ticks: Sequence[Tick]) -> None:
        assert self._emit is not None
        for tick in ticks:
            self.stats.ticks_in += 1
            self.stats.lag_ms.append(tick.received_ts - tick.event_ts)
            self._emit(tick)

    async def reseed(self, streams: set[str]) -> None:
        """After a gap: the current price of every symbol of these streams, from REST."""
        wanted = {binance.symbol_of_stream(s) for s in streams}
        if not wanted:
            return
        try:
            body = await asyncio.to_thread(self._get_json, "/api/v3/ticker/price")
            ticks = binance.ticker_prices(body, wanted, now_ms())
        except Exception as exc:  # REST down: the stream will bring prices as trades happen
            self.stats.reseed_failures += 1
            logger.warning("could not re-seed prices from REST: %s", exc)
            return
        self.stats.reseeds += 1
        for tick in ticks:
            assert self._emit is not None
            self._emit(tick)

    def _get_json(self, path: str) -> Any:
        url = self.config.rest_url.rstrip("/") + path
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"BINANCE_REST_URL must be http(s): {url}")
        with urllib.request.urlopen(url, timeout=self.config.rest_timeout) as r:  # noqa: S310 (scheme checked)
            return json.loads(r.read())


class StreamSlot:
    """One connection's worth of streams, and the socket currently carrying them."""

    def __init__(self, source: BinanceSource, streams: set[str], index: int):
        self.source = source
        self.config = source.config
        self.stats = source.stats
        self.streams = streams
        self.version = 0  # bumped when `streams` changes; a socket records the version it carries
        self.index = index
        self.connected = False
        self._opened_before = False
        self._next_id = 1
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"binance-slot-{self.index}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def closed(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def retarget(self, streams: set[str]) -> None:
        if streams != self.streams:
            self.streams = set(streams)
            self.version += 1

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                ws = await self._open()
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError, ConnectionClosed) as exc:
                self.stats.connect_failures += 1
                delay = full_jitter(failures, self.config.backoff_base, self.config.backoff_cap)
                failures += 1
                logger.warning("binance connection %d failed (%s); retrying in %.1fs", self.index, exc, delay)
                await asyncio.sleep(delay)
                continue
            if self._opened_before:
                self.stats.reconnects += 1
            self._opened_before = True
            await self.source.reseed(ws.subscribed)  # the gap before this socket: Binance replays nothing
            lived = time.monotonic()
            try:
                await self._read(ws)
            except Stalled:
                self.stats.watchdog_reconnects += 1
                logger.warning(
                    "binance connection %d silent for %.0fs; replacing it", self.index, self.config.silence_timeout
                )
            except ConnectionClosed as exc:
                logger.info("binance connection %d closed (%s); reconnecting", self.index, exc)
            finally:
                self.connected = False
            # A socket that lived a while resets the backoff; one that keeps dying backs off further.
            failures = 0 if time.monotonic() - lived > 60 else failures + 1
            await asyncio.sleep(full_jitter(failures, self.config.backoff_base, self.config.backoff_cap))

    async def _open(self) -> ClockedConnection:
        """Connect and subscribe to every stream of this slot; the socket is ready to read."""
        await self.source.attempts.acquire()
        streams = sorted(self.streams)
        in_url = streams[: self.config.url_streams] or [binance.stream_name("btcusdt", self.config.stream)]
        ws = await connect(
            binance.combined_url(self.config.ws_url, in_url),
            create_connection=ClockedConnection,
            ping_interval=None,  # Binance pings us; our pings would count against its 5/s limit
            open_timeout=self.config.open_timeout,
            close_timeout=1,
            max_size=binance.MAX_FRAME_BYTES,
            max_queue=64,  # frames buffered before TCP back-pressure: memory stays bounded
        )
        assert isinstance(ws, ClockedConnection)
        ws.last_frame_at = time.monotonic()
        ws.pacer = MessagePacer(self.config.messages_per_second)
        ws.subscribed = set(in_url)
        self.stats.connects += 1
        try:
            await self._sync_subscriptions(ws)
        except BaseException:
            await _close_quietly(ws)
            raise
        return ws

    async def _sync_subscriptions(self, ws: ClockedConnection) -> None:
        version, wanted = self.version, set(self.streams)
        added = wanted - ws.subscribed
        for method, streams in (("SUBSCRIBE", added), ("UNSUBSCRIBE", ws.subscribed - wanted)):
            for chunk in binance.chunked(sorted(streams), self.config.streams_per_request):
                await ws.pacer.wait()
                await ws.send(binance.request(method, chunk, self._next_id))
                self._next_id += 1
                self.stats.messages_out += 1
        ws.subscribed, ws.version = wanted, version
        if added and self.connected:
            await self.source.reseed(added)  # new symbols on a live socket: their price now

    async def _read(self, ws: ClockedConnection) -> None:
        self.connected = True
        rotate_at = time.monotonic() + self.config.rotate_after * _rng.uniform(0.97, 1.0)
        replacement: asyncio.Task[ClockedConnection] | None = None
        try:
            while True:
                if replacement is not None and replacement.done():
                    ws, replacement = self._handover(ws, replacement), None
                    rotate_at = time.monotonic() + self.config.rotate_after * _rng.uniform(0.97, 1.0)
                if ws.version != self.version:
                    await self._sync_subscriptions(ws)
                now = time.monotonic()
                if replacement is None and now >= rotate_at:
                    self.stats.rotations += 1
                    replacement = asyncio.create_task(self._open())
                silent_for = now - ws.last_frame_at
                if silent_for >= self.config.silence_timeout:
                    raise Stalled
                wait = min(self.config.silence_timeout - silent_for, 0.2 if replacement else 1.0)
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                    # that lands as the frame arrives, and the feeder would not stop.
                    async with asyncio.timeout(wait):
                        raw = await ws.recv()
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    if replacement is None:
                        raise
                    # The old socket went first (the 24 h cut): carry on with the new one if it comes up.
                    await asyncio.wait([replacement])
                    continue
                if self._handle(raw) and replacement is None:
                    self.stats.server_shutdowns += 1
                    replacement = asyncio.create_task(self._open())
        finally:
            if replacement is not None:
                replacement.cancel()
            await _close_quietly(ws)

    def _handover(self, old: ClockedConnection, replacement: asyncio.Task[ClockedConnection]) -> ClockedConnection:
        """The replacement is up and subscribed: read from it, close the old socket behind it."""
        try:
            new = replacement.result()
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError, ConnectionClosed) as exc:
            logger.warning("binance connection %d: replacement failed (%s)", self.index, exc)
            if old.state.name != "OPEN":
                raise ConnectionClosed(None, None) from exc
            return old
        task = asyncio.create_task(_close_quietly(old))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return new

    def _handle(self, raw: str | bytes) -> bool:
        """Count and route one frame; True when it announces a server shutdown."""
        self.stats.frames_in += 1
        try:
            frame = binance.parse_frame(raw, now_ms())
        except binance.FrameError as exc:
            self.stats.invalid_frames += 1
            logger.debug("invalid frame: %s", exc)
            return False
        if isinstance(frame, binance.Prices):
            self.source.on_ticks(frame.ticks)
        elif isinstance(frame, binance.ServerShutdown):
            return True
        elif isinstance(frame, binance.RequestError):
            self.stats.error_replies += 1
            logger.warning("binance refused request %s: %s %s", frame.id, frame.code, frame.message)
        elif isinstance(frame, binance.UnknownEvent):
            self.stats.unknown_events += 1
        return False


async def _close_quietly(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            await ws.close()

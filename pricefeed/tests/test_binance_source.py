"""The Binance source against a local fake Binance (tradingsite/testing/fake_binance.py) speaking the
real wire format: pings, drops, the 24 h cut, serverShutdown, stalls, garbage, unknown symbols and
Binance's message-rate limit."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from pricefeed.domain import Tick
from pricefeed.sources.binance import AttemptLimiter, BinanceConfig, BinanceSource, MessagePacer, full_jitter
from tradingsite.testing.fake_binance import FakeBinance

SYMBOLS = {"BTCUSDT", "ETHUSDT", "SOLUSDT"}


@dataclass
class Running:
    server: FakeBinance
    source: BinanceSource
    ticks: list[Tick] = field(default_factory=list)
    tradable: set[str] = field(default_factory=set)
    symbols_unavailable: bool = False  # the Symbol table cannot be read (PostgreSQL down)

    def prices(self, symbol: str) -> list[Decimal]:
        return [t.price for t in self.ticks if t.symbol == symbol]


async def eventually(check: Callable[[], object], within: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what or check}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(
    *,
    tradable: set[str] = SYMBOLS,
    wanted: set[str] | None = None,
    ping_interval: float | None = None,
    **config: object,
) -> AsyncIterator[Running]:
    server = await FakeBinance(ping_interval=ping_interval).start()
    for name in tradable:
        server.prices[name] = Decimal("100")
    settings = {"backoff_base": 0.05, "backoff_cap": 0.2, "symbols_refresh": 0.1, **config}
    state = Running(server, None, tradable=set(tradable))  # type: ignore[arg-type]

    async def tradable_now() -> set[str]:
        if state.symbols_unavailable:
            raise OSError("connection refused")
        return set(state.tradable)

    source_config = BinanceConfig(ws_url=server.ws_url, rest_url=server.rest_url, **settings)  # type: ignore[arg-type]
    source = BinanceSource(source_config, tradable_now, wanted)
    state.source = source
    task = asyncio.create_task(source.run(state.ticks.append))
    try:
        await eventually(
            lambda: server.subscribed() >= {f"{s.lower()}@aggTrade" for s in (wanted or tradable) & tradable}
        )
        yield state
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()


async def test_prices_flow_from_the_combined_stream_with_exchange_time_and_lag():
    async with running() as feed:
        await feed.server.trade("BTCUSDT", "91000.12")
        await eventually(lambda: Decimal("91000.12") in feed.prices("BTCUSDT"))
        tick = next(t for t in feed.ticks if t.price == Decimal("91000.12"))
        assert tick.received_ts >= tick.event_ts
        assert feed.source.stats.lag_ms
        # The first connection also seeded every symbol from REST.
        assert feed.server.rest_requests["/api/v3/ticker/price"] >= 1
        assert {t.symbol for t in feed.ticks} >= SYMBOLS


async def test_pings_are_answered_with_their_own_payload():
    async with running(ping_interval=0.1) as feed:
        await eventually(lambda: feed.server.connections[0].pongs_ok >= 3, what="3 pongs echoing the ping payload")
        assert feed.server.connections[0].open


async def test_streams_go_on_while_the_symbol_list_cannot_be_read_and_changes_apply_when_it_can(caplog):
    async with running(symbols_refresh=0.05) as feed:
        feed.symbols_unavailable = True
        await asyncio.sleep(0.3)  # several refreshes fail
        await feed.server.trade("BTCUSDT", "91000.5")
        await eventually(lambda: Decimal("91000.5") in feed.prices("BTCUSDT"), what="prices during the outage")
        feed.tradable = feed.tradable - {"SOLUSDT"}
        feed.symbols_unavailable = False
        await eventually(lambda: "solusdt@aggTrade" not in feed.server.subscribed(), within=10, what="unsubscribed")
    lines = [r.getMessage() for r in caplog.records if "symbol list" in r.getMessage()]
    assert len(lines) == 2, lines  # one when it started, one when it ended


@pytest.mark.parametrize("fault", ["drop", "close 1001", "close 1000"])
async def test_a_lost_connection_comes_back_and_prices_are_reseeded(fault):
    async with running() as feed:
        seeded = feed.server.rest_requests["/api/v3/ticker/price"]
        if fault == "drop":
            feed.server.drop_all()  # TCP cut, no close frame
        else:
            await feed.server.close_all(int(fault.split()[1]))
        # Prices moved while we were away: Binance replays nothing, so REST must bring them.
        feed.server.prices["ETHUSDT"] = Decimal("3333.33")
        await eventually(lambda: len(feed.server.open_connections()) == 1 and len(feed.server.connections) == 2)
        await eventually(lambda: Decimal("3333.33") in feed.prices("ETHUSDT"), what="re-seeded price")
        assert feed.server.rest_requests["/api/v3/ticker/price"] > seeded
        assert feed.source.stats.reconnects == 1
        await feed.server.trade("BTCUSDT", "1.5")
        await eventually(lambda: Decimal("1.5") in feed.prices("BTCUSDT"))


async def test_server_shutdown_opens_the_new_connection_before_the_old_one_closes():
    async with running() as feed:
        old = feed.server.connections[0]
        await feed.server.server_shutdown()
        await eventually(lambda: len(feed.server.connections) == 2 and not old.open, what="handover")
        new = feed.server.connections[1]
        assert new.opened_at < (old.closed_at or 0)  # overlap: no moment without a connection
        assert new.streams == old.streams | new.streams
        assert new.streams >= {"btcusdt@aggTrade"}
        assert feed.source.stats.server_shutdowns == 1
        await feed.server.trade("SOLUSDT", "150.25")
        await eventually(lambda: Decimal("150.25") in feed.prices("SOLUSDT"))


async def test_proactive_rotation_before_the_24h_cut_also_overlaps():
    async with running(rotate_after=0.5) as feed:
        await eventually(lambda: len(feed.server.connections) >= 2 and not feed.server.connections[0].open, 5)
        first, second = feed.server.connections[:2]
        assert second.opened_at < (first.closed_at or 0)
        assert feed.source.stats.rotations >= 1


async def test_a_stalled_but_open_socket_is_replaced_within_the_watchdog():
    async with running(silence_timeout=0.5) as feed:
        feed.server.stall()
        started = time.monotonic()
        await eventually(lambda: len(feed.server.connections) >= 2, 3, "replacement after silence")
        assert time.monotonic() - started < 1.5
        assert feed.source.stats.watchdog_reconnects >= 1
        feed.server.stall(False)
        await feed.server.trade("BTCUSDT", "2.5")
        await eventually(lambda: Decimal("2.5") in feed.prices("BTCUSDT"))


async def test_garbage_unknown_events_and_error_frames_are_counted_and_the_feed_goes_on():
    async with running() as feed:
        for raw in (
            "{not json",
            '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"NaN"}}',
            '{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT"}}',
            '{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":99}',
        ):
            await feed.server.send_raw(raw)
        await feed.server.trade("BTCUSDT", "7.77")
        await eventually(lambda: Decimal("7.77") in feed.prices("BTCUSDT"))
        stats = feed.source.stats
        assert (stats.invalid_frames, stats.unknown_events, stats.error_replies) == (2, 1, 1)
        assert len(feed.server.connections) == 1  # none of it cost the connection


async def test_an_unknown_symbol_is_marked_invalid_while_the_others_flow():
    async with running(wanted={"BTCUSDT", "NOPEUSDT"}) as feed:
        assert feed.source.invalid_symbols == {"NOPEUSDT"}
        assert feed.server.subscribed() == {"btcusdt@aggTrade"}
        assert feed.source.status()["invalid_symbols"] == ["NOPEUSDT"]
        await feed.server.trade("BTCUSDT", "3")
        await eventually(lambda: Decimal("3") in feed.prices("BTCUSDT"))
        # Listed later (sync_symbols found it): subscribed live, no longer invalid.
        feed.tradable.add("NOPEUSDT")
        await eventually(lambda: "nopeusdt@aggTrade" in feed.server.subscribed())
        assert feed.source.invalid_symbols == set()


async def test_a_mass_resubscribe_never_sends_more_than_five_messages_a_second():
    async with running(tradable={"BTCUSDT"}, streams_per_request=10, messages_per_second=5) as feed:
        feed.tradable |= {f"S{i:03d}USDT" for i in range(300)}  # 300 new streams = 30 SUBSCRIBE messages
        await eventually(lambda: len(feed.server.subscribed()) == 301, 15, "all subscribed")
        conn = feed.server.connections[0]
        assert len(conn.requests) == 30
        assert conn.max_incoming_per_second() <= 5
        assert conn.open
        assert len(feed.server.connections) == 1
        feed.tradable -= {f"S{i:03d}USDT" for i in range(100)}
        await eventually(lambda: len(feed.server.subscribed()) == 201, 10, "unsubscribed")
        assert conn.max_incoming_per_second() <= 5


async def test_more_than_1024_streams_are_spread_over_connections():
    names = {f"S{i:04d}USDT" for i in range(1500)}
    async with running(tradable=names, streams_per_request=200, messages_per_second=5) as feed:
        await eventually(lambda: len(feed.server.subscribed()) == 1500, 20)
        streams = sorted(len(c.streams) for c in feed.server.open_connections())
        assert streams == [476, 1024]
        assert all(c.max_incoming_per_second() <= 5 for c in feed.server.connections)


async def test_connection_attempts_stay_under_binances_limit_and_never_stop():
    server = await FakeBinance().start()
    server.refuse_connections = True
    limiter_window = 1.0

    async def tradable() -> set[str]:
        return {"BTCUSDT"}

    config = BinanceConfig(
        ws_url=server.ws_url,
        rest_url=server.rest_url,
        backoff_base=0.001,
        backoff_cap=0.002,
        attempts_per_window=5,
        attempt_window=limiter_window,
    )
    source = BinanceSource(config, tradable)
    task = asyncio.create_task(source.run(lambda tick: None))
    try:
        await asyncio.sleep(2.5)
        failures = source.stats.connect_failures
        assert 10 <= failures <= 15  # 5 per second at most, and it keeps trying
        server.refuse_connections = False
        await eventually(lambda: server.open_connections(), 3, "connected once the server is back")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()


def test_full_jitter_backoff_is_bounded_and_grows():
    for attempt in range(20):
        delays = [full_jitter(attempt, 0.5, 30) for _ in range(200)]
        assert all(0 <= d <= min(30, 0.5 * 2**attempt) for d in delays)
    assert max(full_jitter(10, 0.5, 30) for _ in range(200)) > 15


async def test_the_pacer_and_the_attempt_limiter_hold_their_windows():
    pacer, sent = MessagePacer(5), []
    for _ in range(12):
        await pacer.wait()
        sent.append(time.monotonic())
    assert all(sent[i + 5] - sent[i] >= 1.09 for i in range(len(sent) - 5))  # a margin over Binance's 1 s
    limiter, tried = AttemptLimiter(3, 0.5), []
    for _ in range(7):
        await limiter.acquire()
        tried.append(time.monotonic())
    assert all(tried[i + 3] - tried[i] >= 0.49 for i in range(len(tried) - 3))

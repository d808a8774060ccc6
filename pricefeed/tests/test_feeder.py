import asyncio
from decimal import Decimal

from pricefeed.bus import MemoryPriceBus
from pricefeed.domain import Batch, Tick
from pricefeed.feeder import Feeder, LatestWinsBuffer
from pricefeed.sources.simulated import SimulatedSource, SimulatedSymbol, bundled_symbols


def tick(symbol: str, price: str, ts: int) -> Tick:
    return Tick(symbol, Decimal(price), ts, ts)


def test_the_buffer_keeps_the_latest_tick_per_symbol_and_nothing_more():
    buffer = LatestWinsBuffer()
    for i in range(10_000):
        buffer.put(tick("BTCUSDT", str(60_000 + i), 1_000 + i))
    buffer.put(tick("ETHUSDT", "3000", 5))
    assert len(buffer) == 2
    assert {t.symbol: t.price for t in buffer.drain()} == {"BTCUSDT": Decimal(69_999), "ETHUSDT": Decimal(3000)}
    assert len(buffer) == 0


def test_an_older_tick_never_replaces_a_newer_one():
    buffer = LatestWinsBuffer()
    buffer.put(tick("BTCUSDT", "2", 20))
    buffer.put(tick("BTCUSDT", "1", 10))
    assert buffer.drain()[0].price == Decimal(2)


def test_the_simulated_source_is_reproducible_and_on_the_tick_grid():
    symbols = bundled_symbols()
    first = SimulatedSource(symbols, rate=100, seed=7)
    second = SimulatedSource(symbols, rate=100, seed=7)
    run_a = [first.next_tick(0) for _ in range(2_000)]
    run_b = [second.next_tick(0) for _ in range(2_000)]
    assert run_a == run_b
    grid = {s.symbol: s.tick_size for s in symbols}
    for t in run_a:
        assert isinstance(t.price, Decimal)
        assert t.price > 0
        assert t.price % grid[t.symbol] == 0


def test_a_coarse_tick_grid_still_moves():
    coarse = SimulatedSource([SimulatedSymbol("DOGEUSDT", Decimal("0.00001"), Decimal("0.16"), 0.06)], rate=100)
    assert len({coarse.next_tick(0).price for _ in range(500)}) > 10


async def test_the_feeder_publishes_one_batch_per_interval_with_the_latest_values():
    bus = MemoryPriceBus()
    batches: list[Batch] = []

    async def collect() -> None:
        async for batch in bus.subscribe():
            batches.append(batch)

    collector = asyncio.create_task(collect())
    await asyncio.sleep(0)
    source = SimulatedSource(bundled_symbols(), rate=2_000, seed=1)
    feeder = Feeder(source, bus, interval_ms=50)
    task = asyncio.create_task(feeder.run())
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    collector.cancel()

    assert 7 <= len(batches) <= 12  # ~10 flushes in 0.5 s at 50 ms, plus the final one
    assert feeder.stats.ticks_in > 500
    for batch in batches:
        symbols = [t.symbol for t in batch.ticks]
        assert len(symbols) == len(set(symbols))  # one tick per symbol per batch
    latest = {t.symbol: t for b in batches for t in b.ticks}
    assert bus.get_many(latest) == latest  # the store holds what the last batches said
    status = bus.feed_status()
    assert status is not None
    assert status.source == "simulated"


def test_the_wire_form_round_trips_exactly():
    batch = Batch("simulated", 123, (Tick("PEPEUSDT", Decimal("0.00000482"), 1, 2),))
    assert Batch.from_json(batch.to_json()) == batch
    assert '"price":"0.00000482"' in batch.to_json()


async def test_replay_keeps_the_original_pacing_at_its_speed_factor(tmp_path):
    import json
    import time

    from pricefeed.sources.replay import ReplaySource

    frames = [
        {"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": 1_000, "s": "BTCUSDT", "p": "91000.10"}},
        {"stream": "ethusdt@aggTrade", "data": {"e": "aggTrade", "E": 1_500, "s": "ETHUSDT", "p": "3100.5"}},
        {
            "stream": "btcusdt@bookTicker",
            "data": {"u": 1, "s": "BTCUSDT", "b": "91000", "B": "1", "a": "91001", "A": "1"},
        },
        {"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": 3_000, "s": "BTCUSDT", "p": "91002"}},
    ]
    path = tmp_path / "recording.jsonl"
    path.write_text("\n".join([json.dumps(f) for f in frames[:2]] + ["{garbage"] + [json.dumps(f) for f in frames[2:]]))
    source, got = ReplaySource(path, speed=10), []
    started = time.monotonic()
    await source.run(lambda tick: got.append((time.monotonic() - started, tick)))
    assert [(t.symbol, str(t.price)) for _, t in got] == [
        ("BTCUSDT", "91000.10"),
        ("ETHUSDT", "3100.5"),
        ("BTCUSDT", "91000.5"),
        ("BTCUSDT", "91002"),
    ]
    assert source.invalid_frames == 1
    # 2 s of recording at 10x: the last frame 0.2 s after the first, the second 0.05 s after it.
    assert 0.04 <= got[1][0] - got[0][0] < 0.15
    assert 0.18 <= got[3][0] - got[0][0] < 0.35
    assert all(t.event_ts == t.received_ts for _, t in got)  # shown as of the replay, not of the recording


def test_the_feeder_command_replays_a_file_into_the_store_and_refuses_bad_sources(tmp_path, redis_client):
    import json

    import pytest
    from django.core.management import CommandError, call_command

    path = tmp_path / "recording.jsonl"
    frame = {"stream": "solusdt@aggTrade", "data": {"e": "aggTrade", "E": 7, "s": "SOLUSDT", "p": "141.07"}}
    path.write_text(json.dumps(frame) + "\n")
    call_command("binance_feed", "--source", "replay", str(path), "--speed", "100")
    assert json.loads(redis_client.get("price:SOLUSDT"))["price"] == "141.07"
    assert json.loads(redis_client.get("feed:status"))["source"] == "replay"
    with pytest.raises(CommandError, match="needs the file"):
        call_command("binance_feed", "--source", "replay")
    with pytest.raises(CommandError, match="no such file"):
        call_command("binance_feed", "--source", "replay", str(tmp_path / "missing.jsonl"))
    with pytest.raises(CommandError, match="unknown source"):
        call_command("binance_feed", "--source", "coinbase")
    with pytest.raises(CommandError, match="takes no file"):
        call_command("binance_feed", "--source", "simulated", "x")


class UnreachableBus(MemoryPriceBus):
    """The in-memory bus with an outage switch: publishing fails while `down`, as a Redis that went away."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def publish(self, batch: Batch) -> None:
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        await super().publish(batch)


async def test_an_outage_of_the_bus_logs_a_line_when_it_starts_and_when_it_ends_not_one_per_flush(caplog, monkeypatch):
    from pricefeed import feeder as feeder_module

    monkeypatch.setattr(feeder_module, "OUTAGE_LOG_SECONDS", 0.3)
    bus = UnreachableBus()
    source = SimulatedSource(bundled_symbols(), rate=2_000, seed=1)
    feeder = Feeder(source, bus, interval_ms=20)
    task = asyncio.create_task(feeder.run())
    await asyncio.sleep(0.1)
    with caplog.at_level("INFO", logger="pricefeed.feeder"):
        bus.down = True
        await asyncio.sleep(0.7)  # ~35 failed flushes
        bus.down = False
        await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    lines = [r for r in caplog.records if r.name == "pricefeed.feeder"]
    assert feeder.stats.flush_errors >= 20
    assert lines[0].levelname == "ERROR"
    assert lines[0].exc_info is not None  # the first failure: its traceback, once
    assert sum(r.exc_info is not None for r in lines) == 1
    assert 1 <= sum("still unreachable" in r.getMessage() for r in lines) <= 3  # one per OUTAGE_LOG_SECONDS
    assert "back after" in lines[-1].getMessage()
    assert len(lines) <= 5
    latest = bus.get_many([t.symbol for t in source.symbols])  # nothing lost: the newest values went out
    assert latest

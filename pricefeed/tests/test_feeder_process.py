"""The feeder as production runs it (the Procfile's `feeder` line, `--source binance`) against a local
fake Binance, with real PostgreSQL (symbols synced from exchangeInfo) and real Redis: the Redis
contract of ARCHITECTURE §5.1 read back exactly, and SIGTERM's final flush."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from decimal import Decimal

import pytest
import redis

from tradingsite.testing.fake_binance import FakeBinanceThread
from tradingsite.testing.processes import ROOT, Process, procfile_command

pytestmark = pytest.mark.integration

DECIMAL = re.compile(r"^\d+(\.\d+)?$")


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def binance():
    with FakeBinanceThread(ping_interval=0.5) as fake:
        fake.server.list_symbols(["BTCUSDT", "ETHUSDT", "SOLUSDT"])
        fake.server.list_symbols(["OLDUSDT"], status="BREAK")
        fake.server.list_symbols(["BTCEUR"])  # not quoted in USDT: not ours
        fake.server.prices.update({"BTCUSDT": Decimal("91000.00"), "ETHUSDT": Decimal("3100.00")})
        yield fake


@pytest.fixture
def feeder_env(production_env, binance):
    env = {
        **production_env,
        "PRICE_SOURCE": "binance",
        "BINANCE_WS_URL": binance.server.ws_url,
        "BINANCE_REST_URL": binance.server.rest_url,
        "LOG_LEVEL": "INFO",
    }
    assert manage(env, "migrate", "--noinput").returncode == 0
    synced = manage(env, "sync_symbols")
    assert synced.returncode == 0, synced.stderr
    assert "4 created" in synced.stdout, synced.stdout  # BTC, ETH, SOL and OLD (as BREAK); not BTCEUR
    return env


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.02)
    return result


def test_the_redis_contract_and_the_final_flush_on_sigterm(feeder_env, binance, redis_client):
    listener = redis.Redis.from_url(feeder_env["REDIS_URL"])
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("prices")
    feeder = Process(procfile_command("feeder"), env=feeder_env)
    try:
        wait_until(lambda: binance.run(binance.server.subscribed), 20, "feeder subscribed\n" + feeder.output)
        # Only TRADING USDT symbols are subscribed: OLDUSDT (BREAK) and BTCEUR are not.
        assert binance.run(binance.server.subscribed) == {"btcusdt@aggTrade", "ethusdt@aggTrade", "solusdt@aggTrade"}
        # Re-seeded from REST on connect: prices exist before the first trade.
        wait_until(lambda: redis_client.get("price:ETHUSDT"), 5, "seeded price")

        binance.call(binance.server.trade("BTCUSDT", "91234.56"))
        binance.call(binance.server.trade("SOLUSDT", "141.07"))
        raw = wait_until(
            lambda: (r := redis_client.get("price:BTCUSDT")) and b"91234.56" in r and r, 5, "price:BTCUSDT written"
        )
        stored = json.loads(raw)
        assert set(stored) == {"symbol", "price", "event_ts", "received_ts"}
        assert stored["symbol"] == "BTCUSDT"
        assert stored["price"] == "91234.56"
        assert DECIMAL.match(stored["price"])
        assert isinstance(stored["event_ts"], int)
        assert isinstance(stored["received_ts"], int)
        assert 0 <= stored["received_ts"] - stored["event_ts"] < 5_000
        assert 0 < redis_client.ttl("price:BTCUSDT") <= 60

        # `prices`: one message per batch, carrying every symbol that changed in it.
        batches = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.1)
            if message:
                batches.append(json.loads(message["data"]))
        assert batches, "no batch published"
        for batch in batches:
            assert set(batch) == {"source", "flushed_ts", "ticks"}
            assert batch["source"] == "binance"
            names = [t["symbol"] for t in batch["ticks"]]
            assert len(names) == len(set(names))  # latest value per symbol: each at most once
            for tick in batch["ticks"]:
                assert set(tick) == {"symbol", "price", "event_ts", "received_ts"}
                assert DECIMAL.match(tick["price"])
        published = {t["symbol"]: t["price"] for b in batches for t in b["ticks"]}
        assert published.get("BTCUSDT") == "91234.56"
        assert published.get("SOLUSDT") == "141.07"
        status = json.loads(redis_client.get("feed:status"))
        assert status["source"] == "binance"

        # The feeder's counters reach Redis too.
        stats = json.loads(wait_until(lambda: redis_client.get("feed:stats"), 5, "feed:stats"))
        assert stats["source"] == "binance"
        assert stats["connections"] == 1
        assert stats["batches_out"] >= 1

        # SIGTERM right after a trade: that trade is flushed, and the process is gone within 2 s.
        binance.call(binance.server.trade("ETHUSDT", "3111.11"))
        time.sleep(0.02)
        started = time.monotonic()
        code = feeder.stop()
        elapsed = time.monotonic() - started
        assert code == 0, feeder.output
        assert elapsed < 2.0, f"took {elapsed:.2f}s to stop"
        assert json.loads(redis_client.get("price:ETHUSDT"))["price"] == "3111.11", feeder.output
    finally:
        feeder.stop()
        pubsub.close()
        listener.close()


def test_sync_symbols_marks_delisted_symbols_and_the_offline_snapshot_works(feeder_env, binance):
    # Binance stops listing SOLUSDT: the next sync sets it to BREAK, and orders for it are refused.
    binance.run(lambda: binance.server.exchange_symbols.__delitem__(2))
    synced = manage(feeder_env, "sync_symbols")
    assert "1 delisted" in synced.stdout, synced.stdout + synced.stderr
    offline = manage({**feeder_env, "BINANCE_REST_URL": "http://127.0.0.1:9"}, "sync_symbols")
    assert offline.returncode != 0
    assert "--offline" in offline.stderr
    offline = manage({**feeder_env, "BINANCE_REST_URL": "http://127.0.0.1:9"}, "sync_symbols", "--offline")
    assert offline.returncode == 0, offline.stderr
    assert "created" in offline.stdout

"""A Redis outage under open sockets: whatever ends a socket ends everything it started, nothing
spins while Redis is away or after it is back, and SIGTERM still stops the web process in 5 s."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from portfolio.tests.test_live_servers import SEED, SYMBOLS
from tradingsite.testing.processes import ROOT, Process, procfile_command
from tradingsite.testing.servers import RedisServer, free_port, wait_for_port

pytestmark = pytest.mark.integration


def metrics(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {n: float(v) for n, v in (line.split() for line in text.splitlines() if not line.startswith("#"))}


@pytest.fixture
def own_redis(production_env):
    """A Redis of this test's own (it kills it), and a database seeded against it."""
    redis = RedisServer().start()
    env = {**production_env, "REDIS_URL": redis.url, "LOG_LEVEL": "WARNING", "WS_HEARTBEAT_SECONDS": "1"}
    for command in (["migrate", "--noinput", "-v", "0"], ["shell", "-c", SEED.format(names=SYMBOLS[:5])]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    yield redis, env, json.loads(done.stdout.strip().splitlines()[-1])
    redis.stop()


def ws_process(env: dict[str, str]) -> tuple[Process, int]:
    """The Procfile's `ws` pool, one process, listening."""
    port = free_port()
    web = Process(procfile_command("ws"), env={**env, "WS_PORT": str(port), "WS_WORKERS": "1"})
    wait_for_port(port, 30, web.proc)
    return web, port


async def test_sockets_dropped_during_a_redis_outage_leave_nothing_running(own_redis):
    redis, env, tokens = own_redis
    assert redis.proc is not None
    web, port = ws_process(env)
    try:
        deadline = time.monotonic() + 10
        while not (idle_tasks := metrics(port)["tradingsite_asyncio_tasks"]):  # sampled once a second
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        url, headers = f"ws://127.0.0.1:{port}/ws/v1/portfolio", {"Authorization": f"Bearer {tokens['fast']}"}
        sockets = [await connect(url, additional_headers=headers, ping_interval=None) for _ in range(4)]
        for ws in sockets:
            assert json.loads(await ws.recv())["type"] == "snapshot"
        await asyncio.sleep(1.5)
        assert metrics(port)["tradingsite_ws_sockets"] == 4

        redis.proc.kill()  # Redis is gone, without a goodbye
        redis.proc.wait()
        await asyncio.sleep(1.5)
        for ws in sockets:  # the clients drop their sockets during the outage
            ws.transport.abort()
        await asyncio.sleep(3)
        redis.start()  # back, on the same port
        await asyncio.sleep(4)

        after = metrics(port)
        assert after["tradingsite_ws_sockets"] == 0
        assert after["tradingsite_push_listeners"] == 0
        assert after["tradingsite_asyncio_tasks"] <= idle_tasks + 2, (idle_tasks, after)
        quiet_from = len(web.output)
        await asyncio.sleep(2)
        assert web.output[quiet_from:].count("Traceback") == 0, web.output[quiet_from:][-2000:]

        started = time.monotonic()
        web.proc.send_signal(signal.SIGTERM)
        web.proc.wait(10)
        assert time.monotonic() - started < 5
        assert "graceful shutdown exceeded" not in web.output
        print(f"\nSIGTERM to exit: {time.monotonic() - started:.2f} s; tasks idle {idle_tasks}, after {after}")
    finally:
        web.stop()


async def test_sockets_open_through_a_restart_of_the_channel_layers_redis_rejoin_and_resync(own_redis):
    """The bus Redis (prices, channel layer) restarts under open sockets: they stay open, join their
    groups again once it answers, get a fresh snapshot (a fill meanwhile was not heard), then prices
    and channel-layer events reach them again."""
    from channels_redis.core import RedisChannelLayer

    from portfolio.tests.test_live_servers import publish_prices

    redis, env, tokens = own_redis
    assert redis.proc is not None
    web, port = ws_process(env)
    try:
        url, headers = f"ws://127.0.0.1:{port}/ws/v1/portfolio", {"Authorization": f"Bearer {tokens['fast']}"}
        sockets = [await connect(url, additional_headers=headers, ping_interval=None) for _ in range(3)]
        for ws in sockets:
            assert json.loads(await ws.recv())["type"] == "snapshot"

        redis.proc.kill()
        redis.proc.wait()
        await asyncio.sleep(2)
        redis.start()  # back on the same port, empty: the groups are gone with it
        back = time.monotonic()

        async def next_of(ws, kind: str, within: float) -> dict:
            async with asyncio.timeout(within):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == kind:
                        return frame

        for ws in sockets:  # still open; resynced within 5 s of Redis answering
            await next_of(ws, "snapshot", 6)
        resynced = time.monotonic() - back

        async def feeder() -> None:  # prices every 100 ms, as the feeder publishes them
            for step in range(100):
                await publish_prices(redis.url, 7 + step)
                await asyncio.sleep(0.1)

        publishing = asyncio.create_task(feeder())
        for ws in sockets:
            assert (await next_of(ws, "pnl", 5))["positions"]
        publishing.cancel()
        layer = RedisChannelLayer(hosts=[redis.url])
        await layer.group_send(f"user.{tokens['fast_id']}", {"type": "portfolio.changed"})
        for ws in sockets:  # the user's group was joined again
            await next_of(ws, "snapshot", 5)
        print(f"\nsockets resynced {resynced:.2f} s after Redis was back")
        assert "Traceback" not in web.output, web.output[-3000:]
        for ws in sockets:
            await ws.close()
    finally:
        web.stop()

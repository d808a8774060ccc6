"""The live socket on real servers (the Procfile's `web`, uvicorn), real Redis and PostgreSQL: a
client that stops reading, a fill reaching sockets on two web processes, and shutdown's 1012."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from pricefeed.bus import RedisPriceBus
from pricefeed.domain import Batch, Tick, now_ms
from tradingsite.testing.processes import ROOT, Process, procfile_command
from tradingsite.testing.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

SYMBOLS = [f"W{i:03d}USDT" for i in range(200)]

SEED = """
import json
from decimal import Decimal
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils import timezone
from accounts.models import User
from accounts.sessions.backend import ClientInfo, SessionStore
from portfolio.models import Account, Position
from pricefeed.models import Symbol
from pricefeed.services import symbol_sync_from_snapshot

symbol_sync_from_snapshot()
names = {names}
for n in names:
    Symbol.objects.create(symbol=n, base_asset=n[:-4], quote_asset="USDT", tick_size=Decimal("0.01"),
                          step_size=Decimal("0.001"), min_qty=Decimal("0.001"), min_notional=Decimal("1"))
tokens = {{}}
for name in ("slow", "fast"):
    user = User.objects.create_user(username=name, password="live-servers-123")
    Account.objects.create(user=user, cash=Decimal("1000000"), quote_asset="USDT")
    for n in names:
        Position.objects.create(user=user, symbol_id=n, quantity=Decimal("1.5"), cost_basis=Decimal("150"),
                                avg_entry_price=Decimal("100"),
                                opened_at=timezone.now())
    store = SessionStore(None, client=ClientInfo("127.0.0.1", "test"))
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    tokens[name] = store.session_key
    tokens[name + "_id"] = user.pk
print(json.dumps(tokens))
"""


@pytest.fixture
def stack(production_env):
    env = {**production_env, "LOG_LEVEL": "WARNING"}
    for command in (["migrate", "--noinput", "-v", "0"], ["shell", "-c", SEED.format(names=SYMBOLS)]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    tokens = json.loads(done.stdout.strip().splitlines()[-1])
    started: list[Process] = []

    def web() -> int:
        port = free_port()
        process = Process(procfile_command("ws"), env={**env, "WS_PORT": str(port), "WS_WORKERS": "1"})
        started.append(process)
        wait_for_port(port, 30, process.proc)
        return port

    yield {"env": env, "tokens": tokens, "web": web, "started": started}
    for process in started:
        process.stop()


async def publish_prices(redis_url: str, step: int) -> int:
    at = now_ms()
    ticks = tuple(Tick(s, Decimal(100 + step) + Decimal(i) / 100, at, at) for i, s in enumerate(SYMBOLS))
    await RedisPriceBus(redis_url, 60).publish(Batch("simulated", at, ticks))
    return at


def small_socket(port: int) -> socket.socket:
    """A client socket with a small receive buffer, so a client that stops reading pushes back on
    the server within kilobytes instead of the megabytes loopback's autotuning would allow."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def test_a_client_that_stops_reading_stays_bounded_and_delays_no_one(stack):
    port = stack["web"]()
    url = f"ws://127.0.0.1:{port}/ws/v1/portfolio"
    redis_url = stack["env"]["REDIS_URL"]
    await publish_prices(redis_url, 0)
    bearer = {"slow": {"Authorization": f"Bearer {stack['tokens']['slow']}"}}
    fast_headers = {"Authorization": f"Bearer {stack['tokens']['fast']}"}
    async with (
        connect(
            url,
            additional_headers=bearer["slow"],
            max_queue=1,
            compression=None,
            ping_interval=None,
            sock=small_socket(port),
        ) as slow,
        connect(url, additional_headers=fast_headers, compression=None, ping_interval=None) as fast,
    ):
        assert json.loads(await slow.recv())["type"] == "snapshot"
        assert json.loads(await fast.recv())["type"] == "snapshot"
        slow.transport.pause_reading()  # the slow client stops reading: its TCP window fills
        server_pid = stack["started"][0].proc.pid
        rss_before = rss_mb(server_pid)
        fast_lag: list[int] = []

        async def read_fast() -> None:
            while True:
                frame = json.loads(await fast.recv())
                if frame["type"] == "pnl":
                    fast_lag.append(now_ms() - frame["price_ts"])

        reader = asyncio.create_task(read_fast())
        # 200 batches of 200 changed positions (~36 KB to every holder), one per 100 ms as the
        # feeder flushes: about 7 MB for the slow socket if the server queued, well over what the
        # kernel's socket buffers take (tcp_wmem tops out at 4 MB here).
        batches = 200
        for step in range(1, batches + 1):
            await publish_prices(redis_url, step)
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        reader.cancel()
        rss_after = rss_mb(server_pid)
        worst_fast_ms = max(fast_lag)
        # The other client got a frame every WS_PUSH_INTERVAL_MS (200: every other batch) …
        assert len(fast_lag) >= batches * 0.1 / 0.2 * 0.8
        assert sorted(fast_lag)[int(len(fast_lag) * 0.99)] < 500  # … promptly
        # Queued, the slow socket's 200 messages would be ~7 MB; measured +0.1 to +6 MB (allocator
        # churn of the fast client's frames) for these 200 batches.
        assert rss_after - rss_before < 10, (rss_before, rss_after)

        slow.transport.resume_reading()
        received, last = 0, None
        while True:
            try:
                frame = json.loads(await asyncio.wait_for(slow.recv(), 1.0))
            except TimeoutError:
                break
            if frame["type"] == "pnl":
                received, last = received + 1, frame
        assert last is not None
        # Conflated, not queued: once its (small) buffers were full, batches were skipped.
        assert received < 0.25 * len(fast_lag)
        prices = {p[0]: p[1] for p in last["positions"]}
        assert prices["W000USDT"] == str(Decimal(100 + batches))  # and the latest numbers won
    print(
        f"\nfast client: {len(fast_lag)} pnl, worst {worst_fast_ms} ms; slow client got {received} of {batches};"
        f" server RSS +{rss_after - rss_before:.1f} MB"
    )


async def test_a_fill_by_the_worker_reaches_the_users_sockets_on_two_web_processes(stack):
    port_a, port_b = stack["web"](), stack["web"]()
    worker = Process(procfile_command("worker"), env={**stack["env"], "WORKER_CONCURRENCY": "1"})
    stack["started"].append(worker)
    worker.wait_for_line("ready.", 60)
    redis_url = stack["env"]["REDIS_URL"]
    await publish_prices(redis_url, 0)
    headers = {"Authorization": f"Bearer {stack['tokens']['fast']}"}
    async with (
        connect(f"ws://127.0.0.1:{port_a}/ws/v1/portfolio", additional_headers=headers) as on_a,
        connect(f"ws://127.0.0.1:{port_b}/ws/v1/portfolio", additional_headers=headers) as on_b,
    ):
        for ws in (on_a, on_b):
            assert json.loads(await ws.recv())["type"] == "snapshot"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_a}") as client:
            response = await client.post(
                "/api/v1/orders", json={"symbol": "W007USDT", "side": "buy", "quantity": "0.5"}, headers=headers
            )
        assert response.status_code == 202, response.text
        order_id = response.json()["id"]
        for ws in (on_a, on_b):
            frames: list[dict] = []
            deadline = time.monotonic() + 15
            while not any(f["type"] == "snapshot" for f in frames):
                assert time.monotonic() < deadline, frames
                frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if frame["type"] != "pnl":
                    frames.append(frame)
            order = next(f["order"] for f in frames if f["type"] == "order")
            assert (order["id"], order["status"]) == (order_id, "filled")
            snapshot = next(f for f in frames if f["type"] == "snapshot")
            w07 = next(p for p in snapshot["positions"] if p["symbol"] == "W007USDT")
            assert w07["quantity"] == "2"  # 1.5 + 0.5: the fresh positions after the fill


async def test_shutdown_closes_sockets_with_1012(stack):
    port = stack["web"]()
    headers = {"Authorization": f"Bearer {stack['tokens']['fast']}"}
    async with connect(f"ws://127.0.0.1:{port}/ws/v1/portfolio", additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        stack["started"][0].proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        await asyncio.wait_for(ws.wait_closed(), 10)
        assert ws.close_code == 1012  # "service restart": clients reconnect
        assert time.monotonic() - started < 5

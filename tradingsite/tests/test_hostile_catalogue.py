"""The hostile-input catalogue, against the production server (tradingsite.serve, uvicorn with its
guarded HTTP protocol and the push's WebSocket protocol), real PostgreSQL and Redis, prices flowing.

Slow clients on HTTP (no bytes, trickled headers, a stalled or trickled body), too many connections
from one address, WebSocket frames that are oversized, binary, not UTF-8, nested too deep or a flood,
and generated hostile values (path traversal, injection strings, special numbers) in every text field
and path parameter: each is answered with a 4xx or a close code, never a 5xx; a bystander's socket
keeps its frames meanwhile; the server's memory stays bounded over the whole catalogue."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tradingsite.testing.processes import (
    ONE_POOL,
    Process,
    drop_database,
    fresh_database,
    prepare_database,
    production_env,
)
from tradingsite.testing.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

PASSWORD = "hostile-password-1234"
TIMEOUT = 1.0  # WEB_HEADER_TIMEOUT_SECONDS and WEB_BODY_TIMEOUT_SECONDS of this server
PER_ADDRESS = 30  # WEB_MAX_CONNECTIONS_PER_ADDRESS of this server

SEED = f"""
from decimal import Decimal
from django.utils import timezone
from accounts.models import User
from portfolio.models import Account, Position
from pricefeed.services import symbol_sync_from_snapshot
symbol_sync_from_snapshot()
for name in ("hostile", "bystander"):
    user = User.objects.create_user(username=name, password={PASSWORD!r})
    Account.objects.create(user=user, cash=Decimal("100000"), quote_asset="USDT")
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"):
        Position.objects.create(user=user, symbol_id=symbol, quantity=Decimal("1"), cost_basis=Decimal("100"),
                                avg_entry_price=Decimal("100"), opened_at=timezone.now())
"""


class Site:
    def __init__(self, port: int, process: Process) -> None:
        self.port = port
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/ws/v1/portfolio"
        self.tokens: dict[str, str] = {}
        self.rss_start = 0.0

    def log_in(self) -> None:
        """Fresh sessions (each test begins with an empty Redis: conftest's `_empty_redis`)."""
        self.tokens = {name: self.login(name) for name in ("hostile", "bystander")}

    def login(self, username: str) -> str:
        response = httpx.post(f"{self.base}/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def auth(self, name: str = "hostile") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(services_started: bool) -> Iterator[Site]:
    database_url = fresh_database(os.environ["DATABASE_URL"], "hostile")
    port = free_port()
    env = production_env(
        database_url=database_url,
        redis_url=os.environ["REDIS_URL"],
        var_dir=tempfile.mkdtemp(prefix="tradingsite-hostile-"),
        PORT=str(port),
        API_RATE_LIMIT="1000000",
        LOGIN_FAILURE_LIMIT="1000000",
        LOGIN_FAILURE_IP_LIMIT="1000000",
        PRICE_FEED_IN_PROCESS="1",
        WEB_HEADER_TIMEOUT_SECONDS=str(TIMEOUT),
        WEB_BODY_TIMEOUT_SECONDS=str(TIMEOUT),
        WEB_MAX_CONNECTIONS_PER_ADDRESS=str(PER_ADDRESS),
        LOG_LEVEL="WARNING",
    )
    prepare_database(env, SEED)
    web = Process(ONE_POOL, env=env)
    try:
        wait_for_port(port, 60, web.proc)
        site = Site(port, web)
        warm_up(site)
        site.rss_start = site.rss_mb()
        yield site
        assert "Traceback" not in web.output, web.output[-5000:]
    finally:
        web.stop()
        drop_database(database_url)


def warm_up(site: Site) -> None:
    """Every code path the catalogue takes, once: what it imports and caches is not growth."""
    site.log_in()
    with httpx.Client(base_url=site.base, headers=site.auth()) as client:
        for path in ("/healthz", "/api/v1/portfolio", "/api/v1/trades", "/api/v1/orders", "/api/v1/positions",
                     "/api/v1/watchlist", "/api/v1/auth/sessions", "/nowhere", "/static/nowhere"):  # fmt: skip
            client.get(path)
        for path in WRITES:
            client.request("PATCH" if path.endswith("/account") else "POST", path, json={})

    async def socket() -> None:
        async with connect(site.ws, additional_headers=site.auth(), ping_interval=None) as ws:
            await ws.recv()
            await ws.send("{}")
            await ws.recv()

    asyncio.run(socket())


@pytest.fixture
def site(server: Site) -> Site:
    server.log_in()
    return server


# --- slow clients on HTTP ---------------------------------------------------------------------------


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """What the server sends until it closes the connection, and when it closed (seconds)."""
    started = time.monotonic()
    sock.settimeout(limit)
    answer = b""
    while True:
        try:
            more = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not more:
            break
        answer += more
    return answer, time.monotonic() - started


def trickle(sock: socket.socket, data: bytes, every: float) -> float:
    """Sends `data` a byte at a time until the server closes; returns how long it took to close."""
    started = time.monotonic()
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(every)
        if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) if _readable(sock) else b"":
            break
    return time.monotonic() - started


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


def test_a_connection_that_sends_nothing_is_closed_with_408(site: Site) -> None:
    with socket.create_connection(("127.0.0.1", site.port)) as sock:
        answer, seconds = read_until_closed(sock, 10)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"request_timeout"' in answer
    assert TIMEOUT * 0.9 <= seconds <= TIMEOUT + 1.5


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_header_timeout(site: Site) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", site.port)) as sock:
        seconds = trickle(sock, head, every=0.05)  # 20 bytes a second, steadily: still too slow
        answer, _ = read_until_closed(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert seconds <= TIMEOUT + 1.5


def test_a_stalled_body_is_cut_off_and_a_trickled_one_at_six_times_the_body_timeout(site: Site) -> None:
    head = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 500\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", site.port)) as sock:
        sock.sendall(head + b'{"username": ')  # …and nothing more
        answer, seconds = read_until_closed(sock, 10)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert TIMEOUT * 0.9 <= seconds <= TIMEOUT + 1.5

    with socket.create_connection(("127.0.0.1", site.port)) as sock:
        sock.sendall(head)
        seconds = trickle(sock, b" " * 500, every=TIMEOUT / 4)  # each byte in time, the whole never
        answer, _ = read_until_closed(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert 6 * TIMEOUT * 0.9 <= seconds <= 6 * TIMEOUT + 1.5


def test_a_request_sent_at_a_normal_pace_and_kept_alive_is_served(site: Site) -> None:
    with httpx.Client(base_url=site.base) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(TIMEOUT * 1.5)  # idle between requests: keep-alive's own (longer) timeout


def test_connections_per_address_are_capped_and_a_freed_place_is_reusable(site: Site) -> None:
    def open_kept_alive(source: str = "127.0.0.1") -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", site.port), source_address=(source, 0))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        return sock

    from contextlib import ExitStack

    from websockets.sync.client import connect as connect_sync

    stack = ExitStack()
    sockets = [stack.enter_context(connect_sync(site.ws, additional_headers=site.auth())) for _ in range(2)]
    held = [open_kept_alive() for _ in range(PER_ADDRESS - len(sockets))]  # the sockets count too
    try:
        with socket.create_connection(("127.0.0.1", site.port)) as extra:
            answer, _ = read_until_closed(extra, 5)
        assert answer.startswith(b"HTTP/1.1 429"), answer
        assert b'"too_many_connections"' in answer
        held.append(open_kept_alive("127.0.0.2"))  # another address is not affected
        sockets.pop().close()
        time.sleep(0.2)
        held.append(open_kept_alive())  # the place the socket freed is taken again
        held.pop(0).close()
        time.sleep(0.2)
        held.append(open_kept_alive())
    finally:
        for sock in held:
            sock.close()
        stack.close()


# --- hostile WebSocket clients ---------------------------------------------------------------------


async def test_websocket_abuse_is_closed_or_refused_and_a_bystander_keeps_its_frames(site: Site) -> None:
    async with connect(site.ws, additional_headers=site.auth("bystander"), ping_interval=None) as bystander:
        assert json.loads(await bystander.recv())["type"] == "snapshot"
        gaps: list[float] = []

        async def watch() -> None:
            last = time.monotonic()
            while True:
                frame = json.loads(await bystander.recv())
                if frame["type"] == "pnl":
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now

        watcher = asyncio.create_task(watch())
        started = time.monotonic()
        try:
            await _abuse(site)
            await asyncio.sleep(max(0.0, 2 - (time.monotonic() - started)))
        finally:
            watcher.cancel()
        assert len(gaps) >= 8, gaps
        assert max(gaps) < 1.0, gaps  # the push went on through every abuse (frames every ~200 ms)


async def _abuse(site: Site) -> None:
    headers = site.auth("hostile")

    async def opened() -> Any:
        ws = await connect(site.ws, additional_headers=headers, ping_interval=None, max_size=None)
        assert json.loads(await ws.recv())["type"] == "snapshot"
        return ws

    async def drain(ws: Any) -> None:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()

    async def close_code(ws: Any) -> int:
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
        assert closed.value.rcvd is not None, "the server did not close"
        return int(closed.value.rcvd.code)

    async def error_code(ws: Any) -> str:
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "error":
                    return str(frame["code"])

    ws = await opened()
    await ws.send("x" * 70_000)  # over the 64 KB frame limit
    assert await close_code(ws) == 1009

    ws = await opened()
    await ws.send(b'{"type": "resync\xff\xfe"}', text=True)  # a text frame that is not UTF-8
    assert await close_code(ws) == 1007

    ws = await opened()
    for raw in (b"\x00\x01binary", "[" * 5000, "{}" * 3000, '{"type": 1e999999}', "NaN", '"\\ud800"'):
        await ws.send(raw)
        assert await error_code(ws) in ("message_invalid", "message_type_unknown")
        await asyncio.sleep(0.15)  # inside the message budget
    await ws.send(json.dumps({"type": "watch", "symbols": ["../../etc/passwd"]}))
    assert await error_code(ws) == "symbols_invalid"
    await ws.send(json.dumps({"type": "throttle", "max_hz": 10**100}))
    assert await error_code(ws) == "max_hz_invalid"
    await ws.close()

    ws = await opened()
    for _ in range(400):  # a flood: resync asks the database each time, unless the budget says no
        await ws.send('{"type": "resync"}')
    assert await error_code(ws) == "rate_limited"
    assert await close_code(ws) == 1008


# --- generated hostile values in every text field ----------------------------------------------------

HOSTILE = [
    "../../../../etc/passwd",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "' OR '1'='1",
    "'; DROP TABLE portfolio_trade; --",
    '"><script>alert(1)</script>',
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "\x00",
    "\ud7ff\ue000\U0010ffff",
    "NaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "-0",
    "0e0",
    "1e400",
    "1e-400",
    "1" * 100,
    "0." + "0" * 99 + "1",
    "+1",
    " 1",
    "1_000",
    "0x10",
    "١٢٣",
]
hostile_text = st.sampled_from(HOSTILE) | st.text(max_size=60)
# Numbers as JSON literals, not strings: what a client's number type writes (and what it should not).
hostile_number = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "-0", "1e400", "-1e400", "1" * 100, "0." + "0" * 99 + "1", "1E+2", "-0.0"]
)


def _field_body(fields: dict[str, str], raw_numbers: dict[str, str]) -> bytes:
    text = json.dumps(fields)
    for key, literal in raw_numbers.items():  # spliced in raw: json.dumps would refuse NaN as a literal
        text = text[:-1] + (", " if len(text) > 2 else "") + f'"{key}": {literal}' + "}"
    return text.encode()


WRITES = {
    "/api/v1/orders": ["symbol", "side", "quantity", "client_order_id"],
    "/api/v1/auth/login": ["username", "password"],
    "/api/v1/auth/register": ["username", "password", "email"],
    "/api/v1/auth/password": ["current_password", "new_password"],
    "/api/v1/account": ["cost_basis_method"],
    "/api/v1/reports/realized": ["year", "method"],
}
READS = [
    "/api/v1/positions/{}",
    "/api/v1/orders/by-client-id/{}",
    "/api/v1/watchlist/{}",
    "/api/v1/trades?symbol={}&start={}",
    "/api/v1/orders?status={}",
    "/api/v1/auth/sessions/{}",
    "/api/v1/reports/{}",
    "/static/{}",
    "/{}",
]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    path=st.sampled_from(sorted(WRITES)),
    values=st.lists(hostile_text, min_size=6, max_size=6),
    numbers=st.dictionaries(st.sampled_from(["quantity", "year", "max_hz"]), hostile_number, max_size=2),
)
def test_hostile_values_in_every_field_are_refused_with_a_4xx(site: Site, path: str, values: list[str],
                                                              numbers: dict[str, str]) -> None:  # fmt: skip
    fields = dict(zip(WRITES[path], values, strict=False))
    method = "PATCH" if path.endswith("/account") else "POST"
    response = httpx.request(
        method,
        site.base + path,
        content=_field_body(fields, {k: v for k, v in numbers.items() if k not in fields}),
        headers={**site.auth(), "Content-Type": "application/json"},
    )
    assert response.status_code < 500, (path, fields, numbers, response.text)
    if response.status_code >= 400:
        assert "code" in response.json()["error"]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(template=st.sampled_from(READS), values=st.lists(hostile_text, min_size=2, max_size=2))
def test_hostile_values_in_paths_and_queries_are_never_a_5xx(site: Site, template: str, values: list[str]) -> None:
    from urllib.parse import quote

    url = site.base + template.format(*(quote(v, safe="") for v in values))
    for method in ("GET", "PUT", "DELETE"):
        response = httpx.request(method, url, headers=site.auth())
        assert response.status_code < 500, (method, url, response.text[:300])
        assert response.status_code != 200 or not template.startswith("/static/"), url  # nothing outside static/


def test_the_server_stayed_small_through_the_whole_catalogue(site: Site) -> None:
    """Last in this module: memory after every case above is within bounds of where it started."""
    growth = site.rss_mb() - site.rss_start
    print(f"server RSS {site.rss_start:.1f} MB after warm-up, +{growth:.1f} MB after the catalogue")
    assert growth < 40, f"RSS grew {growth:.1f} MB over the catalogue"

"""A local stand-in for Binance's market-data endpoints, in Binance's wire format, for tests and
benches (Binance itself is never contacted from here).

One port serves both:
- WebSocket combined streams, `/stream?streams=a/b/c`: frames `{"stream": ..., "data": ...}`,
  live SUBSCRIBE / UNSUBSCRIBE answered `{"result": null, "id": n}` (or an error frame), pings with a
  payload the client must echo, and Binance's limits enforced as Binance does: more than 5 incoming
  messages in a second closes the connection with 1008; more than 1024 streams is refused.
- REST `GET /api/v3/ticker/price` and `GET /api/v3/exchangeInfo`.

Faults on demand: `drop_all()` (TCP cut, no close frame), `close_all(code)`, `server_shutdown()`
(the `serverShutdown` event), `stall()` (socket open, nothing sent, pings unanswered...).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

MAX_STREAMS = 1024
MAX_INCOMING_PER_SECOND = 5


@dataclass
class FakeConnection:
    ws: ServerConnection
    streams: set[str]
    opened_at: float = field(default_factory=time.monotonic)
    closed_at: float | None = None
    incoming: list[float] = field(default_factory=list)  # monotonic time of every incoming message
    requests: list[dict[str, Any]] = field(default_factory=list)
    pongs_ok: int = 0
    close_code: int | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def max_incoming_per_second(self) -> int:
        times, best, start = self.incoming, 0, 0
        for end in range(len(times)):
            while times[end] - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best


class FakeBinance:
    def __init__(self, *, ping_interval: float | None = None, enforce_limits: bool = True):
        self.ping_interval = ping_interval
        self.enforce_limits = enforce_limits
        self.connections: list[FakeConnection] = []
        self.prices: dict[str, Decimal] = {}
        self.exchange_symbols: list[dict[str, Any]] = []
        self.rest_requests: collections.Counter[str] = collections.Counter()
        self.stalled = False
        self.refuse_connections = False
        self.port = 0
        self._server: Server | None = None
        self._trade_id = 0

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> FakeBinance:
        self._server = await serve(
            self._handle, "127.0.0.1", port, process_request=self._process_request, ping_interval=None, max_queue=None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 3)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- state -----------------------------------------------------------------------------------

    def open_connections(self) -> list[FakeConnection]:
        return [c for c in self.connections if c.open]

    def subscribed(self) -> set[str]:
        return set().union(*(c.streams for c in self.open_connections())) if self.connections else set()

    def list_symbols(self, names: Iterable[str], status: str = "TRADING") -> None:
        for name in names:
            self.exchange_symbols.append(exchange_symbol(name, status))

    # --- sending ---------------------------------------------------------------------------------

    def agg_trade(self, symbol: str, price: str, event_ts: int | None = None) -> str:
        self._trade_id += 1
        now = event_ts if event_ts is not None else time.time_ns() // 1_000_000
        self.prices[symbol] = Decimal(price)
        payload = {
            "e": "aggTrade",
            "E": now,
            "s": symbol,
            "a": self._trade_id,
            "p": price,
            "q": "0.01000000",
            "f": self._trade_id,
            "l": self._trade_id,
            "T": now,
            "m": False,
            "M": True,
        }
        return json.dumps({"stream": f"{symbol.lower()}@aggTrade", "data": payload}, separators=(",", ":"))

    async def send_raw(self, raw: str, stream: str | None = None) -> int:
        """Send a frame to every open connection carrying `stream` (all when None); how many got it."""
        sent = 0
        for conn in self.open_connections():
            if stream is None or stream in conn.streams:
                with contextlib.suppress(ConnectionClosed):
                    await conn.ws.send(raw)
                    sent += 1
        return sent

    async def trade(self, symbol: str, price: str) -> int:
        return await self.send_raw(self.agg_trade(symbol, price), f"{symbol.lower()}@aggTrade")

    # --- faults ----------------------------------------------------------------------------------

    def drop_all(self) -> None:
        for conn in self.open_connections():
            conn.ws.transport.abort()

    async def close_all(self, code: int = 1001, reason: str = "") -> None:
        await asyncio.gather(*(c.ws.close(code, reason) for c in self.open_connections()), return_exceptions=True)

    async def server_shutdown(self) -> None:
        event = {"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": time.time_ns() // 1_000_000}}
        await self.send_raw(json.dumps(event))

    def stall(self, stalled: bool = True) -> None:
        self.stalled = stalled

    # --- protocol --------------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path.startswith("/api/"):
            return self._rest(url.path, parse_qs(url.query))
        if self.refuse_connections:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "down\n")
        if url.path != "/stream":
            return connection.respond(HTTPStatus.NOT_FOUND, "combined streams only\n")
        streams = parse_qs(url.query).get("streams", [""])[0]
        if len([s for s in streams.split("/") if s]) > MAX_STREAMS:
            return connection.respond(HTTPStatus.BAD_REQUEST, "too many streams\n")
        return None

    def _rest(self, path: str, query: dict[str, list[str]]) -> Response:
        self.rest_requests[path] += 1
        if path == "/api/v3/ticker/price":
            body: Any = [{"symbol": s, "price": format(p, "f")} for s, p in sorted(self.prices.items())]
        elif path == "/api/v3/exchangeInfo":
            body = {"timezone": "UTC", "serverTime": time.time_ns() // 1_000_000, "symbols": self.exchange_symbols}
        else:
            return Response(404, "Not Found", Headers([("Content-Type", "application/json")]), b'{"code":-1,"msg":"?"}')
        raw = json.dumps(body).encode()
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(raw)))])
        return Response(200, "OK", headers, raw)

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        streams = {s for s in query.get("streams", [""])[0].split("/") if s}
        conn = FakeConnection(ws, streams)
        self.connections.append(conn)
        pinger = asyncio.create_task(self._ping(conn)) if self.ping_interval else None
        try:
            async for raw in ws:
                conn.incoming.append(time.monotonic())
                if self.enforce_limits and self._over_limit(conn):
                    await ws.close(1008, "Too many requests")
                    break
                await self._request(conn, raw)
        except ConnectionClosed:
            pass
        finally:
            conn.closed_at = time.monotonic()
            conn.close_code = ws.close_code
            if pinger is not None:
                pinger.cancel()

    def _over_limit(self, conn: FakeConnection) -> bool:
        recent = [t for t in conn.incoming if conn.incoming[-1] - t < 1.0]
        return len(recent) > MAX_INCOMING_PER_SECOND

    async def _request(self, conn: FakeConnection, raw: str | bytes) -> None:
        try:
            request = json.loads(raw)
            method, params, request_id = request["method"], request.get("params", []), request["id"]
        except (ValueError, KeyError, TypeError):
            await conn.ws.send(json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}))
            return
        conn.requests.append(request)
        if self.stalled:
            return
        if method == "SUBSCRIBE":
            if len(conn.streams | set(params)) > MAX_STREAMS:
                await conn.ws.send(json.dumps({"error": {"code": 2, "msg": "too many streams"}, "id": request_id}))
                return
            conn.streams |= set(params)
        elif method == "UNSUBSCRIBE":
            conn.streams -= set(params)
        elif method != "LIST_SUBSCRIPTIONS":
            await conn.ws.send(json.dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": request_id}))
            return
        await conn.ws.send(json.dumps({"result": None, "id": request_id}))

    async def _ping(self, conn: FakeConnection) -> None:
        """Binance pings every 20 s and disconnects a client that has not ponged for a minute."""
        assert self.ping_interval is not None
        while True:
            await asyncio.sleep(self.ping_interval)
            if self.stalled:
                continue
            payload = secrets.token_hex(8).encode()
            try:
                waiter = await conn.ws.ping(payload)  # resolves only on a pong with this payload
                await asyncio.wait_for(waiter, 60)
                conn.pongs_ok += 1
            except (ConnectionClosed, TimeoutError):
                return


def exchange_symbol(name: str, status: str = "TRADING", tick: str = "0.01", step: str = "0.00001") -> dict[str, Any]:
    """One `exchangeInfo` symbol entry with the filters the product trades on."""
    quote = next((q for q in ("USDT", "EUR", "BTC") if name.endswith(q) and name != q), "USDT")
    return {
        "symbol": name,
        "status": status,
        "baseAsset": name.removesuffix(quote),
        "quoteAsset": quote,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00", "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000", "stepSize": step},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True},
        ],
    }


class FakeBinanceThread:
    """The fake server on its own loop in a thread, for tests that run the feeder as a process."""

    def __init__(self, **kwargs: Any):
        self.server = FakeBinance(**kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-binance", daemon=True)

    def __enter__(self) -> FakeBinanceThread:
        self._thread.start()
        self.call(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def call(self, coroutine: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def run(self, fn: Any, *args: Any) -> Any:
        async def invoke() -> Any:
            return fn(*args)

        return self.call(invoke())

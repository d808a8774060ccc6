"""The HTTP side of the ASGI application: Django's handler, with a request served in ONE hop to a
reused worker thread.

Django's own ASGIHandler runs per request: a fresh thread-sensitive context (so a new thread for the
first sync call), `request_started` and `request_finished` receivers through further thread hops,
two tasks (the response and a disconnect listener), and the middleware chain as an async chain (a
thread hop per synchronous middleware). Every middleware here, and every view, is synchronous. So a
request is read by the event loop, then served entirely in one call on a pooled thread: the
started signal, the whole middleware chain and view, and (for a complete response) the finished
signal, all on the thread that owns the request's database connection. Then the loop sends the
response. Measured with `python -m bench.rest` (README, performance): a per-request thread and the
hops were a third of the HTTP process's CPU.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import HttpResponseBase
from django.urls import set_script_prefix

from tradingsite.lib.errors import HTTP_CODES

PROBES = frozenset({"/healthz", "/readyz"})
OVERLOADED = orjson.dumps({"error": {"code": "overloaded", "message": HTTP_CODES["overloaded"].meaning, "details": {}}})


if TYPE_CHECKING:
    from tradingsite.hotpath import HotPath


class SyncChainASGIHandler(ASGIHandler):
    """Also sheds load: past WEB_MAX_IN_FLIGHT requests in this process (served or waiting for a
    thread), the next is answered 503 `overloaded` with Retry-After at once, from the event loop.
    Without the bound an overload queued requests for seconds, clients gave up, and the threads went
    on serving requests nobody waited for: offered 400 requests/s, the pool served fewer than at 200
    (bench.rest). With it, what is served is served in time and the rest is told to come back."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0  # changed on the event loop only
        self.max_in_flight = settings.WEB_MAX_IN_FLIGHT

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        self.bearer_api: _BearerApiHandler | None = None
        if settings.BEARER_API_MIDDLEWARE is not None:
            self.bearer_api = _BearerApiHandler()
            self.bearer_api.load_middleware()
        from tradingsite.hotpath import HotPath  # (imports models: after django.setup())

        self.hot_path: HotPath | None = HotPath.configured()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP here, not {scope['type']}")
        if scope["path"] in PROBES:
            # Load balancers' probes on threads of their own, outside the bound: with PostgreSQL
            # gone, every request thread waits out the pool (3 s) and a probe queued behind them
            # answered in 3–5 s (bench.chaos); /readyz must answer within 1 s whatever happens.
            await self._serve(scope, receive, send, executor=_probe_threads())
            return
        if self.in_flight >= self.max_in_flight:
            await _overloaded(send)
            return
        self.in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _serve(self, scope: Any, receive: Any, send: Any, executor: ThreadPoolExecutor | None = None) -> None:
        try:
            body_file = await self.read_body(receive)
        except Exception:  # RequestAborted: the client left before its body arrived
            return
        try:
            serve = sync_to_async(self.serve, thread_sensitive=False, executor=executor)
            response = await serve(scope, body_file)
            await self.send_response(response, send)
            if response.streaming:  # closed once streamed, on a worker thread as well
                await sync_to_async(response.close, thread_sensitive=False)()
        finally:
            body_file.close()

    def serve(self, scope: Any, body_file: Any) -> HttpResponseBase:
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            response = error_response
        else:
            bearer = self.bearer_api is not None and _bearer_api_request(scope)
            hot = self.hot_path.respond(request) if bearer and self.hot_path is not None else None
            if hot is not None:
                response = hot
            else:
                chain = self.bearer_api if bearer and self.bearer_api is not None else self
                response = chain.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
        if not response.streaming:
            response.close()  # request_finished: the connection goes back to the pool, on its thread
        return response


class _BearerApiHandler(BaseHandler):
    """The same handler with the shorter middleware chain of settings.BEARER_API_MIDDLEWARE, for
    requests to the trading API (orders, positions, account, portfolio, trades, watch list,
    reports) that carry a bearer token: what the rest of the chain does (static files, the cookie
    session, CSRF, Django's user, messages) has nothing to do for them: 0.1–0.15 ms of the ~1.1 ms
    a portfolio read cost in its process (measured in-process, the handler in a loop). A test runs
    the same requests through both chains and compares status, headers and body."""

    def load_middleware(self, is_async: bool = False) -> None:
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.BEARER_API_MIDDLEWARE  # read by the base class only, at start-up
        try:
            super().load_middleware(is_async=False)
        finally:
            settings.MIDDLEWARE = full


BEARER_API_PATHS = tuple(
    f"/api/v1/{name}" for name in ("orders", "positions", "account", "portfolio", "trades", "watchlist", "reports")
)


def _bearer_api_request(scope: Any) -> bool:
    path: str = scope["path"]
    if not path.startswith(BEARER_API_PATHS):
        return False
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bool(value[:7].lower() == b"bearer ")
    return False


@functools.cache
def _probe_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="probe")


async def _overloaded(send: Any) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(OVERLOADED)).encode()),
        (b"retry-after", b"1"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": OVERLOADED})


def get_http_application() -> SyncChainASGIHandler:
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()

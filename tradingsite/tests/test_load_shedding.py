"""An HTTP process holds at most WEB_MAX_IN_FLIGHT requests; the next is told 503 `overloaded` with
Retry-After at once, and a request served gives its place back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tradingsite.handlers import SyncChainASGIHandler

pytestmark = [pytest.mark.integration]


async def call(handler: SyncChainASGIHandler, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await handler(scope, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


async def test_past_the_bound_a_request_is_refused_at_once_and_served_ones_give_their_place_back(
    transactional_db, settings
):
    settings.WEB_MAX_IN_FLIGHT = 2
    handler = SyncChainASGIHandler()
    page = "/api/v1/nowhere"  # any request: a JSON 404 when served
    assert (await call(handler, page))[0] == 404
    assert handler.in_flight == 0

    handler.in_flight = 2  # two requests in hand
    status, headers, body = await call(handler, page)
    assert (status, headers[b"retry-after"], headers[b"content-type"]) == (503, b"1", b"application/json")
    assert json.loads(body)["error"]["code"] == "overloaded"

    handler.in_flight = 1
    results = await asyncio.gather(call(handler, page), call(handler, page))
    assert sorted(r[0] for r in results) == [404, 503]  # one place left: one served, one refused
    assert handler.in_flight == 1


async def test_probes_are_answered_past_the_bound_on_threads_of_their_own(transactional_db, settings):
    """A load balancer's probe must not queue behind requests that wait for a database that is gone
    (every request thread busy): it has its own threads and no place in the bound."""
    import threading

    settings.WEB_MAX_IN_FLIGHT = 2
    handler = SyncChainASGIHandler()
    handler.in_flight = 2
    release = threading.Event()
    loop = asyncio.get_running_loop()
    blockers = [loop.run_in_executor(None, release.wait, 10) for _ in range(8)]  # the request threads, busy
    try:
        status, _, body = await asyncio.wait_for(call(handler, "/healthz"), 2)
        assert (status, json.loads(body)) == (200, {"status": "ok"})
    finally:
        release.set()
        await asyncio.gather(*blockers)

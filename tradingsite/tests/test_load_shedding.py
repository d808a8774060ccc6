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
    assert (await call(handler, "/healthz"))[0] == 200
    assert handler.in_flight == 0

    handler.in_flight = 2  # two requests in hand
    status, headers, body = await call(handler, "/healthz")
    assert (status, headers[b"retry-after"], headers[b"content-type"]) == (503, b"1", b"application/json")
    assert json.loads(body)["error"]["code"] == "overloaded"

    handler.in_flight = 1
    results = await asyncio.gather(call(handler, "/healthz"), call(handler, "/healthz"))
    assert sorted(r[0] for r in results) == [200, 503]  # one place left: one served, one refused
    assert handler.in_flight == 1

"""Guards in front of every request, before anything reads it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from tradingsite.lib.errors import ApplicationError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error_response(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error.as_body(), status=error.http_status)
    return HttpResponse(error.message, status=error.http_status, content_type="text/plain; charset=utf-8")


class NulCharacterMiddleware:
    """A NUL character in the path or a query parameter is refused with 400: PostgreSQL cannot hold
    NUL in text, so letting it reach a query would be a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.GET
        if "\x00" in request.path or any("\x00" in k or any("\x00" in v for v in query.getlist(k)) for k in query):
            error = ApplicationError(
                "invalid_input", "The request is invalid.", {"url": ["NUL characters are not allowed."]}
            )
            return error_response(request, error)
        return self.get_response(request)


class BodyLimitMiddleware:
    """ASGI: refuses an HTTP request body over DATA_UPLOAD_MAX_MEMORY_SIZE with 413 before it is read.
    Django's ASGI handler otherwise reads every body in full (spooled to disk past 1 MB) before any
    view or limit sees it. A declared Content-Length over the limit is refused at once; a chunked
    body is read up to the limit, then refused."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        if declared is not None or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        body = await _read_up_to(receive, limit)
        if body is None:
            await _refuse(send, limit)
            return
        await self.app(scope, _replay(body, receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_up_to(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # a disconnect: the app will see the same
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(send: Send, limit: int) -> None:
    error = ApplicationError("request_too_large", f"Request bodies are limited to {limit} bytes.", {"limit": limit})
    body = orjson.dumps(error.as_body())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

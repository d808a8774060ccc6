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

from typing import Any

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpResponseBase
from django.urls import set_script_prefix


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP here, not {scope['type']}")
        try:
            body_file = await self.read_body(receive)
        except Exception:  # RequestAborted: the client left before its body arrived
            return
        try:
            response = await sync_to_async(self.serve, thread_sensitive=False)(scope, body_file)
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
            response = self.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
        if not response.streaming:
            response.close()  # request_finished: the connection goes back to the pool, on its thread
        return response


def get_http_application() -> SyncChainASGIHandler:
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()

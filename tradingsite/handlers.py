"""The HTTP side of the ASGI application: Django's handler with its middleware chain run as one
synchronous call.

Django's own ASGIHandler builds an async middleware chain. Every middleware here is synchronous
(WhiteNoise, sessions, CSRF, auth, messages) and so are the DRF views, so that chain runs each
middleware's `process_request`/`process_response` and then the view through a separate
`sync_to_async` hop, with an `async_to_sync` hop back around WhiteNoise: about a dozen
thread hand-offs per request. Here the whole chain runs in a single hop to the request's own
thread (Django's ThreadSensitiveContext still gives every request its own thread, so requests run
concurrently). Measured with `python -m bench.orders` (README, performance).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def get_http_application() -> SyncChainASGIHandler:
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()

"""The reads an API client polls, answered without the middleware chain, the URL resolver and DRF.

A bearer client polling its portfolio or its newest trades sends the same plain request again and
again. Through the bearer chain (tradingsite/handlers.py) each such request paid for seven
middleware layers, URL resolving, DRF's request, authentication, permission, throttle, content
negotiation and renderer classes, and (for the trades page) the ORM building the same query once
more: ~220 of the ~670 µs a portfolio read cost its thread, and more for a trades page (measured
in-process, the handler in a loop). Here a registered read is one function from the user id and the
request to a JSON body, and what the chain would have done around it is done directly, by the
same code where it matters:

- the request id (tradingsite.lib.logs: from X-Request-ID or new, on every log line, in the answer);
- the Prometheus counters and latency (django-prometheus's own middleware methods, the view's name
  from its URL pattern resolved once);
- SecurityMiddleware, CommonMiddleware and XFrameOptionsMiddleware: their request checks first
  (a redirect or a refused host falls back), their response headers after (their own methods);
- DRF's part: the bearer session read with the API rate-limit count in one Redis round trip, the
  `Allow` and `Vary` headers, the JSON rendering.

Anything else falls back to the chain before a side effect: another method, path, query, Accept or
Authorization form, a cookie client, a token that is not a live session, a user over the rate limit
(the chain then counts that request once more: over the limit either way). An exception is answered
as the chain answers it (Django's handler500: 503 when PostgreSQL or Redis is down). The
answers must be the chain's, status, headers and body: tradingsite/tests/test_hot_path.py sends good
and bad requests through both and compares them. The hot path is off (every request takes the
chain) unless settings.BEARER_API_MIDDLEWARE is the chain it reproduces (HOT_PATH_CHAIN), the
database is PostgreSQL (not the embedded mode) and settings.HOT_PATH is true.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from django.conf import settings
from django.core.exceptions import DisallowedHost, PermissionDenied
from django.core.handlers.exception import response_for_exception
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import ResolverMatch, resolve
from django_prometheus.middleware import PrometheusAfterMiddleware, PrometheusBeforeMiddleware
from django_prometheus.utils import Time

from accounts.authentication import bearer_token, session_user
from accounts.ratelimit import api_counter
from tradingsite.lib.logs import _from_header, request_id

# The bearer chain whose effects are reproduced here, in its order.
HOT_PATH_CHAIN = [
    "tradingsite.lib.logs.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "tradingsite.middleware.NulCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
JSON_ACCEPTS = frozenset({None, "*/*", "application/json"})


@dataclass(frozen=True)
class HotRead:
    """A read served here: `body(request, user_id)` gives its JSON; `query` the query strings it
    takes as they are (anything else goes to the chain); `headers` what DRF adds to its answer."""

    path: str
    body: Callable[[HttpRequest, int], bytes]
    query: re.Pattern[str]
    headers: tuple[tuple[str, str], ...]


class HotPath:
    def __init__(self, reads: list[HotRead]):
        def unused(request: HttpRequest) -> HttpResponse:
            raise AssertionError("only the middlewares' hooks are called")

        self.security = SecurityMiddleware(unused)
        self.common = CommonMiddleware(unused)
        self.xframe = XFrameOptionsMiddleware(unused)
        self.before = PrometheusBeforeMiddleware(unused)
        self.after = PrometheusAfterMiddleware(unused)
        self.response_hooks = [
            self.after.process_response,
            self.xframe.process_response,
            self.common.process_response,
            self.security.process_response,
            self.before.process_response,
        ]
        self.reads: dict[str, tuple[HotRead, ResolverMatch]] = {read.path: (read, resolve(read.path)) for read in reads}

    @classmethod
    def configured(cls) -> HotPath | None:
        chain = settings.BEARER_API_MIDDLEWARE
        if not settings.HOT_PATH or chain != HOT_PATH_CHAIN or connection.vendor != "postgresql":
            return None
        from portfolio.hotreads import HOT_READS

        return cls(HOT_READS)

    def respond(self, request: HttpRequest) -> HttpResponseBase | None:
        """The answer, or None: the chain answers this request."""
        found = self.reads.get(request.path_info)
        if found is None or request.method != "GET" or request.META.get("HTTP_ACCEPT") not in JSON_ACCEPTS:
            return None
        read, match = found
        if not read.query.fullmatch(request.META.get("QUERY_STRING", "")):
            return None
        token = bearer_token(request.META.get("HTTP_AUTHORIZATION", "").encode("latin-1"))
        if token is None:
            return None
        try:  # the checks the chain makes before a view, none of them with a side effect
            if self.security.process_request(request) is not None or self.common.process_request(request) is not None:
                return None
        except (DisallowedHost, PermissionDenied):
            return None
        rid = _from_header(request.META.get("HTTP_X_REQUEST_ID"))
        context = request_id.set(rid)
        try:
            return self._serve(request, read, match, token, rid)
        finally:
            request_id.reset(context)

    def _serve(
        self, request: HttpRequest, read: HotRead, match: ResolverMatch, token: str, rid: str
    ) -> HttpResponseBase | None:
        started = Time()
        counted = False
        try:
            user, count = session_user(token, api_counter()[0])
            if user is None or count is None or count > settings.API_RATE_LIMIT:
                return None  # the chain answers 401 or 429 (or counts, when the store did not)
            self._count(request, match, started)
            counted = True
            response = HttpResponse(read.body(request, user.pk), content_type="application/json")
        except Exception as exc:
            # As the chain: the view's exception through django-prometheus, then Django's handler500
            # (503 service_unavailable when PostgreSQL or Redis is down), logged the same way.
            if not counted:
                self._count(request, match, started)
            self.after.process_exception(request, exc)
            response = response_for_exception(request, exc)
        else:
            for name, value in read.headers:
                response[name] = value
        for hook in self.response_hooks:  # innermost first, as the chain unwinds
            response = cast(HttpResponse, hook(request, response))
        response["X-Request-ID"] = rid
        return response

    def _count(self, request: HttpRequest, match: ResolverMatch, started: float) -> None:
        """django-prometheus's counting of a request that reached its view, timed from `started`."""
        self.before.process_request(request)
        self.after.process_request(request)
        request.prometheus_before_middleware_event = request.prometheus_after_middleware_event = started  # type: ignore[attr-defined]
        request.resolver_match = match
        self.after.process_view(request, match.func, match.args, match.kwargs)


def read_query(*names: str) -> re.Pattern[str]:
    """Query strings of `name=digits` pairs in this order, each optional (`limit=50`)."""
    return re.compile("&".join(f"(?:{re.escape(name)}=[0-9]{{1,4}})?" for name in names))

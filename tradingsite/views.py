"""Probes for process managers and load balancers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

READY_SECONDS = 0.9  # /readyz answers within about this, always
PROBE_SECONDS = 0.8  # each dependency's connect and command timeout


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving requests; touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Can this instance do its job: the database, Redis (sessions, cache) and a fresh price feed.
    Answers within READY_SECONDS whatever the dependencies do: each is checked on its own
    connection with a short timeout, in parallel, and one that has not answered by then fails."""
    checks = dict(READY_CHECKS)
    if not settings.SESSION_REDIS_URL:  # the embedded demo: sessions and cache in this process
        checks["cache"] = checks.pop("redis")
    if "replica" in settings.DATABASES:
        checks["replica"] = lambda: _check_database("replica")
    futures = {name: _probes.submit(_probe, check) for name, check in checks.items()}
    wait(futures.values(), timeout=READY_SECONDS)
    results = {
        name: future.result() if future.done() else {"ok": False, "error": "timeout"}
        for name, future in futures.items()
    }
    # A replica outage slows history reads on every instance alike: reported, not a reason to take
    # this one out of the load balancer.
    ready = all(r["ok"] for name, r in results.items() if name != "replica")
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: this instance's figures and the cluster's (tradingsite/metrics.py).
    Readable from the machine itself (the client address, through trusted proxies), or by whoever
    sends `Authorization: Bearer <METRICS_TOKEN>` when that is set."""
    if not _metrics_allowed(request):
        return HttpResponse("metrics are not public\n", status=403, content_type="text/plain")
    from prometheus_client import CONTENT_TYPE_LATEST

    from tradingsite.metrics import exposition

    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


# Raised when PostgreSQL or Redis cannot be reached (or answer in time): the request could not be
# served now and may be retried, which is a 503, not a bug (500).
def _dependency_errors() -> tuple[type[BaseException], ...]:
    import psycopg
    import psycopg_pool
    import redis
    from django.db import InterfaceError, OperationalError

    return (
        OperationalError,
        InterfaceError,
        psycopg.OperationalError,
        psycopg_pool.PoolTimeout,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
    )


RETRY_AFTER_SECONDS = 5


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it inside the `except` that caught the view's (or a middleware's)
    exception. A dependency that is down is a 503 with Retry-After, in JSON for the API."""
    import sys

    from tradingsite.lib.errors import ApplicationError

    failure = sys.exc_info()[1]
    if isinstance(failure, _dependency_errors()):
        error = ApplicationError("service_unavailable", "A service this request needs is unavailable; retry shortly.")
    else:
        error = ApplicationError("server_error", "Something went wrong on our side.")
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(error.as_body(), status=error.http_status)
    else:
        response = HttpResponse(error.message, status=error.http_status, content_type="text/plain; charset=utf-8")
    if error.code == "service_unavailable":
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: the API's own JSON error under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        from tradingsite.lib.errors import ApplicationError

        error = ApplicationError("not_found", "No such resource.")
        return JsonResponse(error.as_body(), status=error.http_status)
    from django.views import defaults

    return defaults.page_not_found(request, exception)


def _metrics_allowed(request: HttpRequest) -> bool:
    from django.conf import settings
    from django.utils.crypto import constant_time_compare

    token = settings.METRICS_TOKEN
    if token:
        return constant_time_compare(request.headers.get("authorization", ""), f"Bearer {token}")
    from tradingsite.lib.client_ip import client_ip

    return client_ip(request.META) in ("127.0.0.1", "::1")


def _probe(check: Callable[[], dict[str, object]]) -> dict[str, object]:
    try:
        return check()
    finally:
        connections.close_all()  # this thread's Django connections back to the pool: no request ends here


def _check_database(alias: str = "default") -> dict[str, object]:
    """A connection of its own (not the pool's, which waits for a healthy one up to its timeout)."""
    try:
        if connections[alias].vendor != "postgresql":
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
            return {"ok": True}
        import psycopg

        params = connections[alias].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.update(connect_timeout=PROBE_SECONDS, options="-c statement_timeout=1000")
        with psycopg.connect(**params) as conn:
            conn.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:
        logger.warning("readyz: database %s check failed: %s", alias, exc)
        return {"ok": False, "error": type(exc).__name__}


def _check_redis() -> dict[str, object]:
    try:
        if not settings.SESSION_REDIS_URL:
            cache.set("readyz", "1", 5)
            return {"ok": cache.get("readyz") == "1"}
        import redis

        url = str(settings.SESSION_REDIS_URL)
        with redis.Redis.from_url(url, socket_connect_timeout=PROBE_SECONDS, socket_timeout=PROBE_SECONDS) as client:
            return {"ok": bool(client.ping())}
    except Exception as exc:
        logger.warning("readyz: Redis check failed: %s", exc)
        return {"ok": False, "error": type(exc).__name__}


def _check_prices() -> dict[str, object]:
    from pricefeed.selectors import feed_report

    try:
        report = feed_report()
    except Exception as exc:
        logger.warning("readyz: price feed check failed: %s", exc)
        return {"ok": False, "error": type(exc).__name__}
    if report["state"] == "none":
        # In embedded mode the feed starts with the first request; say so rather than fail.
        return {"ok": settings.PRICE_FEED_IN_PROCESS, "state": "starting" if settings.PRICE_FEED_IN_PROCESS else "none"}
    stats = report["stats"]
    counters = (
        "connections",
        "reconnects",
        "watchdog_reconnects",
        "invalid_frames",
        "lag_ms_p99",
        "publish_lag_ms_p99",
    )
    return {
        "ok": report["state"] != "stale",
        "state": report["state"],
        "source": report["source"],
        "age_ms": report["age_ms"],
        "symbols": report["symbols"],
        **{name: stats[name] for name in counters if name in stats},
    }


READY_CHECKS: dict[str, Callable[[], dict[str, object]]] = {
    "database": _check_database,
    "redis": _check_redis,
    "prices": _check_prices,
}
# Probes run here, not in the request's thread, so the answer never waits for a hung one. A probe
# that hangs ends by its own timeout; the pool is small and shared by all requests.
_probes = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")

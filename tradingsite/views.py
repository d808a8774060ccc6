"""Probes for process managers and load balancers."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving requests; touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Can this process do its job: database, cache and a fresh price feed."""
    checks = {"database": _check_database(), "cache": _check_cache(), "prices": _check_prices()}
    ready = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


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


def _metrics_allowed(request: HttpRequest) -> bool:
    from django.conf import settings
    from django.utils.crypto import constant_time_compare

    token = settings.METRICS_TOKEN
    if token:
        return constant_time_compare(request.headers.get("authorization", ""), f"Bearer {token}")
    from tradingsite.lib.client_ip import client_ip

    return client_ip(request.META) in ("127.0.0.1", "::1")


def _check_database() -> dict[str, object]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:
        logger.warning("readyz: database check failed: %s", exc)
        return {"ok": False, "error": type(exc).__name__}


def _check_cache() -> dict[str, object]:
    try:
        cache.set("readyz", "1", 5)
        return {"ok": cache.get("readyz") == "1"}
    except Exception as exc:
        logger.warning("readyz: cache check failed: %s", exc)
        return {"ok": False, "error": type(exc).__name__}


def _check_prices() -> dict[str, object]:
    from django.conf import settings

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

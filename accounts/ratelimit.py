"""Fixed-window rate limits. In production the counters live in Redis, so every web process counts
against the same numbers: one pipelined INCR + EXPIRE NX per hit on a process-wide connection pool
(Django's cache would open a connection per request under ASGI, its handles being per-context).
Embedded mode counts in the local cache."""

from __future__ import annotations

import hashlib
import math
import time
from functools import cache as memoize
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from tradingsite.lib.aredis import REDIS_TIMEOUTS, RETRY_ONCE


def _window_key(name: str, period: int, at: float) -> tuple[str, float]:
    window = int(at // period)
    return f"rl:{name}:{window}", (window + 1) * period - at


@memoize
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, **REDIS_TIMEOUTS, **RETRY_ONCE)


def _client() -> redis.Redis | None:
    url = getattr(settings, "SESSION_REDIS_URL", None)
    return _redis(str(url)) if url else None


def _count(key: str) -> int:
    client = _client()
    value = client.get(key) if client is not None else cache.get(key)
    return int(value or 0)


def _incr(key: str, ttl: int) -> int:
    client = _client()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, ttl, nx=True)
        count, _ = pipe.execute()
        return int(count)
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl)
        return 1


def retry_after(name: str, limit: int, period: int) -> int | None:
    """Seconds until `name` may act again, or None if it is under its limit (does not count)."""
    key, left = _window_key(name, period, time.time())
    return max(1, math.ceil(left)) if _count(key) >= limit else None


def hit(name: str, limit: int, period: int) -> int | None:
    """Count one action; seconds to wait if that went over the limit, else None."""
    key, left = _window_key(name, period, time.time())
    count = _incr(key, period + 1)
    return max(1, math.ceil(left)) if count > limit else None


def login_keys(username: str, ip: str) -> tuple[str, str]:
    """Failures count per (username, IP): someone else's failures from elsewhere never lock a user out."""
    user = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:20]
    return f"login:{user}:{ip}", f"login-ip:{ip}"


def login_retry_after(username: str, ip: str) -> int | None:
    pair, by_ip = login_keys(username, ip)
    window = settings.LOGIN_FAILURE_WINDOW
    waits = [
        retry_after(pair, settings.LOGIN_FAILURE_LIMIT, window),
        retry_after(by_ip, settings.LOGIN_FAILURE_IP_LIMIT, window),
    ]
    return max((w for w in waits if w is not None), default=None)


def login_failed(username: str, ip: str) -> None:
    pair, by_ip = login_keys(username, ip)
    hit(pair, settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_FAILURE_WINDOW)
    hit(by_ip, settings.LOGIN_FAILURE_IP_LIMIT, settings.LOGIN_FAILURE_WINDOW)


API_PERIOD = 60


def api_counter(at: float | None = None) -> tuple[tuple[str, str, int], float]:
    """The API limit's counter for the session read to increment (accounts.sessions.repository:
    `prefix + user id + suffix`, the key `hit("api:user:{id}")` counts) and the window's seconds left."""
    key, left = _window_key("api:user:", API_PERIOD, time.time() if at is None else at)
    prefix, _, window = key.rpartition(":")
    return (prefix, f":{window}", API_PERIOD + 1), left


class UserApiThrottle(BaseThrottle):
    """`API_RATE_LIMIT` requests per minute per user (per client IP when anonymous). A bearer request
    was already counted with its session read (`request.api_count`, one Redis round trip for both)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        from tradingsite.lib.client_ip import client_ip

        counted = getattr(request, "api_count", None)
        if counted is not None and request.user.is_authenticated:
            count, left = counted
            self._wait = max(1, math.ceil(left)) if count > settings.API_RATE_LIMIT else None
            return self._wait is None
        who = f"user:{request.user.pk}" if request.user.is_authenticated else f"ip:{client_ip(request.META)}"
        self._wait = hit(f"api:{who}", settings.API_RATE_LIMIT, API_PERIOD)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait

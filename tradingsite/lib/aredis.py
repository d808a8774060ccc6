"""redis.asyncio clients for web processes: one per event loop (their connections belong to the loop
that opened them), each on a blocking pool. redis-py's default pool raises "Too many connections"
as soon as more coroutines want a connection than it holds, which a burst of socket connects does;
a blocking pool makes them wait their turn instead."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

MAX_CONNECTIONS = 256
WAIT_SECONDS = 30
# Every request-path Redis client (sync and async): a server that is gone fails a connect within 2 s
# and a command within 5 s, instead of holding a request until the kernel gives up (minutes).
REDIS_TIMEOUTS: dict[str, float] = {"socket_connect_timeout": 2, "socket_timeout": 5}

# A pooled connection that a Redis restart broke fails the first command sent on it; redis-py's pools
# (made from a URL) retry nothing. Once more on a fresh connection, at once, for a connection error
# only (not a timeout: a slow server is not asked twice). Measured by bench/chaos.py: without it,
# every idle connection of every pool failed one command after a restart — a socket's cleanup among
# them, which left its entry in the per-user count for a minute (4429 for the user's next tab).
RETRY_ONCE: dict[str, Any] = {
    "retry": SyncRetry(NoBackoff(), 1, (redis.exceptions.ConnectionError,)),
}
ASYNC_RETRY_ONCE: dict[str, Any] = {
    "retry": AsyncRetry(NoBackoff(), 1, (redis.exceptions.ConnectionError,)),
}

_clients: dict[str, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]] = {}


def client_for(url: str) -> aioredis.Redis:
    per_loop = _clients.setdefault(url, weakref.WeakKeyDictionary())
    loop = asyncio.get_running_loop()
    client = per_loop.get(loop)
    if client is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=WAIT_SECONDS, socket_connect_timeout=2, **ASYNC_RETRY_ONCE
        )
        client = per_loop[loop] = aioredis.Redis(connection_pool=pool)
    return client

"""Who has how many live sockets, across every web process: the per-user connection cap.

Each socket holds an entry `ws:conns:{user_id}` (a sorted set: connection id → expiry, ms) that it
refreshes with every heartbeat; an entry not refreshed in time (its process died) stops counting on
its own. Embedded mode counts in this process.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from functools import cache

import redis.asyncio as aioredis
from django.conf import settings

from tradingsite.lib.aredis import client_for


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ConnectionRegistry(ABC):
    def __init__(self, ttl_seconds: float):
        self.ttl_ms = int(ttl_seconds * 1000)

    @abstractmethod
    async def add(self, user_id: int, connection: str) -> int:
        """Count this connection in; returns how many the user now has (this one included)."""

    @abstractmethod
    async def touch(self, user_id: int, connection: str) -> None: ...

    async def touch_many(self, connections: list[tuple[int, str]]) -> None:
        for user_id, connection in connections:
            await self.touch(user_id, connection)

    @abstractmethod
    async def remove(self, user_id: int, connection: str) -> None: ...


class RedisConnectionRegistry(ConnectionRegistry):
    def __init__(self, url: str, ttl_seconds: float):
        super().__init__(ttl_seconds)
        self.url = url

    def _client(self) -> aioredis.Redis:
        return client_for(self.url)

    async def add(self, user_id: int, connection: str) -> int:
        key, now = f"ws:conns:{user_id}", _now_ms()
        pipe = self._client().pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {connection: now + self.ttl_ms})
        pipe.zcard(key)
        pipe.pexpire(key, self.ttl_ms)
        return int((await pipe.execute())[2])

    async def touch(self, user_id: int, connection: str) -> None:
        key = f"ws:conns:{user_id}"
        pipe = self._client().pipeline(transaction=False)
        pipe.zadd(key, {connection: _now_ms() + self.ttl_ms}, xx=True)
        pipe.pexpire(key, self.ttl_ms)
        await pipe.execute()

    async def touch_many(self, connections: list[tuple[int, str]]) -> None:
        """Every socket whose heartbeat went out this second, in one round trip."""
        expiry = _now_ms() + self.ttl_ms
        pipe = self._client().pipeline(transaction=False)
        for user_id, connection in connections:
            pipe.zadd(f"ws:conns:{user_id}", {connection: expiry}, xx=True)
            pipe.pexpire(f"ws:conns:{user_id}", self.ttl_ms)
        await pipe.execute()

    async def remove(self, user_id: int, connection: str) -> None:
        await self._client().zrem(f"ws:conns:{user_id}", connection)


class MemoryConnectionRegistry(ConnectionRegistry):
    def __init__(self, ttl_seconds: float):
        super().__init__(ttl_seconds)
        self._entries: dict[int, dict[str, int]] = {}

    async def add(self, user_id: int, connection: str) -> int:
        now = _now_ms()
        entries = self._entries.setdefault(user_id, {})
        for name in [n for n, expiry in entries.items() if expiry <= now]:
            del entries[name]
        entries[connection] = now + self.ttl_ms
        return len(entries)

    async def touch(self, user_id: int, connection: str) -> None:
        entries = self._entries.get(user_id, {})
        if connection in entries:
            entries[connection] = _now_ms() + self.ttl_ms

    async def remove(self, user_id: int, connection: str) -> None:
        entries = self._entries.get(user_id)
        if entries is not None:
            entries.pop(connection, None)
            if not entries:
                del self._entries[user_id]


@cache
def get_registry() -> ConnectionRegistry:
    ttl = settings.WS_HEARTBEAT_SECONDS * 3  # three missed heartbeats: that process is gone
    if settings.SESSION_REDIS_URL:
        return RedisConnectionRegistry(str(settings.SESSION_REDIS_URL), ttl)
    return MemoryConnectionRegistry(ttl)

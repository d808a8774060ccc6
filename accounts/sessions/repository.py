"""Session records and the per-user index.

Redis layout (production):
- `session:{key}`: hash `data, user_id, created, last_seen, ip, ua`; expires with the session.
- `user_sessions:{user_id}`: set of that user's session keys (members of ended sessions are pruned
  when read).
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from functools import cache
from typing import cast

import redis
from django.conf import settings

from accounts.sessions import policy
from tradingsite.lib.aredis import REDIS_TIMEOUTS, RETRY_ONCE


@dataclass(frozen=True, slots=True)
class SessionRecord:
    key: str
    data: str
    user_id: int | None
    created: float
    last_seen: float
    ip: str
    user_agent: str

    @property
    def public_id(self) -> str:
        return policy.public_id(self.key)

    @property
    def deadline(self) -> float:
        return policy.deadline(
            created=self.created,
            last_seen=self.last_seen,
            idle=settings.SESSION_IDLE_TIMEOUT,
            absolute=settings.SESSION_ABSOLUTE_LIFETIME,
        )

    def has_ended(self, at: float) -> bool:
        return at >= self.deadline


class SessionExists(Exception):
    pass


# A counter to increment with a session read: (prefix, suffix, seconds to live); the counter's key is
# prefix + the session's user id + suffix (the API rate limit's window, accounts.ratelimit).
Counter = tuple[str, str, int]


class SessionRepository(ABC):
    @abstractmethod
    def get(self, key: str) -> SessionRecord | None:
        """The record, or None when unknown or ended (an ended record is deleted on the way)."""

    def get_counting(self, key: str, counter: Counter) -> tuple[SessionRecord | None, int | None]:
        """get(), and the session user's `counter` incremented in the same round trip: its new value,
        or None when this store does not count (the caller counts on its own)."""
        return self.get(key), None

    @abstractmethod
    def put(self, record: SessionRecord, *, must_create: bool = False) -> None: ...

    @abstractmethod
    def touch(self, record: SessionRecord, at: float) -> None: ...

    @abstractmethod
    def delete(self, key: str) -> SessionRecord | None: ...

    @abstractmethod
    def keys_for_user(self, user_id: int) -> list[str]: ...

    def records_for_user(self, user_id: int) -> list[SessionRecord]:
        records = (self.get(key) for key in self.keys_for_user(user_id))
        return sorted((r for r in records if r is not None), key=lambda r: r.created)

    def deadlines(self, keys: list[str]) -> dict[str, float | None]:
        """When each session ends, None for those already over: what live sockets check, many at once."""
        found: dict[str, float | None] = {}
        for key in keys:
            record = self.get(key)
            found[key] = None if record is None else record.deadline
        return found


def _seconds_left(record: SessionRecord, at: float) -> int:
    return max(1, math.ceil(record.deadline - at))


# The session hash and its user's counter in one round trip (a request's two Redis calls before any
# work: who is calling, and the rate limit). The counter's key is built from the hash's `user_id`,
# so it is not declared in KEYS: fine on one Redis server (as deployed), not on Redis Cluster.
_GET_AND_COUNT = """
local fields = redis.call('HGETALL', KEYS[1])
local count = 0
for i = 1, #fields, 2 do
  if fields[i] == 'user_id' and fields[i + 1] ~= '' then
    local counter = ARGV[1] .. fields[i + 1] .. ARGV[2]
    count = redis.call('INCR', counter)
    if count == 1 then redis.call('EXPIRE', counter, ARGV[3]) end
  end
end
return {fields, count}
"""


class RedisSessionRepository(SessionRepository):
    def __init__(self, url: str):
        self.redis = redis.Redis.from_url(url, decode_responses=True, **REDIS_TIMEOUTS, **RETRY_ONCE)
        self._get_and_count = self.redis.register_script(_GET_AND_COUNT)

    def get(self, key: str) -> SessionRecord | None:
        return self._live(key, cast(dict[str, str], self.redis.hgetall(f"session:{key}")))

    def get_counting(self, key: str, counter: Counter) -> tuple[SessionRecord | None, int | None]:
        fields, count = self._get_and_count(keys=[f"session:{key}"], args=list(counter))
        record = self._live(key, dict(zip(fields[::2], fields[1::2], strict=True)))
        return record, (int(count) if record is not None and count else None)

    def _live(self, key: str, raw: dict[str, str]) -> SessionRecord | None:
        if not raw:
            return None
        record = SessionRecord(
            key=key,
            data=raw.get("data", ""),
            user_id=int(raw["user_id"]) if raw.get("user_id") else None,
            created=float(raw["created"]),
            last_seen=float(raw["last_seen"]),
            ip=raw.get("ip", ""),
            user_agent=raw.get("ua", ""),
        )
        if record.has_ended(policy.now()):
            self.delete(key)
            return None
        return record

    def put(self, record: SessionRecord, *, must_create: bool = False) -> None:
        name = f"session:{record.key}"
        fields: dict[str | bytes, str] = {
            "data": record.data,
            "user_id": "" if record.user_id is None else str(record.user_id),
            "created": repr(record.created),
            "last_seen": repr(record.last_seen),
            "ip": record.ip,
            "ua": record.user_agent,
        }
        if must_create and not self.redis.hsetnx(name, "created", fields["created"]):
            raise SessionExists(record.key)
        pipe = self.redis.pipeline()
        pipe.hset(name, mapping=fields)  # type: ignore[arg-type]
        pipe.expire(name, _seconds_left(record, policy.now()))
        if record.user_id is not None:
            index = f"user_sessions:{record.user_id}"
            pipe.sadd(index, record.key)
            pipe.expire(index, settings.SESSION_ABSOLUTE_LIFETIME)
        pipe.execute()

    def touch(self, record: SessionRecord, at: float) -> None:
        name = f"session:{record.key}"
        pipe = self.redis.pipeline()
        pipe.hset(name, "last_seen", repr(at))
        pipe.expire(name, _seconds_left(replace(record, last_seen=at), at))
        pipe.execute()

    def delete(self, key: str) -> SessionRecord | None:
        name = f"session:{key}"
        pipe = self.redis.pipeline()
        pipe.hget(name, "user_id")
        pipe.delete(name)
        user_id, deleted = pipe.execute()
        if user_id:
            self.redis.srem(f"user_sessions:{user_id}", key)
        if not deleted:
            return None
        return SessionRecord(key, "", int(user_id) if user_id else None, 0.0, 0.0, "", "")

    def deadlines(self, keys: list[str]) -> dict[str, float | None]:
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(f"session:{key}", "created", "last_seen")
        found: dict[str, float | None] = {}
        now = policy.now()
        for key, (created, last_seen) in zip(keys, pipe.execute(), strict=True):
            if created is None or last_seen is None:
                found[key] = None
                continue
            ends = policy.deadline(
                created=float(created),
                last_seen=float(last_seen),
                idle=settings.SESSION_IDLE_TIMEOUT,
                absolute=settings.SESSION_ABSOLUTE_LIFETIME,
            )
            found[key] = None if now >= ends else ends
        return found

    def keys_for_user(self, user_id: int) -> list[str]:
        index = f"user_sessions:{user_id}"
        keys = sorted(cast(set[str], self.redis.smembers(index)))
        if keys:
            pipe = self.redis.pipeline()
            for key in keys:
                pipe.exists(f"session:{key}")
            gone = [k for k, alive in zip(keys, pipe.execute(), strict=True) if not alive]
            if gone:
                self.redis.srem(index, *gone)
            keys = [k for k in keys if k not in gone]
        return keys


class MemorySessionRepository(SessionRepository):
    """The embedded demo's store: one process, so a dict behind a lock is the whole server."""

    def __init__(self) -> None:
        self._records: dict[str, SessionRecord] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> SessionRecord | None:
        record = self._records.get(key)
        if record is not None and record.has_ended(policy.now()):
            self.delete(key)
            return None
        return record

    def put(self, record: SessionRecord, *, must_create: bool = False) -> None:
        with self._lock:
            if must_create and record.key in self._records:
                raise SessionExists(record.key)
            self._records[record.key] = record

    def touch(self, record: SessionRecord, at: float) -> None:
        with self._lock:
            if record.key in self._records:
                self._records[record.key] = replace(self._records[record.key], last_seen=at)

    def delete(self, key: str) -> SessionRecord | None:
        with self._lock:
            return self._records.pop(key, None)

    def keys_for_user(self, user_id: int) -> list[str]:
        return [k for k, r in list(self._records.items()) if r.user_id == user_id and self.get(k)]


@cache
def get_repository() -> SessionRepository:
    if settings.SESSION_STORE == "redis":
        return RedisSessionRepository(str(settings.SESSION_REDIS_URL))
    return MemorySessionRepository()

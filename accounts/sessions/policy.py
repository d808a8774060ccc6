"""When a session ends: after `idle` seconds without an HTTP request (sliding), or `absolute` seconds
after it was created, whichever comes first. Pure functions over plain numbers."""

from __future__ import annotations

import hashlib
import time


def now() -> float:
    """The sessions' clock (tests move it forward)."""
    return time.time()


def deadline(*, created: float, last_seen: float, idle: int, absolute: int) -> float:
    return min(last_seen + idle, created + absolute)


def has_ended(*, created: float, last_seen: float, idle: int, absolute: int, at: float) -> bool:
    return at >= deadline(created=created, last_seen=last_seen, idle=idle, absolute=absolute)


def public_id(session_key: str) -> str:
    """What users and admins see of a session: never the key itself, which is the credential."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:24]

"""The Django session engine (`SESSION_ENGINE = "accounts.sessions.backend"`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import CreateError, SessionBase

from accounts.sessions import policy
from accounts.sessions.repository import Counter, SessionExists, SessionRecord, get_repository

# A request refreshes `last_seen` at most this often: idle expiry is sliding to within this many
# seconds, and a burst of requests costs one write, not one per request.
TOUCH_EVERY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str
    user_agent: str


class SessionStore(SessionBase):
    def __init__(self, session_key: str | None = None, client: ClientInfo | None = None):
        super().__init__(session_key)
        self.client = client
        self.record: SessionRecord | None = None
        self.counter: Counter | None = None  # set before load(): count this with the read
        self.counted: int | None = None  # then its new value (None: the store did not count)

    def load(self) -> dict[str, Any]:
        key = self.session_key
        record = None
        if key and self.counter is not None:
            record, self.counted = get_repository().get_counting(key, self.counter)
        elif key:
            record = get_repository().get(key)
        if record is None:
            self._session_key = None
            return {}
        at = policy.now()
        if at - record.last_seen >= TOUCH_EVERY_SECONDS:
            get_repository().touch(record, at)
            record = replace(record, last_seen=at)
        self.record = record
        return self.decode(record.data)

    def exists(self, session_key: str) -> bool:
        return get_repository().get(session_key) is not None

    def create(self) -> None:
        while True:
            self._session_key = self._get_new_session_key()  # type: ignore[attr-defined]
            try:
                self.save(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]
        at = policy.now()
        previous = self.record if self.record is not None and self.record.key == self.session_key else None
        user_id = data.get(SESSION_KEY)
        record = SessionRecord(
            key=self.session_key,
            data=self.encode(data),
            user_id=int(user_id) if user_id is not None else None,
            created=previous.created if previous else at,
            last_seen=at,
            ip=self.client.ip if self.client else (previous.ip if previous else ""),
            user_agent=self.client.user_agent[:300] if self.client else (previous.user_agent if previous else ""),
        )
        try:
            get_repository().put(record, must_create=must_create)
        except SessionExists:
            raise CreateError from None
        self.record = record

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if key:
            get_repository().delete(key)

    def cycle_key(self) -> None:
        # A new key is a new session: its age starts again (Django keeps the data).
        self.record = None
        super().cycle_key()

    @classmethod
    def clear_expired(cls) -> None:
        """Records expire by themselves (Redis TTL, or on read in memory)."""

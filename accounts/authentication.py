"""Who is calling: a server-side session, by cookie (browsers) or by bearer token (other clients).

The bearer token IS the session key, so both ways share one expiry and one revocation."""

from __future__ import annotations

import time

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.models import User
from accounts.ratelimit import api_counter
from accounts.sessions.backend import SessionStore
from accounts.sessions.repository import Counter

# The session is read on every request (so a logout or force-logout counts at once); the user row
# behind it is kept per process for this long, with its session hash: a user deactivated in the
# admin is refused within these seconds (their sessions, ended by a force-logout, at once).
USER_CACHE_SECONDS = 5.0
_users: dict[int, tuple[float, User, str]] = {}


def user_for_session(session_key: str) -> User | None:
    """The active user a live session belongs to, checked as Django checks cookies: the session's
    password hash must still match (a password change ends older sessions)."""
    return session_user(session_key)[0]


def session_user(session_key: str, counter: Counter | None = None) -> tuple[User | None, int | None]:
    """user_for_session(), and with `counter` the user's rate-limit counter incremented in the same
    Redis round trip: its new value (None when the store did not count)."""
    session = SessionStore(session_key)
    session.counter = counter
    data = session.load()
    if not data or SESSION_KEY not in data or BACKEND_SESSION_KEY not in data:
        return None, session.counted
    session_hash = data.get(HASH_SESSION_KEY, "")
    found = _active_user(int(data[SESSION_KEY]))
    if found is not None and not constant_time_compare(session_hash, found[1]):
        found = _active_user(int(data[SESSION_KEY]), fresh=True)  # a password changed meanwhile?
    if found is None or not constant_time_compare(session_hash, found[1]):
        return None, session.counted
    return found[0], session.counted


def _active_user(user_id: int, *, fresh: bool = False) -> tuple[User, str] | None:
    now = time.monotonic()
    cached = _users.get(user_id)
    if cached is not None and cached[0] > now and not fresh:
        return cached[1], cached[2]
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        _users.pop(user_id, None)
        return None
    if len(_users) > 50_000:
        _users.clear()
    _users[user_id] = (now + USER_CACHE_SECONDS, user, user.get_session_auth_hash())
    return user, _users[user_id][2]


def bearer_token(header: bytes) -> str | None:
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    try:
        token = parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None
    return token if token.isalnum() and len(token) <= 64 else None


class BearerSessionAuthentication(BaseAuthentication):
    """The session read and the API rate-limit count in one Redis round trip: the throttle
    (accounts.ratelimit.UserApiThrottle) then decides from the count this left on the request."""

    def authenticate(self, request: Request) -> tuple[User, str] | None:
        header = get_authorization_header(request)
        if not header:
            return None
        token = bearer_token(header)
        counter, left = api_counter()
        user, counted = session_user(token, counter) if token else (None, None)
        if user is None:
            raise exceptions.AuthenticationFailed("The bearer token is not a live session.")
        if counted is not None:
            request.api_count = (counted, left)  # type: ignore[attr-defined]
        return user, token  # type: ignore[return-value]

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

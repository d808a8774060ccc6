"""Who is calling: a server-side session, by cookie (browsers) or by bearer token (other clients).

The bearer token IS the session key, so both ways share one expiry and one revocation."""

from __future__ import annotations

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.models import User
from accounts.sessions.backend import SessionStore


def user_for_session(session_key: str) -> User | None:
    """The active user a live session belongs to, checked as Django checks cookies: the session's
    password hash must still match (a password change ends older sessions)."""
    session = SessionStore(session_key)
    data = session.load()
    if not data or SESSION_KEY not in data or BACKEND_SESSION_KEY not in data:
        return None
    user = User.objects.filter(pk=data[SESSION_KEY], is_active=True).first()
    if user is None or not constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
        return None
    return user


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
    def authenticate(self, request: Request) -> tuple[User, str] | None:
        header = get_authorization_header(request)
        if not header:
            return None
        token = bearer_token(header)
        user = user_for_session(token) if token else None
        if user is None:
            raise exceptions.AuthenticationFailed("The bearer token is not a live session.")
        return user, token  # type: ignore[return-value]

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

"""WebSocket handshake checks, before any consumer code runs (ARCHITECTURE §5.3, §8).

`OriginValidator`: a browser's Origin must name one of ALLOWED_HOSTS exactly (or a subdomain of a
`.example.com` entry); `null` and look-alikes such as `evil-example.com` are refused. A client with no
Origin header (not a browser) is accepted only when it authenticates with a bearer token, since only
cookies can be abused cross-site.
`SessionAuthMiddleware`: resolves the session (bearer header, else session cookie) to a user and
puts `user`, `session_key` into the scope. Both refuse by closing before accept (HTTP 403).
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from django.conf import settings
from django.http.request import validate_host

from accounts.authentication import bearer_token, user_for_session


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _credentials(scope: dict[str, Any]) -> tuple[str | None, str | None]:
    """(session key, how it came): bearer header first, then the session cookie."""
    authorization = _header(scope, b"authorization")
    if authorization:
        return bearer_token(authorization.encode("latin-1")), "bearer"
    cookie_header = _header(scope, b"cookie")
    if cookie_header:
        cookies = SimpleCookie()
        cookies.load(cookie_header)
        morsel = cookies.get(settings.SESSION_COOKIE_NAME)
        if morsel is not None:
            return morsel.value, "cookie"
    return None, None


def origin_allowed(origin: str | None, via: str | None) -> bool:
    if origin is None:
        return via == "bearer"
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False  # includes the literal "null" that sandboxed pages and file:// send
    return validate_host(parts.hostname, settings.ALLOWED_HOSTS)


async def deny_handshake(receive: Any, send: Any) -> None:
    """Refuse before accept (the server answers HTTP 403), without creating a consumer: a refused
    socket costs no channel-layer channel and no Redis connection."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


class OriginValidator:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        _, via = _credentials(scope)
        if not origin_allowed(_header(scope, b"origin"), via):
            return await deny_handshake(receive, send)
        return await self.app(scope, receive, send)


class SessionAuthMiddleware:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        key, via = _credentials(scope)
        user = await database_sync_to_async(user_for_session)(key) if key else None
        if user is None:
            return await deny_handshake(receive, send)
        scope = dict(scope, user=user, session_key=key, auth_via=via)
        return await self.app(scope, receive, send)

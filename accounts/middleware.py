from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest

from accounts.sessions.backend import ClientInfo, SessionStore
from tradingsite.lib.client_ip import client_ip


class DeviceSessionMiddleware(SessionMiddleware):
    """Django's session middleware, telling the store which device it serves (IP, user agent) so a
    user can recognise their sessions in the list."""

    def process_request(self, request: HttpRequest) -> None:
        key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        client = ClientInfo(client_ip(request.META), request.headers.get("user-agent", ""))
        request.session = SessionStore(key, client=client)

"""The ASGI entry point: HTTP (pages, API, admin) and WebSocket in one application."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")

from tradingsite.handlers import get_http_application

django_asgi_app = get_http_application()  # first: sets Django up before anything imports models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.ws import OriginValidator, SessionAuthMiddleware  # noqa: E402
from portfolio.routing import websocket_urlpatterns  # noqa: E402
from pricefeed.hub import PriceHubMiddleware  # noqa: E402
from tradingsite.middleware import BodyLimitMiddleware  # noqa: E402

application = PriceHubMiddleware(
    ProtocolTypeRouter(
        {
            "http": BodyLimitMiddleware(django_asgi_app),
            "websocket": OriginValidator(SessionAuthMiddleware(URLRouter(websocket_urlpatterns))),
        }
    )
)

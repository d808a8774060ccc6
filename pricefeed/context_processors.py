from typing import Any

from django.conf import settings
from django.http import HttpRequest

from pricefeed.bus import get_bus


def price_feed(request: HttpRequest) -> dict[str, Any]:
    """Lets every page show the SIMULATED PRICES banner whenever prices are not live Binance ones."""
    status = get_bus().feed_status()
    source = status.source if status else (settings.PRICE_SOURCE if settings.PRICE_FEED_IN_PROCESS else None)
    return {
        "feed_source": source,
        "feed_is_live": bool(status and status.is_live),
        "max_tabs": settings.WS_MAX_CONNECTIONS_PER_USER,
        "stream_url": settings.STREAM_URL,  # where the page's live socket goes (empty: this host)
    }

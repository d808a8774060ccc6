from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def stream_url_matches_the_pages_scheme(**kwargs: Any) -> list[checks.CheckMessage]:
    """A page served over HTTPS may not open a ws:// socket (browsers block mixed content): with
    SECURE_SSL_REDIRECT on, a STREAM_URL given as a URL must be wss:// (":PORT" follows the page)."""
    if settings.SECURE_SSL_REDIRECT and settings.STREAM_URL.startswith("ws://"):
        return [
            checks.Warning(
                f"STREAM_URL={settings.STREAM_URL!r} is plain ws:// while the pages are served over HTTPS: "
                "browsers will refuse to open the live socket there.",
                hint="Give the stream front as wss://host[:port] (TLS ends at the stream front as at the API front).",
                id="pricefeed.W001",
            )
        ]
    return []


class PricefeedConfig(AppConfig):
    name = "pricefeed"
    verbose_name = "Price feed"

    def ready(self) -> None:
        from pricefeed import selectors  # noqa: F401  (connects the symbol cache's signals)

from django.apps import AppConfig


class PricefeedConfig(AppConfig):
    name = "pricefeed"
    verbose_name = "Price feed"

    def ready(self) -> None:
        from pricefeed import selectors  # noqa: F401  (connects the symbol cache's signals)

from django.db import models


class Symbol(models.Model):
    """A tradable pair, with the exchange's filters (Binance `exchangeInfo`: PRICE_FILTER, LOT_SIZE,
    NOTIONAL)."""

    class Status(models.TextChoices):
        TRADING = "TRADING"
        HALT = "HALT"
        BREAK = "BREAK"

    symbol = models.CharField(max_length=20, primary_key=True)
    base_asset = models.CharField(max_length=12)
    quote_asset = models.CharField(max_length=12)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TRADING)
    tick_size = models.DecimalField(max_digits=30, decimal_places=12)
    step_size = models.DecimalField(max_digits=30, decimal_places=12)
    min_qty = models.DecimalField(max_digits=30, decimal_places=12)
    min_notional = models.DecimalField(max_digits=30, decimal_places=12)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(condition=models.Q(tick_size__gt=0), name="symbol_tick_size_positive"),
            models.CheckConstraint(condition=models.Q(step_size__gt=0), name="symbol_step_size_positive"),
        ]

    def __str__(self) -> str:
        return self.symbol

from django.conf import settings
from django.db import models
from django.db.models import Q

from pricefeed.models import Symbol


def money_field(**options: object) -> models.DecimalField:
    """Quantities, prices and amounts: NUMERIC(40, 18) in PostgreSQL, enough for any crypto pair."""
    return models.DecimalField(max_digits=40, decimal_places=18, **options)  # type: ignore[arg-type]


class Position(models.Model):
    """A signed position: quantity > 0 is LONG, < 0 is SHORT. `cost_basis` is quantity × average entry
    price, stored as the total so the (possibly repeating) average is only ever derived."""

    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="positions")
    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, db_column="symbol", related_name="+")
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    quantity = money_field()
    cost_basis = money_field()
    realized_pnl = money_field(default=0)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One open position per (user, symbol); as a partial index it is also the index of a
            # user's open positions, the hot path.
            models.UniqueConstraint(
                fields=["user", "symbol"], condition=Q(status="open"), name="position_one_open_per_user_symbol"
            ),
            models.CheckConstraint(
                condition=(Q(status="open") & ~Q(quantity=0)) | (Q(status="closed") & Q(quantity=0)),
                name="position_open_iff_nonzero",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol_id} {self.quantity} ({self.status})"

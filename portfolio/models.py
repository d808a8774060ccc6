from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from pricefeed.models import Symbol


def money_field(**options: object) -> models.DecimalField[Any, Any]:
    """Quantities, prices and amounts: NUMERIC(40, 18) in PostgreSQL, enough for any crypto pair."""
    return models.DecimalField(max_digits=40, decimal_places=18, **options)  # type: ignore[arg-type]


class Position(models.Model):
    """A signed position: quantity > 0 is LONG, < 0 is SHORT. `avg_entry_price` is the average of the
    opening fills to 30 decimal places, moved only by fills that add; `cost_basis` is the signed cost
    still held, within half of 1e-8 of quantity × average (portfolio.domain.fills)."""

    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="positions")
    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, db_column="symbol", related_name="+")
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    quantity = money_field()
    cost_basis = money_field()
    # A quotient (often repeating), kept far finer than any price; on a closed position, the average it had.
    avg_entry_price = models.DecimalField(max_digits=50, decimal_places=30)
    realized_pnl = money_field(default=0)  # net of every fee paid in this position
    fees_paid = money_field(default=0)
    exit_price = money_field(null=True, blank=True)  # the price of the fill that closed it
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
        indexes = [models.Index(fields=["user", "status", "-opened_at"], name="position_user_status")]

    def __str__(self) -> str:
        return f"{self.symbol_id} {self.quantity} ({self.status})"


class Account(models.Model):
    """A user's cash in the quote asset. Locked (SELECT … FOR UPDATE) by every fill of that user, which
    serializes that user's fills whatever worker runs them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="account")
    cash = money_field()
    quote_asset = models.CharField(max_length=12, default="USDT")
    # The realized-gains report's default method (the report takes any as a parameter).
    cost_basis_method = models.CharField(
        max_length=8,
        choices=[("fifo", "FIFO"), ("lifo", "LIFO"), ("hifo", "HIFO"), ("average", "Average cost")],
        default="fifo",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.cash} {self.quote_asset}"


class Order(models.Model):
    class Side(models.TextChoices):
        BUY = "buy"
        SELL = "sell"

    class Status(models.TextChoices):
        PENDING = "pending"
        FILLED = "filled"
        REJECTED = "rejected"
        EXPIRED = "expired"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    client_order_id = models.CharField(max_length=64)
    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, db_column="symbol", related_name="+")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = money_field()
    reduce_only = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    price = money_field()  # the snapshot the order fills at
    price_ts = models.BigIntegerField()  # exchange time of that price, ms
    fee_rate = models.DecimalField(max_digits=12, decimal_places=8)
    reject_reason = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    filled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "client_order_id"], name="order_client_id_unique_per_user"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="order_price_positive"),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="order_user_created"),
            # The beat jobs scan pending orders only.
            models.Index(fields=["created_at"], name="order_pending_created", condition=Q(status="pending")),
            # Acceptance counts the user's pending orders against buying power.
            models.Index(fields=["user"], name="order_user_pending", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol_id} ({self.status})"


class Trade(models.Model):
    """One fill part. Append-only: never updated or deleted (a PostgreSQL trigger refuses both)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="trades")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="trades")
    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="trades")
    symbol = models.ForeignKey(Symbol, on_delete=models.PROTECT, db_column="symbol", related_name="+")
    side = models.CharField(max_length=4, choices=Order.Side.choices)
    quantity = money_field()
    price = money_field()
    fee = money_field()
    fee_currency = models.CharField(max_length=12)
    realized_pnl_gross = money_field(null=True, blank=True)
    realized_pnl_net = money_field(null=True, blank=True)
    executed_at = models.DateTimeField()

    class Meta:
        ordering = ["-executed_at", "-id"]
        indexes = [models.Index(fields=["user", "-executed_at", "-id"], name="trade_user_time")]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="trade_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol_id} @ {self.price}"


class RealizedReport(models.Model):
    """A realized-gains report computed by a worker (portfolio.tasks.realized_report_build), for
    histories too long to replay within a request. `payload` is the report's JSON, as the synchronous
    endpoint would have sent it; `through_trade_id` is the user's newest trade when it was asked for,
    so an unchanged history reuses it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    method = models.CharField(max_length=7)
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.PENDING)
    through_trade_id = models.BigIntegerField(default=0)
    trade_count = models.PositiveIntegerField(default=0)
    payload = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "year", "method", "-created_at"], name="report_user_year")]

    def __str__(self) -> str:
        return f"{self.year} {self.method} ({self.status})"


class WatchedSymbol(models.Model):
    """A symbol on a user's watch list (the Markets page streams their prices)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watched_symbols")
    symbol = models.ForeignKey(Symbol, on_delete=models.CASCADE, db_column="symbol", related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "symbol"], name="watched_symbol_once")]
        indexes = [models.Index(fields=["user", "added_at"], name="watched_symbol_user")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.symbol_id}"

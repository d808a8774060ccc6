from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from portfolio.models import Position
from pricefeed.models import Symbol


@transaction.atomic
def demo_positions_seed(*, user: User, holdings: list[tuple[str, Decimal, Decimal]]) -> list[Position]:
    """Give a user open positions (symbol, signed quantity, entry price) if they hold none yet.

    Demo data only: real positions come from order fills.
    """
    if Position.objects.filter(user=user, status=Position.Status.OPEN).exists():
        return list(Position.objects.filter(user=user, status=Position.Status.OPEN))
    now = timezone.now()
    symbols = Symbol.objects.in_bulk([symbol for symbol, _, _ in holdings])
    positions = [
        Position(
            user=user,
            symbol=symbols[symbol],
            quantity=quantity,
            cost_basis=quantity * price,
            opened_at=now,
        )
        for symbol, quantity, price in holdings
    ]
    return Position.objects.bulk_create(positions)

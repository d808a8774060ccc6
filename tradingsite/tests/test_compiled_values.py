"""A values query compiled once returns what the ORM returns, call after call, with new parameters."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from portfolio.models import Position
from pricefeed.services import symbol_sync_from_snapshot
from tradingsite.lib.compiled import MARKER, CompiledValues

pytestmark = [pytest.mark.integration]


def _open(user_id: int):
    return (
        Position.objects.filter(user_id=user_id, status=Position.Status.OPEN)
        .order_by("symbol_id")
        .values_list("symbol_id", "quantity", "cost_basis", "opened_at", "status")
    )


def test_compiled_rows_equal_the_orms_for_each_parameter(db):
    symbol_sync_from_snapshot()
    users = [User.objects.create_user(username=f"c{n}") for n in range(3)]
    for n, user in enumerate(users):
        for symbol in ("BTCUSDT", "ETHUSDT")[: n + 1]:
            Position.objects.create(
                user=user, symbol_id=symbol, quantity=Decimal("0.123456789"), cost_basis=Decimal(n),
                avg_entry_price=Decimal("1.5"), opened_at=timezone.now(),
            )  # fmt: skip
    users[1].positions.filter(symbol_id="ETHUSDT").update(
        status=Position.Status.CLOSED, quantity=0, closed_at=timezone.now()
    )
    compiled = CompiledValues(_open, user_id=MARKER)
    for user in [*users, *users]:
        with CaptureQueriesContext(connection) as queries:
            rows = compiled.rows(user_id=user.pk)
        assert rows == list(_open(user.pk))
        assert len(queries) == 1
    assert compiled._compiled is not None  # ran as SQL, not through the ORM
    assert [type(v) for v in compiled.rows(user_id=users[2].pk)[0]] == [
        str,
        Decimal,
        Decimal,
        type(timezone.now()),
        str,
    ]


def test_a_marker_missing_from_the_compiled_parameters_is_refused(db):
    compiled = CompiledValues(lambda user_id: Position.objects.filter(user_id=5).values_list("id"), user_id=MARKER)
    with pytest.raises(ValueError, match="each marker"):
        compiled.rows(user_id=5)

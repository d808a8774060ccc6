"""The site's pages as views: each needs a login, and each makes the same few queries whatever the
user holds (the pages are shells; their data comes from the API, whose query counts
portfolio/tests/test_queries.py holds constant)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portfolio.models import Position
from pricefeed.models import Symbol

PAGES = ["/", "/markets/", "/history/", "/report/", "/accounts/sessions/"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_needs_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_page_makes_the_same_queries_for_50_positions_as_for_none(client, owner):
    client.force_login(owner)
    before = {path: _queries(client, path) for path in PAGES}
    symbols = [
        Symbol(
            symbol=f"Q{i:02d}USDT",
            base_asset=f"Q{i:02d}",
            quote_asset="USDT",
            tick_size=Decimal("0.01"),
            step_size=Decimal("0.001"),
            min_qty=Decimal("0.001"),
            min_notional=Decimal("1"),
        )
        for i in range(50)
    ]
    Symbol.objects.bulk_create(symbols)
    Position.objects.bulk_create(
        Position(
            user=owner,
            symbol=s,
            quantity=Decimal("1"),
            cost_basis=Decimal("10"),
            avg_entry_price=Decimal("10"),
            opened_at=timezone.now(),
        )
        for s in symbols
    )
    after = {path: _queries(client, path) for path in PAGES}
    assert after == before


def _queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)

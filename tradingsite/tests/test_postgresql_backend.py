"""The PostgreSQL backend reads `timestamptz` with psycopg's C loader and gives Django exactly the
values its own loader would: aware, in `datetime.timezone.utc`, to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from psycopg import pq

from pricefeed.models import Symbol

pytestmark = [pytest.mark.integration]

AT = [
    datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, 0, 5, tzinfo=timezone(timedelta(hours=-5))),  # stored as UTC, read as UTC
]


def test_timestamptz_reads_as_aware_utc_through_the_c_loader(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(%s::timestamptz[])", [AT])
        values = [row[0] for row in cursor.fetchall()]
        loader = connection.connection.adapters.get_loader(cursor.cursor.description[0].type_code, pq.Format.TEXT)
    assert values == AT
    assert all(v.tzinfo is UTC for v in values)
    assert loader.__module__.startswith("psycopg_binary")


def test_server_side_cursors_read_the_same(db):
    Symbol.objects.create(
        symbol="DATEUSDT", base_asset="DATE", quote_asset="USDT", tick_size=1, step_size=1, min_qty=1, min_notional=1
    )
    Symbol.objects.filter(symbol="DATEUSDT").update(updated_at=AT[2])
    (value,) = list(Symbol.objects.filter(symbol="DATEUSDT").values_list("updated_at", flat=True).iterator(10))
    assert (value, value.tzinfo) == (AT[2], UTC)

"""The PostgreSQL backend reads `timestamptz` with psycopg's C loader and gives Django exactly the
values its own loader would: aware, in `datetime.timezone.utc`, to the microsecond."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import pq
from psycopg_pool import ConnectionPool

from pricefeed.models import Symbol
from tradingsite.lib.postgresql.base import check_quiet

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


def test_a_pooled_connection_the_server_ended_is_replaced_as_it_is_handed_out(transactional_db):
    """The pool's check reads the socket instead of a round trip: a connection the server ended
    (here `pg_terminate_backend`, as a restart does) is seen and replaced as it is handed out, and
    the query runs; a quiet connection is handed out again as it is. (On a pool of one, so which
    connection comes out is certain; Django's pool is checked to use the same check.)"""
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"]
    assert connection.pool._check is check_quiet  # type: ignore[attr-defined]
    params = connection.get_connection_params()
    params.pop("context", None)
    with ConnectionPool(kwargs={**params, "autocommit": True}, min_size=1, max_size=1, check=check_quiet) as pool:
        with pool.connection() as conn:
            first = conn.execute("SELECT pg_backend_pid()").fetchone()
        with pool.connection() as conn:
            assert conn.execute("SELECT pg_backend_pid()").fetchone() == first  # quiet: the same one
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", first)
        time.sleep(0.2)  # the server's notice reaches the pooled socket
        with pool.connection() as conn:
            assert conn.execute("SELECT pg_backend_pid()").fetchone() != first

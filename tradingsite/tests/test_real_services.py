"""The suite runs on real servers, not stand-ins: each test uses something only the real one has."""

import pytest
from django.core.cache import cache
from django.db import connection

pytestmark = pytest.mark.integration


@pytest.mark.django_db
def test_the_database_is_a_real_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT jsonb_path_query_array('{\"a\": [1, 2, 3]}', '$.a[*] ? (@ > 1)')::text")
        assert cursor.fetchone()[0] == "[2, 3]"
        # The one-open-position-per-symbol rule is a PostgreSQL partial unique index.
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'position_one_open_per_user_symbol'")
        assert "WHERE" in cursor.fetchone()[0]


def test_redis_is_a_real_redis_server(redis_client):
    assert redis_client.info("server")["redis_version"]
    redis_client.xadd("probe-stream", {"n": "1"})
    redis_client.pfadd("probe-hll", "a", "b", "c", "a")
    assert redis_client.xlen("probe-stream") == 1
    assert redis_client.pfcount("probe-hll") == 3


def test_the_django_cache_lives_in_that_redis(redis_client):
    cache.set("probe", "value", 30)
    assert redis_client.keys("cache:*probe")

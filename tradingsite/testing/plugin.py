"""pytest plugin (loaded with `-p` from pyproject.toml): real services for the test session.

It runs before pytest-django reads the settings, so it can point DATABASE_URL and REDIS_URL at a
PostgreSQL and a Redis started for this session (or at TEST_DATABASE_URL / TEST_REDIS_URL), and the
whole suite runs on the production wiring. `pytest -m unit` starts nothing: unit tests need no
servers and run on the embedded settings.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Iterator

import pytest

from tradingsite.testing.servers import PostgresServer, RedisServer, ServiceUnavailable

INTEGRATION_FIXTURES = {"db", "transactional_db", "django_db_setup", "live_server", "redis_client", "admin_client"}
_started: list[PostgresServer | RedisServer] = []
_services_key = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    namespace = early_config.known_args_namespace
    wants_services = (getattr(namespace, "markexpr", "") or "").strip() != "unit"
    early_config.stash[_services_key] = wants_services
    if getattr(namespace, "help", False) or getattr(namespace, "version", False):
        return
    if not wants_services:
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="tradingsite-unit-")
        return
    try:
        database_url = os.environ.get("TEST_DATABASE_URL") or _start(PostgresServer()).url
        redis_url = os.environ.get("TEST_REDIS_URL") or _start(RedisServer()).url
    except ServiceUnavailable as exc:
        _stop_all()
        raise pytest.UsageError(f"tests need real PostgreSQL and Redis servers: {exc}") from None
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        # The broker gets a Redis database of its own: the per-test FLUSHDB of the app's database
        # must not drop the queues a test worker listens on.
        CELERY_BROKER_URL=redis_url.rsplit("/", 1)[0] + "/1",
        SECRET_KEY="test-only-secret-key-never-used-in-production",
        ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
        DEBUG="0",
        # Tests speak plain HTTP to the servers they start; HTTPS settings have their own test.
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        # One pooled connection at most idle: the test database must be droppable at the end.
        DATABASE_POOL_MIN_SIZE="0",
    )


def _start(server: PostgresServer | RedisServer) -> PostgresServer | RedisServer:
    if not _started:
        atexit.register(_stop_all)  # also covers a session that dies before pytest_unconfigure
    _started.append(server)
    return server.start()


def _stop_all() -> None:
    while _started:
        _started.pop().stop()


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop_all()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Unmarked tests that use the database or Redis are integration tests; the rest are unit."""
    for item in items:
        if item.get_closest_marker("integration") or item.get_closest_marker("unit"):
            continue
        uses = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("django_db") or uses & INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)
        else:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def services_started(pytestconfig: pytest.Config) -> bool:
    return pytestconfig.stash[_services_key]


@pytest.fixture(autouse=True)
def _empty_redis(services_started: bool) -> None:
    """Every test starts with an empty Redis (before any other fixture logs someone in)."""
    if services_started:
        import redis
        from django.conf import settings

        with redis.Redis.from_url(str(settings.REDIS_URL)) as client:
            client.flushdb()


@pytest.fixture
def redis_client(services_started: bool) -> Iterator[object]:
    """A client of the session's Redis (emptied before each test)."""
    import redis
    from django.conf import settings

    if not services_started:
        pytest.fail("this test needs Redis: do not run it with -m unit")
    client = redis.Redis.from_url(str(settings.REDIS_URL))
    yield client
    client.close()

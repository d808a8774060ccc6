"""Schemathesis against the running production server: every operation of /api/schema/, called with
generated input (valid and invalid), authenticated with a bearer token; no 5xx, and every response
matching the schema (status codes documented, bodies and content types as declared).

`SCHEMATHESIS_EXAMPLES` cases per operation (default 25 on every commit; `make fuzz` asks 500);
`SCHEMATHESIS_ONLY=/auth/register` fuzzes the operations whose path contains that alone."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from tradingsite.testing.processes import (
    ONE_POOL,
    Process,
    drop_database,
    fresh_database,
    prepare_database,
    production_env,
)
from tradingsite.testing.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
PASSWORD = "fuzz-password-1234"  # a throwaway user of a throwaway database


class Server:
    def __init__(self, base: str) -> None:
        self.base = base
        self.token = self.login("fuzzer")
        self.reached: set[str] = set()

    def login(self, username: str) -> str:
        response = httpx.post(f"{self.base}/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])


@pytest.fixture(scope="module")
def server(services_started: bool) -> Iterator[Server]:
    database_url = fresh_database(os.environ["DATABASE_URL"], "fuzz")
    folder = tempfile.mkdtemp(prefix="tradingsite-fuzz-")
    port = free_port()
    env = production_env(
        database_url=database_url,
        redis_url=os.environ["REDIS_URL"],
        var_dir=folder,
        PORT=str(port),
        API_RATE_LIMIT="1000000",
        LOGIN_FAILURE_LIMIT="1000000",
        LOGIN_FAILURE_IP_LIMIT="1000000",
        PRICE_FEED_IN_PROCESS="1",  # prices, so orders get past price_stale (no worker: they stay pending)
    )
    seed = (
        "from django.contrib.auth import get_user_model; from pricefeed.services import symbol_sync_from_snapshot;"
        "symbol_sync_from_snapshot(); U = get_user_model();"
        f"[U.objects.create_user(username=n, password={PASSWORD!r}) for n in ('fuzzer', 'leaver')]"
    )
    prepare_database(env, seed)
    web = Process(ONE_POOL, env=env)
    try:
        wait_for_port(port, 60, web.proc)
        yield Server(f"http://127.0.0.1:{port}")
    finally:
        web.stop()
        drop_database(database_url)


def fuzz(server: Server, operation: Any, mode: Any, reached: dict[str, int]) -> None:
    """`EXAMPLES` generated cases of one operation in one mode, each checked by schemathesis."""
    label = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)  # fmt: skip
    def check(case: Any) -> None:
        token = server.token
        if operation.path.endswith("/auth/logout"):
            token = server.login("leaver")  # a session of its own to end, not the one the others use
        case.call_and_validate(
            base_url=server.base,
            headers={"Authorization": f"Bearer {token}"},
            # Valid by the schema is not always valid by the rules: a password the password rules
            # refuse, an order the account cannot carry are 400 / 422 by design.
            excluded_checks=[checks.positive_data_acceptance],
        )
        reached[label] = reached.get(label, 0) + 1

    check()


def describe(exc: BaseException) -> str:
    """The failure and what it wraps (hypothesis's "unreliable results" hides the first failure)."""
    parts = [f"{type(exc).__name__}: {exc}"]
    for inner in getattr(exc, "exceptions", ()):
        parts.append("  " + describe(inner).replace("\n", "\n  "))
    if exc.__cause__ is not None:
        parts.append("  caused by " + describe(exc.__cause__).replace("\n", "\n  "))
    return "\n".join(parts)


def test_every_operation_answers_as_documented(server: Server) -> None:
    """Each operation with valid input, then with invalid input; the failures of all operations
    reported together."""
    api = schemathesis.openapi.from_url(f"{server.base}/api/schema/")
    operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]
    only = os.environ.get("SCHEMATHESIS_ONLY")  # a part of a path: fuzz those operations alone
    operations = [o for o in operations if not only or only in o.path]
    failures: dict[str, str] = {}
    reached: dict[str, int] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(server, operation, mode, reached)
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # nothing to get wrong (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # collected: every operation's failures at once
                failures[f"{operation.method.upper()} {operation.path} ({mode.value})"] = describe(exc)[:6000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert set(reached) == {f"{o.method.upper()} {o.path}" for o in operations}, "operations never called"
    print(f"{len(operations)} operations, {sum(reached.values())} calls")

"""The API's description holds: real responses of every operation, success and error, validated
against the served OpenAPI schema (undocumented statuses or fields fail), and /api/docs/ renders it."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest
from django.test import Client
from jsonschema import Draft202012Validator

from portfolio.services import order_execute
from portfolio.tests.conftest import open_position, streamed

pytestmark = [pytest.mark.integration]


def _closed(schema: Any) -> Any:
    """A copy where every object with listed properties allows no others: a field the schema does not
    describe is drift too."""
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


class SchemaChecker:
    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.components = _closed(schema["components"])
        self.templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in schema["paths"]
        ]
        self.seen: dict[tuple[str, str], set[int]] = defaultdict(set)

    def operations(self) -> set[tuple[str, str]]:
        return {(m.upper(), p) for p, ops in self.schema["paths"].items() for m in ops}

    def check(self, method: str, response: Any) -> Any:
        path = response.request["PATH_INFO"]
        template = path if path in self.schema["paths"] else next(t for rx, t in self.templates if rx.match(path))
        operation = self.schema["paths"][template][method.lower()]
        documented = operation["responses"]
        status = str(response.status_code)
        assert status in documented, f"{method} {template} answered {status}, not in {sorted(documented)}"
        self.seen[(method, template)].add(response.status_code)
        content = documented[status].get("content")
        if not content:
            assert not response.content, f"{method} {template} {status}: a body the schema does not describe"
            return None
        media = response["Content-Type"].split(";")[0]
        assert media in content, f"{method} {template} {status}: {media} not in {sorted(content)}"
        if media != "application/json":
            return streamed(response) if response.streaming else response.content
        body = response.json()
        schema = {**_closed(content[media]["schema"]), "components": self.components}
        errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
        assert not errors, f"{method} {template} {status}: {errors[0].message} at {list(errors[0].absolute_path)}"
        return body


@pytest.fixture
def api(symbols, prices, owner) -> tuple[Client, SchemaChecker]:
    client = Client()
    client.force_login(owner)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    return client, SchemaChecker(schema)


def test_every_operation_answers_as_its_schema_says(api, prices, owner, other_user):
    client, schema = api
    anonymous = Client()
    prices.set("BTCUSDT", "60000.10")
    prices.set("ETHUSDT", "3000")
    prices.set("SOLUSDT", "140", age_ms=60_000)

    def call(who: Client, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        if method in ("POST",):
            response = who.post(path, data, content_type="application/json", **extra)
        elif method == "PATCH":
            response = who.patch(path, data, **extra)
        elif method == "PUT":
            response = who.put(path, **extra)
        else:
            response = getattr(who, method.lower())(path, data or {}, **extra)
        return schema.check(method, response)

    # auth
    call(anonymous, "GET", "/api/v1/auth/csrf")
    call(anonymous, "GET", "/api/v1/auth/csrf", {"x": "\x00"})
    login = call(Client(), "POST", "/api/v1/auth/login", {"username": "owner", "password": "owner-password-1"})
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {login['token']}"}
    call(Client(), "POST", "/api/v1/auth/login", {"username": "owner", "password": "wrong-password"})
    call(Client(), "POST", "/api/v1/auth/login", ["not", "an", "object"])
    call(Client(), "POST", "/api/v1/auth/register", {"username": "schema-user", "password": "correct-horse-battery-9"})
    call(Client(), "POST", "/api/v1/auth/register", {"username": "OWNER", "password": "correct-horse-battery-9"})
    call(client, "GET", "/api/v1/auth/me")
    call(anonymous, "GET", "/api/v1/auth/me")
    call(Client(), "POST", "/api/v1/auth/login", {"username": "owner", "password": "owner-password-1"})
    sessions = call(client, "GET", "/api/v1/auth/sessions")
    call(anonymous, "GET", "/api/v1/auth/sessions")
    other = next(s for s in sessions if not s["current"])
    call(client, "DELETE", f"/api/v1/auth/sessions/{other['id']}")
    call(client, "DELETE", "/api/v1/auth/sessions/nope")
    call(anonymous, "POST", "/api/v1/auth/logout")
    call(anonymous, "POST", "/api/v1/auth/password", {"current_password": "x", "new_password": "y"})

    # market
    call(client, "GET", "/api/v1/symbols")
    call(client, "GET", "/api/v1/symbols", {"status": "SOMETIMES"})
    call(client, "GET", "/api/v1/prices", {"symbols": "BTCUSDT,ETHUSDT,ADAUSDT"})
    call(client, "GET", "/api/v1/prices", {"symbols": ""})
    call(client, "GET", "/api/v1/feed")
    call(anonymous, "GET", "/api/v1/feed")

    # orders
    placed = call(
        client,
        "POST",
        "/api/v1/orders",
        {"symbol": "BTCUSDT", "side": "buy", "quantity": "0.01", "client_order_id": "s-1"},
    )
    call(
        client,
        "POST",
        "/api/v1/orders",
        {"symbol": "BTCUSDT", "side": "buy", "quantity": "0.01", "client_order_id": "s-1"},
    )
    call(client, "POST", "/api/v1/orders", {"symbol": "SOLUSDT", "side": "buy", "quantity": "1"})
    call(client, "POST", "/api/v1/orders", {"symbol": "BTCUSDT", "side": "buy", "quantity": 1})
    order_execute(order_id=placed["id"])
    call(client, "GET", "/api/v1/orders")
    call(client, "GET", "/api/v1/orders", {"cursor": "garbage"})
    call(client, "GET", f"/api/v1/orders/{placed['id']}")
    call(Client(), "GET", f"/api/v1/orders/{placed['id']}", **bearer)
    other_client = Client()
    other_client.force_login(other_user)
    call(other_client, "GET", f"/api/v1/orders/{placed['id']}")
    call(client, "GET", "/api/v1/orders/by-client-id/s-1")
    call(client, "GET", "/api/v1/orders/by-client-id/nope")

    # positions, account, portfolio, trades
    open_position(owner, "ETHUSDT", "-2", "3100")
    open_position(owner, "SOLUSDT", "3", "150")
    call(client, "GET", "/api/v1/positions")
    call(client, "GET", "/api/v1/positions", {"status": "all"})
    call(client, "GET", "/api/v1/positions", {"status": "maybe"})
    call(client, "GET", "/api/v1/positions/BTCUSDT")
    call(client, "GET", "/api/v1/positions/XRPUSDT")
    call(client, "DELETE", "/api/v1/positions/ETHUSDT?percentage=50")
    call(client, "DELETE", "/api/v1/positions/ETHUSDT?quantity=99")
    call(client, "DELETE", "/api/v1/positions/XRPUSDT")
    call(client, "GET", "/api/v1/account")
    call(anonymous, "GET", "/api/v1/account")
    call(client, "GET", "/api/v1/portfolio")
    call(anonymous, "GET", "/api/v1/portfolio")
    call(client, "GET", "/api/v1/trades")
    call(client, "GET", "/api/v1/trades", HTTP_ACCEPT="text/csv")
    call(client, "GET", "/api/v1/trades", {"from": "2026-02-30T00:00:00Z"})
    call(client, "PATCH", "/api/v1/account", {"cost_basis_method": "hifo"}, content_type="application/json")
    call(client, "PATCH", "/api/v1/account", {"cost_basis_method": "best"}, content_type="application/json")

    # the watch list
    call(client, "PUT", "/api/v1/watchlist/ETHUSDT")
    call(client, "PUT", "/api/v1/watchlist/NOPEUSDT")
    call(client, "GET", "/api/v1/watchlist")
    call(anonymous, "GET", "/api/v1/watchlist")
    call(client, "DELETE", "/api/v1/watchlist/ETHUSDT")
    call(anonymous, "DELETE", "/api/v1/watchlist/ETHUSDT")

    # realized-gains reports
    call(client, "GET", "/api/v1/reports/realized", {"year": 2026, "method": "lifo"})
    call(client, "GET", "/api/v1/reports/realized", {"year": 2026}, HTTP_ACCEPT="text/csv")
    call(client, "GET", "/api/v1/reports/realized", {"year": 0})
    job = call(client, "POST", "/api/v1/reports/realized", {"year": 2026, "method": "average"})
    call(client, "POST", "/api/v1/reports/realized", {"year": 2026, "method": "best"})
    call(client, "GET", f"/api/v1/reports/{job['id']}")
    call(other_client, "GET", f"/api/v1/reports/{job['id']}")

    call(client, "DELETE", "/api/v1/positions")  # BTC and ETH accepted, SOL refused (stale)
    call(anonymous, "DELETE", "/api/v1/positions")
    call(
        client,
        "POST",
        "/api/v1/auth/password",
        {"current_password": "owner-password-1", "new_password": "another-horse-battery-7"},
    )
    call(client, "POST", "/api/v1/auth/logout")

    for operation in sorted(schema.operations()):
        statuses = schema.seen.get(operation, set())
        assert any(s < 300 for s in statuses), f"{operation}: no success checked"
        assert any(s >= 400 for s in statuses), f"{operation}: no error checked"


def test_the_docs_page_renders_the_schema_offline(browser_page, owner):
    page, base = browser_page
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    page.goto(f"{base}/api/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) == 29
    assert "/api/v1/orders" in {p.strip().replace("\u200b", "") for p in paths}
    assert hosts == {base.split("/")[2]}  # Swagger UI's files come from this server: it works offline

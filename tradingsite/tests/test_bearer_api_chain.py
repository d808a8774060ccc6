"""A trading API request with a bearer token takes a shorter middleware chain
(settings.BEARER_API_MIDDLEWARE): it must answer exactly as the full chain does — status, headers
and body — for what clients send, good and bad."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from portfolio.models import Position
from pricefeed.domain import Tick, now_ms
from pricefeed.services import symbol_sync_from_snapshot
from tradingsite.handlers import SyncChainASGIHandler, _BearerApiHandler

pytestmark = [pytest.mark.integration]

PASSWORD = "chain-test-password-1"
REQUESTS: list[tuple[str, str, bytes, bytes]] = [
    ("GET", "/api/v1/portfolio", b"", b""),
    ("GET", "/api/v1/positions", b"", b""),
    ("GET", "/api/v1/positions/BTCUSDT", b"", b""),
    ("GET", "/api/v1/positions/NOPEUSDT", b"", b""),
    ("GET", "/api/v1/account", b"", b""),
    ("GET", "/api/v1/trades", b"", b""),
    ("GET", "/api/v1/trades", b"limit=abc", b""),
    ("GET", "/api/v1/trades", b"symbol=%00", b""),
    ("GET", "/api/v1/orders", b"status=filled", b""),
    ("GET", "/api/v1/orders/999999", b"", b""),
    ("GET", "/api/v1/watchlist", b"", b""),
    ("POST", "/api/v1/orders", b"", b'{"symbol": "BTCUSDT", "side": "up", "quantity": "1"}'),
    ("POST", "/api/v1/orders", b"", b"not json"),
    ("DELETE", "/api/v1/portfolio", b"", b""),
    ("GET", "/api/v1/reports/realized", b"year=20x6", b""),
]


def _scope(method: str, path: str, query: bytes, body: bytes, authorization: bytes) -> dict[str, Any]:
    headers = [(b"host", b"testserver"), (b"authorization", authorization), (b"accept", b"application/json")]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }  # fmt: skip


def _served(handler: SyncChainASGIHandler, scope: dict[str, Any], body: bytes) -> tuple[int, dict[str, str], Any]:
    response = handler.serve(scope, io.BytesIO(body))
    headers = {k.lower(): v for k, v in response.items() if k.lower() != "x-request-id"}
    content = response.content  # type: ignore[attr-defined]
    return response.status_code, headers, json.loads(content) if content else None


@pytest.fixture
def token(transactional_db, redis_client) -> str:
    symbol_sync_from_snapshot()
    user = User.objects.create_user(username="chain", password=PASSWORD)
    at = now_ms()
    redis_client.set("price:BTCUSDT", Tick("BTCUSDT", Decimal("65000.5"), at, at).to_json(), ex=60)
    Position.objects.create(
        user=user,
        symbol_id="BTCUSDT",
        quantity=Decimal("0.5"),
        cost_basis=Decimal("30000"),
        avg_entry_price=Decimal("60000"),
        opened_at=timezone.now(),
    )
    login = Client().post(
        "/api/v1/auth/login", {"username": "chain", "password": PASSWORD}, content_type="application/json"
    )
    return str(login.json()["token"])


def test_the_bearer_chain_answers_as_the_full_chain(token, settings):
    lean = SyncChainASGIHandler()
    assert isinstance(lean.bearer_api, _BearerApiHandler)
    settings.BEARER_API_MIDDLEWARE = None
    full = SyncChainASGIHandler()
    assert full.bearer_api is None
    for authorization in (f"Bearer {token}".encode(), f"bearer {token}".encode(), b"Bearer not-a-session"):
        for method, path, query, body in REQUESTS:
            scope = _scope(method, path, query, body, authorization)
            assert _served(lean, scope, body) == _served(full, scope, body), (authorization, method, path, query)


def test_an_order_placed_through_the_bearer_chain_is_answered_as_through_the_full_chain(token, settings):
    lean = SyncChainASGIHandler()
    settings.BEARER_API_MIDDLEWARE = None
    full = SyncChainASGIHandler()
    body = b'{"symbol": "BTCUSDT", "side": "buy", "quantity": "0.001", "client_order_id": "chain-1"}'
    scope = _scope("POST", "/api/v1/orders", b"", body, f"Bearer {token}".encode())
    placed = _served(lean, scope, body)
    assert placed[0] == 202
    assert _served(full, scope, body) == (200, placed[1], placed[2])  # the same order, found by its id

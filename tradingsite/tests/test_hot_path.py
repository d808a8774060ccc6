"""The hot path (tradingsite/hotpath.py) answers the reads API clients poll without the middleware
chain and DRF: it must answer exactly as the chain does — status, headers and body — for what
clients send, good and bad, and leave to the chain whatever it does not reproduce."""

from __future__ import annotations

import io
import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
from asgiref.sync import async_to_sync
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.utils import timezone
from django_prometheus.middleware import Metrics

from accounts.models import User
from accounts.sessions.backend import SessionStore
from portfolio.models import Order, Position, Trade
from pricefeed.domain import Tick, now_ms
from pricefeed.services import symbol_sync_from_snapshot
from tradingsite.handlers import SyncChainASGIHandler

pytestmark = [pytest.mark.integration]

PASSWORD = "hot-path-password-1"
TRADES = 7  # the last four at one time: DRF's cursor then carries an offset

# Requests the hot path serves itself (checked), then ones it must leave to the chain.
SERVED = [
    ("/api/v1/portfolio", b""),
    ("/api/v1/trades", b""),
    ("/api/v1/trades", b"limit=2"),
    ("/api/v1/trades", b"limit=3"),
    ("/api/v1/trades", b"limit=5"),
    ("/api/v1/trades", b"limit=7"),
    ("/api/v1/trades", b"limit=0"),
    ("/api/v1/trades", b"limit=5000"),
]
LEFT = [
    ("/api/v1/portfolio", b"format=json"),
    ("/api/v1/portfolio/", b""),
    ("/api/v1/trades", b"limit=abc"),
    ("/api/v1/trades", b"limit=2&symbol=BTCUSDT"),
    ("/api/v1/trades", b"symbol=%00"),
    ("/api/v1/trades", b"format=csv"),
    ("/api/v1/positions", b""),
]


def _scope(path: str, query: bytes, headers: list[tuple[bytes, bytes]], method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }  # fmt: skip


def _served(handler: SyncChainASGIHandler, scope: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    response = handler.serve(scope, io.BytesIO(b""))
    kept = dict(scope["headers"]).get(b"x-request-id") == b"client-id-1"  # else a new one each time
    headers = {k.lower(): v for k, v in response.items() if k.lower() != "x-request-id" or kept}
    streamed = response.streaming  # the CSV export
    content = b"".join(async_to_sync(_collect)(response)) if streamed else response.content  # type: ignore[attr-defined]
    return response.status_code, headers, content


async def _collect(response: Any) -> list[bytes]:
    return [chunk async for chunk in response.streaming_content]


def _taken(handler: SyncChainASGIHandler, scope: dict[str, Any]) -> bool:
    assert handler.hot_path is not None
    request, _ = handler.create_request(scope, io.BytesIO(b""))
    assert request is not None
    return handler.hot_path.respond(request) is not None


@pytest.fixture
def token(transactional_db, redis_client) -> str:
    symbol_sync_from_snapshot()
    user = User.objects.create_user(username="hot", password=PASSWORD)
    at = now_ms()
    redis_client.set("price:BTCUSDT", Tick("BTCUSDT", Decimal("65000.5"), at, at).to_json(), ex=60)
    now = timezone.now()
    positions = [
        Position.objects.create(
            user=user, symbol_id=symbol, quantity=quantity, cost_basis=abs(quantity) * 60000,
            avg_entry_price=Decimal("60000"), opened_at=now,
        )
        for symbol, quantity in (("BTCUSDT", Decimal("0.5")), ("ETHUSDT", Decimal("-2.25")))
    ]  # fmt: skip
    for n in range(TRADES):
        position = positions[n % 2]
        order = Order.objects.create(
            user=user, client_order_id=f"hot-{n}", symbol_id=position.symbol_id, side="buy", quantity=Decimal("0.01"),
            status="filled", price=Decimal("60000.123456789"), price_ts=at, fee_rate=Decimal("0.001"),
        )  # fmt: skip
        Trade.objects.create(
            user=user, order=order, position=position, symbol_id=position.symbol_id, side="buy",
            quantity=Decimal("0.01"), price=Decimal("60000.123456789"), fee=Decimal("0.60000123"), fee_currency="USDT",
            realized_pnl_gross=Decimal("-1.5") if n % 3 == 0 else None, realized_pnl_net=None,
            executed_at=now - timedelta(seconds=max(0, 3 - n)),
        )  # fmt: skip
    login = Client().post(
        "/api/v1/auth/login", {"username": "hot", "password": PASSWORD}, content_type="application/json"
    )
    return str(login.json()["token"])


@pytest.fixture
def handlers(token, settings) -> tuple[SyncChainASGIHandler, SyncChainASGIHandler]:
    hot = SyncChainASGIHandler()
    assert hot.hot_path is not None
    settings.HOT_PATH = False
    chain = SyncChainASGIHandler()
    assert chain.hot_path is None
    return hot, chain


def _header_sets(token: str) -> list[list[tuple[bytes, bytes]]]:
    bearer = f"Bearer {token}".encode()
    variants = [
        [(b"authorization", bearer)],
        [(b"authorization", f"bearer {token}".encode()), (b"accept", b"*/*")],
        [(b"authorization", bearer), (b"accept", b"application/json"), (b"x-request-id", b"client-id-1")],
        [(b"authorization", bearer), (b"x-forwarded-proto", b"https"), (b"x-request-id", b"bad id!")],
        [(b"authorization", bearer), (b"accept", b"text/csv")],
        [(b"authorization", b"Bearer notasession0")],
        [(b"authorization", b"Basic aG90OnB3")],
        [],
    ]
    hosts = [b"testserver", b"evil.example"]
    return [[(b"host", host), *headers] for host, headers in itertools.product(hosts, variants)]


def test_the_hot_path_answers_as_the_chain(token, handlers):
    hot, chain = handlers
    for headers in _header_sets(token):
        for path, query in SERVED + LEFT:
            scope = _scope(path, query, headers)
            assert _served(hot, scope) == _served(chain, scope), (headers, path, query)


def test_it_serves_the_plain_reads_and_leaves_the_rest_to_the_chain(token, handlers):
    hot, _ = handlers
    bearer = [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())]
    assert all(_taken(hot, _scope(path, query, bearer)) for path, query in SERVED)
    assert not any(_taken(hot, _scope(path, query, bearer)) for path, query in LEFT)
    assert not _taken(hot, _scope("/api/v1/portfolio", b"", bearer, method="HEAD"))
    assert not _taken(hot, _scope("/api/v1/portfolio", b"", [(b"host", b"evil.example"), *bearer[1:]]))
    assert not _taken(hot, _scope("/api/v1/portfolio", b"", [*bearer, (b"accept", b"text/html")]))
    assert not _taken(hot, _scope("/api/v1/portfolio", b"", [bearer[0], (b"authorization", b"Bearer nosuchsession")]))


def test_over_the_rate_limit_the_chain_answers_429(token, handlers, settings):
    hot, chain = handlers
    settings.API_RATE_LIMIT = 3
    scope = _scope("/api/v1/portfolio", b"", [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())])
    statuses = [_served(hot, scope)[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert _served(hot, scope) == _served(chain, scope)


def test_its_answers_are_counted_as_the_chains(token, handlers):
    hot, chain = handlers
    by_view = Metrics.get_instance().responses_by_status_view_method
    counted = by_view.labels(status="200", view="portfolio", method="GET")._value
    scope = _scope("/api/v1/portfolio", b"", [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())])
    for handler in (hot, chain):
        before = counted.get()
        assert _served(handler, scope)[0] == 200
        assert counted.get() == before + 1


@pytest.mark.parametrize("down", ["redis", "postgresql"])
def test_a_dependency_down_is_answered_as_by_the_chain(token, handlers, monkeypatch, down):
    hot, chain = handlers
    bearer = [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())]
    for path, query in SERVED[:3]:
        _served(hot, _scope(path, query, bearer))  # the user row cached, as in a serving process
    with monkeypatch.context() as patch:
        if down == "redis":  # the session read fails
            patch.setattr(SessionStore, "load", _raises(redis.exceptions.ConnectionError("Redis went away")))
        else:  # every query fails
            patch.setattr(CursorWrapper, "execute", _raises(OperationalError("the server closed the connection")))
        for path, query in SERVED[:3]:
            scope = _scope(path, query, bearer)
            answer = _served(hot, scope)
            assert answer[0] == 503
            assert answer == _served(chain, scope)


def _raises(error: Exception) -> Any:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise error

    return failing

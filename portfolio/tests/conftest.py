"""Order-flow fixtures: prices in the real price store, and real Celery workers on the real broker."""

from __future__ import annotations

import os
import time
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from portfolio.models import Position
from pricefeed.domain import Tick, now_ms
from pricefeed.models import Symbol
from pricefeed.services import symbol_sync_from_snapshot
from tradingsite.testing.processes import VENV_BIN, Process, base_env


class Prices:
    def __init__(self, redis_client):
        self.redis = redis_client

    def set(self, symbol: str, price: str, *, age_ms: int = 0) -> None:
        at = now_ms() - age_ms
        self.redis.set(f"price:{symbol}", Tick(symbol, Decimal(price), at, at).to_json(), ex=60)


@pytest.fixture
def prices(redis_client) -> Prices:
    return Prices(redis_client)


@pytest.fixture
def symbols(transactional_db):
    symbol_sync_from_snapshot()


class Workers:
    """Celery worker processes against the test database and the session's broker."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.running: list[Process] = []

    def start(self, name: str = "w1", concurrency: int = 2, beat: bool = False) -> Process:
        command = [
            f"{VENV_BIN}/celery", "--app", "tradingsite", "worker", "--loglevel", "INFO",
            "--concurrency", str(concurrency), "--prefetch-multiplier", "1", "--hostname", f"{name}@%h",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        if beat:
            command += ["--beat", "--schedule", os.path.join(self.env["VAR_DIR"], f"beat-{name}")]
        worker = Process(command, env=self.env)
        worker.wait_for_line("ready.", 60)
        self.running.append(worker)
        return worker

    def stop_all(self) -> None:
        while self.running:
            self.running.pop().stop()


@pytest.fixture
def workers(transactional_db, tmp_path):
    from django.db import connection

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env = base_env(
        PATH=f"{VENV_BIN}:{os.environ['PATH']}",
        DATABASE_URL=f"{base}/{connection.settings_dict['NAME']}",
        REDIS_URL=os.environ["REDIS_URL"],
        CELERY_BROKER_URL=os.environ["CELERY_BROKER_URL"],
        SECRET_KEY=os.environ["SECRET_KEY"],
        ALLOWED_HOSTS="testserver",
        VAR_DIR=str(tmp_path),
        DATABASE_POOL_MIN_SIZE="0",
        ORDER_REQUEUE_AFTER_SECONDS="2",
        PYTHONUNBUFFERED="1",
    )
    import redis

    with redis.Redis.from_url(env["CELERY_BROKER_URL"]) as broker:
        broker.flushdb()  # tasks queued by earlier tests that ran without a worker
    pool = Workers(env)
    yield pool
    pool.stop_all()


def trader(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def place(client: Client, symbol: str, side: str, quantity: str, client_order_id: str | None = None):
    body = {"symbol": symbol, "side": side, "quantity": quantity}
    if client_order_id:
        body["client_order_id"] = client_order_id
    return client.post("/api/v1/orders", body, content_type="application/json")


def wait_final(client: Client, order_id: int, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order = client.get(f"/api/v1/orders/{order_id}").json()
        if order["status"] != "pending":
            return order
        time.sleep(0.05)
    raise AssertionError(f"order {order_id} still pending after {timeout}s")


def streamed(response) -> bytes:
    """The body of a streaming response whose content is an async iterator, read from a sync test."""
    from asgiref.sync import async_to_sync

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)()


def open_position(user, symbol: str, quantity: str, price: str) -> None:
    """An open position at an average entry of `price`, written directly (no fill, no trade)."""
    Position.objects.create(
        user=user,
        symbol=Symbol.objects.get(pk=symbol),
        quantity=Decimal(quantity),
        cost_basis=Decimal(quantity) * Decimal(price),
        avg_entry_price=Decimal(price),
        opened_at=timezone.now(),
    )

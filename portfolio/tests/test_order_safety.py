"""Orders are never lost, never doubled: idempotent client ids, a worker killed mid-flight, two
workers on one user's symbol."""

import signal
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connections

from portfolio.models import Account, Order, Position, Trade
from portfolio.tests.conftest import place, trader, wait_final

pytestmark = [pytest.mark.integration]


def test_the_same_client_order_id_and_body_give_one_order_and_identical_answers(symbols, workers, prices, owner):
    workers.start()
    prices.set("BTCUSDT", "60000")
    client = trader(owner)
    first = place(client, "BTCUSDT", "buy", "0.01", "my-order-1")
    assert first.status_code == 202
    wait_final(client, first.json()["id"])
    answers = [place(client, "BTCUSDT", "buy", "0.01", "my-order-1") for _ in range(49)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1
    assert Trade.objects.count() == 1
    by_id = client.get("/api/v1/orders/by-client-id/my-order-1")
    assert by_id.json() == answers[0].json()

    different = place(client, "BTCUSDT", "buy", "0.02", "my-order-1")
    assert different.status_code == 422
    assert different.json()["error"]["code"] == "client_order_id_conflict"
    assert Order.objects.count() == 1


def test_concurrent_duplicates_make_exactly_one_order(symbols, prices, owner):
    prices.set("BTCUSDT", "60000")
    statuses: list[int] = []
    start = threading.Barrier(20, timeout=30)
    clients = [trader(owner) for _ in range(20)]  # logged in here: the threads only send

    def send(client) -> None:
        start.wait()
        statuses.append(place(client, "BTCUSDT", "sell", "0.01", "same-id").status_code)
        connections.close_all()

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(statuses) == Counter({202: 1, 200: 19})
    assert Order.objects.filter(client_order_id="same-id").count() == 1


def test_a_worker_killed_mid_flight_loses_and_doubles_nothing(symbols, workers, prices, owner, other_user):
    first = workers.start("victim", concurrency=2)
    prices.set("BTCUSDT", "60000")
    prices.set("ETHUSDT", "3000")
    clients = {owner.pk: trader(owner), other_user.pk: trader(other_user)}
    accepted = []
    for n in range(200):
        user = owner if n % 2 else other_user
        symbol, quantity = ("BTCUSDT", "0.001") if n % 3 else ("ETHUSDT", "0.01")
        response = place(clients[user.pk], symbol, "buy" if n % 5 else "sell", quantity, f"o-{n}")
        assert response.status_code == 202, response.content
        accepted.append(response.json()["id"])
        if n == 60:
            first.stop(signal.SIGKILL)  # mid-flight: tasks taken, tasks queued, tasks still coming
    assert Order.objects.filter(status="pending").exists()
    workers.start("rescuer", concurrency=2, beat=True)  # beat requeues what the dead worker held
    deadline = time.monotonic() + 90
    while Order.objects.filter(status="pending").exists():
        assert time.monotonic() < deadline, f"{Order.objects.filter(status='pending').count()} still pending"
        time.sleep(0.5)

    orders = Order.objects.filter(pk__in=accepted)
    assert orders.count() == 200
    assert set(orders.values_list("status", flat=True)) <= {"filled", "rejected"}
    assert all(o.reject_reason for o in orders.filter(status="rejected"))
    per_order = Counter(Trade.objects.values_list("order_id", flat=True))
    for order in orders:
        expected = 0 if order.status == "rejected" else 1 if per_order[order.pk] == 1 else 2
        assert per_order[order.pk] == expected, order  # exactly once (2 only for a zero crossing)
    assert_books_match_trades()


def test_two_workers_on_one_users_symbol_never_lose_an_update(symbols, workers, prices, owner):
    workers.start("w1", concurrency=2)
    workers.start("w2", concurrency=2)
    prices.set("ETHUSDT", "3000")
    client = trader(owner)
    ids = []
    for n in range(120):
        response = place(client, "ETHUSDT", "buy" if n % 3 else "sell", "0.05", f"c-{n}")
        assert response.status_code == 202
        ids.append(response.json()["id"])
    for order_id in ids:
        assert wait_final(client, order_id, timeout=60)["status"] == "filled"
    assert_books_match_trades()
    position = Position.objects.get(user=owner, status="open")
    assert position.quantity == Decimal("0.05") * (80 - 40)


def assert_books_match_trades() -> None:
    """Every position and every cash balance equals what its trades say, to the last digit."""
    for position in Position.objects.all():
        trades = Trade.objects.filter(position=position)
        signed = sum((t.quantity if t.side == "buy" else -t.quantity for t in trades), Decimal(0))
        assert position.quantity == signed, position
        fees = sum((t.fee for t in trades), Decimal(0))
        assert position.fees_paid == fees
    for account in Account.objects.all():
        flows = sum(
            (
                (-t.quantity * t.price if t.side == "buy" else t.quantity * t.price) - t.fee
                for t in Trade.objects.filter(user_id=account.user_id)
            ),
            Decimal(0),
        )
        assert account.cash == Decimal("100000") + flows


def test_pending_orders_count_against_buying_power_at_acceptance(symbols, prices, owner):
    """30 concurrent buys that together need three times the cash: only what the cash can carry is
    accepted, counting the orders accepted before it under the same row lock (as Alpaca does)."""
    prices.set("BTCUSDT", "60000")
    statuses: list[int] = []
    codes: list[str] = []
    start = threading.Barrier(30, timeout=30)
    clients = [trader(owner) for _ in range(30)]

    def send(client) -> None:
        start.wait()
        response = place(client, "BTCUSDT", "buy", "0.16")  # 9,600 + 9.6 fee of the 100,000 cash
        statuses.append(response.status_code)
        if response.status_code != 202:
            codes.append(response.json()["error"]["code"])
        connections.close_all()

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(statuses) == Counter({202: 10, 422: 20})  # 10 × 9,609.6 ≤ 100,000 < 11 × 9,609.6
    assert set(codes) == {"insufficient_buying_power"}
    assert Order.objects.filter(status="pending").count() == 10


def test_a_pending_sell_frees_buying_power_only_once(symbols, prices, owner):
    """A pending order that reduces a position counts as filled; a second one beyond the position adds
    exposure on the other side and needs the buying power for it."""
    prices.set("BTCUSDT", "60000")
    Account.objects.create(user=owner, cash=Decimal("1000"), quote_asset="USDT")
    client = trader(owner)
    from portfolio.tests.conftest import open_position

    open_position(owner, "BTCUSDT", "1", "60000")  # worth 60,000 on 1,000 of cash: equity 61,000
    assert place(client, "BTCUSDT", "sell", "1").status_code == 202  # a reduce: always
    second = place(client, "BTCUSDT", "sell", "1.1")  # after the first, a 66,000 short on 61,000 equity
    assert second.json()["error"]["code"] == "insufficient_buying_power"
    assert place(client, "BTCUSDT", "sell", "0.9").status_code == 202  # a 54,000 short fits

"""The realized-gains report (the tax view): lots replayed from the trades, by method, per year."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from itertools import count

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfolio.domain.fills import Book, Side, apply_fill
from portfolio.domain.lots import Fill, Method, replay
from portfolio.models import Order, Position, Trade
from portfolio.tests.conftest import streamed

pytestmark = [pytest.mark.integration]

D0 = datetime(2025, 6, 1, 12, tzinfo=UTC)
_ids = count(1)


class History:
    """Fills written as trades (through the accounting rules, with their dates), as the worker would."""

    def __init__(self, user, fee_rate: str = "0"):
        self.user, self.fee_rate = user, D(fee_rate)
        self.books: dict[str, tuple[Book, Position | None]] = {}

    def fill(self, symbol: str, side: str, quantity: str, price: str, at: datetime) -> None:
        book, position = self.books.get(symbol, (Book(), None))
        outcome = apply_fill(book, Side(side), D(quantity), D(price), self.fee_rate)
        order = Order.objects.create(
            user=self.user, client_order_id=f"r{next(_ids)}", symbol_id=symbol, side=side, quantity=D(quantity),
            price=D(price), price_ts=1, fee_rate=self.fee_rate, status="filled",
        )  # fmt: skip
        targets = []
        if outcome.closed is not None:
            assert position is not None
            position.quantity, position.cost_basis, position.status = D(0), D(0), "closed"
            position.save()
            targets.append(position)
            position = None
        if not outcome.book.is_flat:
            position = position or Position(user=self.user, symbol_id=symbol, opened_at=at)
            position.quantity, position.cost_basis = outcome.book.quantity, outcome.book.cost_basis
            position.avg_entry_price = outcome.book.avg_entry_price
            position.save()
            targets.append(position)
        for part, target in zip(outcome.parts, targets, strict=True):
            Trade.objects.create(
                user=self.user, order=order, position=target, symbol_id=symbol, side=part.side.value,
                quantity=part.quantity, price=part.price, fee=part.fee, fee_currency="USDT",
                realized_pnl_gross=part.realized_pnl_gross, realized_pnl_net=part.realized_pnl_net, executed_at=at,
            )  # fmt: skip
        self.books[symbol] = (outcome.book, position)


def report(client: Client, year: int, method: str | None = None) -> dict:
    query = {"year": year} | ({"method": method} if method else {})
    response = client.get("/api/v1/reports/realized", query)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def client(symbols, owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def test_the_worked_example_by_every_method(client, owner):
    history = History(owner)
    for n, (side, quantity, price) in enumerate(
        [("buy", "0.5", "60000"), ("buy", "0.3", "62000"), ("sell", "0.2", "65000"), ("buy", "0.1", "63000")]
    ):
        history.fill("BTCUSDT", side, quantity, price, D0 + timedelta(days=n))
    gains = {m: report(client, 2025, m)["totals"]["gain"] for m in ("fifo", "lifo", "hifo", "average")}
    assert gains == {"fifo": "1000", "lifo": "600", "hifo": "600", "average": "850"}
    lots = {m: [(lot["quantity"], lot["price"]) for lot in report(client, 2025, m)["open_lots"]] for m in gains}
    assert lots["fifo"] == [("0.3", "60000"), ("0.3", "62000"), ("0.1", "63000")]
    assert lots["lifo"] == lots["hifo"] == [("0.5", "60000"), ("0.1", "62000"), ("0.1", "63000")]
    assert lots["average"] == [("0.7", "61071.4285714286")]
    fifo = report(client, 2025, "fifo")
    (row,) = fifo["rows"]
    assert (row["side"], row["quantity"], row["proceeds"], row["cost_basis"], row["term"]) == (
        "long", "0.2", "13000", "12000", "short",
    )  # fmt: skip
    assert row["opened_at"] == "2025-06-01T12:00:00+00:00"
    assert row["closed_at"] == "2025-06-03T12:00:00+00:00"


def test_a_short_partly_covered_then_covered(client, owner):
    history = History(owner)
    history.fill("ETHUSDT", "sell", "2", "3000", D0)  # short 2 @ 3,000
    history.fill("ETHUSDT", "buy", "0.5", "2800", D0 + timedelta(days=10))  # cover 0.5 lower: a gain
    history.fill("ETHUSDT", "buy", "1.5", "3100", D0 + timedelta(days=20))  # cover the rest higher: a loss
    body = report(client, 2025)
    assert [(r["side"], r["quantity"], r["gain"]) for r in body["rows"]] == [
        ("short", "0.5", "100"),
        ("short", "1.5", "-150"),
    ]
    first = body["rows"][0]
    assert (first["proceeds"], first["cost_basis"]) == ("1500", "1400")  # sold at 3,000, bought back at 2,800
    assert first["opened_at"].startswith("2025-06-01")
    assert first["closed_at"].startswith("2025-06-11")
    assert body["totals"]["gain"] == "-50"
    assert body["open_lots"] == []


def test_fees_enter_cost_pro_rata_and_reduce_proceeds(client, owner):
    history = History(owner, fee_rate="0.001")
    history.fill("BTCUSDT", "buy", "1", "100", D0)  # fee 0.1
    history.fill("BTCUSDT", "sell", "0.4", "110", D0 + timedelta(days=1))  # fee 0.044
    (row,) = report(client, 2025)["rows"]
    assert (row["opening_fee"], row["closing_fee"]) == ("0.04", "0.044")  # 0.4 of the lot's 0.1
    assert (row["cost_basis"], row["proceeds"], row["gain"]) == ("40.04", "43.956", "3.916")


def test_a_year_holds_what_closed_in_it_and_365_days_is_short_term(client, owner):
    history = History(owner)
    history.fill("BTCUSDT", "buy", "3", "100", datetime(2025, 3, 1, tzinfo=UTC))
    history.fill("BTCUSDT", "sell", "1", "110", datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    history.fill("BTCUSDT", "sell", "1", "120", datetime(2026, 3, 1, tzinfo=UTC))  # 365 days
    history.fill("BTCUSDT", "sell", "1", "130", datetime(2026, 3, 2, tzinfo=UTC))  # 366 days
    first, second = report(client, 2025), report(client, 2026)
    assert [r["gain"] for r in first["rows"]] == ["10"]
    assert [(r["gain"], r["term"]) for r in second["rows"]] == [("20", "short"), ("30", "long")]
    assert (second["totals"]["short_term_gain"], second["totals"]["long_term_gain"]) == ("20", "30")
    assert first["open_lots"][0]["quantity"] == "2"  # at the end of 2025, two units were still open
    assert report(client, 2024)["rows"] == []


def test_the_report_as_csv(client, owner):
    History(owner).fill("BTCUSDT", "buy", "1", "100", D0)
    History(owner).books.clear()
    response = client.get("/api/v1/reports/realized", {"year": 2025}, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    content = response.content if not response.streaming else streamed(response)
    assert content.decode().splitlines()[0] == (
        "symbol,side,quantity,opened_at,closed_at,proceeds,cost_basis,opening_fee,closing_fee,gain,term,method,lot_ids"
    )


def test_nobody_reads_anothers_report_and_bad_parameters_are_400(client, owner, other_user):
    history = History(owner)
    history.fill("BTCUSDT", "buy", "1", "100", D0)
    history.fill("BTCUSDT", "sell", "1", "110", D0 + timedelta(days=1))
    intruder = Client()
    intruder.force_login(other_user)
    assert report(intruder, 2025)["rows"] == []
    assert Client().get("/api/v1/reports/realized", {"year": 2025}).status_code == 401
    for query, code in [
        ({"year": "0"}, "year_invalid"),
        ({"year": "20x5"}, "year_invalid"),
        ({}, "year_invalid"),
        ({"year": "2025", "method": "lifo-ish"}, "method_invalid"),
    ]:
        response = client.get("/api/v1/reports/realized", query)
        assert (response.status_code, response.json()["error"]["code"]) == (400, code)


def test_the_accounts_preferred_method_is_the_default(client, owner):
    history = History(owner)
    for n, (side, quantity, price) in enumerate([("buy", "1", "100"), ("buy", "1", "120"), ("sell", "1", "130")]):
        history.fill("BTCUSDT", side, quantity, price, D0 + timedelta(days=n))
    assert report(client, 2025)["method"] == "fifo"
    response = client.patch("/api/v1/account", {"cost_basis_method": "hifo"}, content_type="application/json")
    assert (response.status_code, response.json()["cost_basis_method"]) == (200, "hifo")
    assert (report(client, 2025)["method"], report(client, 2025)["totals"]["gain"]) == ("hifo", "10")
    bad = client.patch("/api/v1/account", {"cost_basis_method": "magic"}, content_type="application/json")
    assert bad.status_code == 400


fills_strategy = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.decimals(min_value=D("0.01"), max_value=D("5"), places=2),
        st.decimals(min_value=D("1"), max_value=D("1000"), places=2),
    ),
    min_size=1,
    max_size=25,
)


@pytest.mark.unit
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=fills_strategy, fee_rate=st.sampled_from([D(0), D("0.001"), D("0.00075")]))
def test_average_gains_reconcile_with_the_position_view(sequence, fee_rate):
    """Under the average method, each closing fill's gain is the position view's gross realized PnL
    less its fee and the opening fees it consumes; once flat, every method gives the same total."""
    book, fills, position_rows = Book(), list[Fill](), []
    for n, (side, quantity, price) in enumerate(sequence):
        outcome = apply_fill(book, Side(side), quantity, price, fee_rate)
        for part in outcome.parts:
            at = D0 + timedelta(hours=n)
            fills.append(
                Fill(len(fills) + 1, "X", part.side.value, part.quantity, part.price, part.fee, at, part.closes)
            )
            if part.closes:
                position_rows.append(part)
        book = outcome.book
    average = [row for _, row in replay(fills, Method.AVERAGE)]
    assert len(average) == len(position_rows)  # one pooled lot: one row per closing fill
    for row, part in zip(average, position_rows, strict=True):
        assert part.realized_pnl_gross is not None
        assert row.gain == part.realized_pnl_gross - part.fee - row.opening_fee
    if book.is_flat:
        totals = {m: sum((r.gain for _, r in replay(fills, m)), D(0)) for m in Method}
        assert len(set(totals.values())) == 1, totals


def _worked_example(owner) -> History:
    history = History(owner)
    for n, (side, quantity, price) in enumerate(
        [("buy", "0.5", "60000"), ("buy", "0.3", "62000"), ("sell", "0.2", "65000"), ("buy", "0.1", "63000")]
    ):
        history.fill("BTCUSDT", side, quantity, price, D0 + timedelta(days=n))
    return history


def _wait_ready(client: Client, url: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(url)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 202, response.content
        time.sleep(0.1)
    raise AssertionError(f"{url} still pending after {timeout} s")


def test_a_long_history_is_built_by_a_worker_and_downloaded_when_ready(settings, workers, client, owner, other_user):
    history = _worked_example(owner)
    in_request = report(client, 2025, "lifo")
    settings.REPORT_SYNC_MAX_TRADES = 3  # the example has 4 trades: too long to compute in the request

    first = client.get("/api/v1/reports/realized", {"year": 2025, "method": "lifo"})
    assert first.status_code == 202
    job = first.json()
    assert (job["status"], job["year"], job["method"], job["trades"], job["report"]) == (
        "pending",
        2025,
        "lifo",
        4,
        None,
    )
    assert first["Location"] == job["url"] == f"/api/v1/reports/{job['id']}"
    assert int(first["Retry-After"]) >= 1
    again = client.get("/api/v1/reports/realized", {"year": 2025, "method": "lifo"})
    assert again.json()["id"] == job["id"]  # the same question while it is built: the same job

    workers.start()
    ready = _wait_ready(client, job["url"])
    assert (ready["status"], ready["report"]) == ("ready", in_request)  # what the request would have computed
    assert report(client, 2025, "lifo") == in_request  # and the same question now answers with it at once
    csv = client.get(job["url"], HTTP_ACCEPT="text/csv")
    lines = csv.content.decode().splitlines()
    assert (csv.status_code, len(lines), lines[0].split(",")[0]) == (200, 2, "symbol")
    assert lines[1].startswith("BTCUSDT,long,0.2,")
    assert ",short,lifo," in lines[1]  # then the lot ids, the opening trades

    intruder = Client()
    intruder.force_login(other_user)
    assert intruder.get(job["url"]).status_code == 404
    assert Client().get(job["url"]).status_code == 401
    assert client.get(f"/api/v1/reports/{uuid.uuid4()}").status_code == 404

    history.fill("BTCUSDT", "sell", "0.1", "64000", D0 + timedelta(days=30))  # the history moved on
    newer = client.post("/api/v1/reports/realized", {"year": 2025, "method": "lifo"}, content_type="application/json")
    assert newer.status_code == 202
    assert newer.json()["id"] != job["id"]
    rebuilt = _wait_ready(client, newer.json()["url"])["report"]
    assert (in_request["totals"]["gain"], rebuilt["totals"]["gain"]) == (
        "600",
        "700",
    )  # + the 63,000 lot sold at 64,000


def test_asking_a_worker_for_a_report_takes_the_same_parameters(client):
    for body, code in [
        ({"year": 0}, "year_invalid"),
        ({"year": True}, "year_invalid"),
        ({"year": [2025]}, "year_invalid"),
        ({"year": "2025.0"}, "year_invalid"),
        ({}, "year_invalid"),
        ({"year": 2025, "method": 7}, "method_invalid"),
        ({"year": 2025, "method": "best"}, "method_invalid"),
    ]:
        response = client.post("/api/v1/reports/realized", body, content_type="application/json")
        assert (response.status_code, response.json()["error"]["code"]) == (400, code), body
    response = client.post("/api/v1/reports/realized", [2025], content_type="application/json")
    assert response.status_code == 400

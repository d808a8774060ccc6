"""Nothing a client sends gets a 500: property-based input against every class of request that once
did (deep JSON, tampered cursors, impossible dates, NUL characters), and oversized bodies refused
before they are read."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfolio.services import order_execute
from portfolio.tests.conftest import place
from tradingsite.lib.errors import HTTP_CODES

pytestmark = [pytest.mark.integration]

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
any_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
nul_text = st.builds(lambda a, b: f"{a}\x00{b}", any_text, any_text)


@pytest.fixture
def client(symbols, prices, owner) -> Client:
    prices.set("BTCUSDT", "60000")
    client = Client()
    client.force_login(owner)
    for n in range(3):  # orders and trades, so that cursors have pages to point into
        order = place(client, "BTCUSDT", "buy", "0.001", f"seed-{n}").json()
        order_execute(order_id=order["id"])
    return client


def assert_refused_cleanly(response, *statuses: int) -> dict | None:
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        body = response.json()
        assert body["error"]["code"] in HTTP_CODES
        assert HTTP_CODES[body["error"]["code"]].status == response.status_code
        if statuses:
            assert response.status_code in statuses, body
        return body
    return None


def nested(depth: int, kind: str) -> bytes:
    opening, closing = ("[", "]") if kind == "list" else ('{"a":', "}")
    return (opening * depth + "1" + closing * depth).encode()


@FUZZ
@given(depth=st.integers(min_value=500, max_value=20_000), kind=st.sampled_from(["list", "object"]))
def test_json_nested_deeper_than_the_decoder_is_a_400(client, depth, kind):
    for path in ("/api/v1/orders", "/api/v1/auth/login", "/api/v1/auth/register"):
        who = client if path == "/api/v1/orders" else Client()
        response = who.generic("POST", path, nested(depth, kind), content_type="application/json")
        body = assert_refused_cleanly(response, 400)
        assert body is not None
        assert body["error"]["code"] in ("malformed_request", "invalid_input")


def _cursor(offset: str, reverse: str, position: str | None) -> str:
    tokens = {"o": offset, "r": reverse} | ({"p": position} if position is not None else {})
    return base64.b64encode(urlencode(tokens).encode()).decode()


offsets = st.one_of(st.integers(-(10**30), 10**30).map(str), any_text, st.just("9" * 5000))
positions = st.one_of(st.none(), any_text, nul_text, st.datetimes().map(str), st.just("2026-02-30 00:00:00+00:00"))
cursors = st.one_of(st.builds(_cursor, offsets, st.sampled_from(["0", "1", "2", "x"]), positions), any_text, nul_text)


@FUZZ
@given(cursor=cursors)
def test_a_tampered_cursor_is_a_400_never_a_500(client, cursor):
    for path in ("/api/v1/orders", "/api/v1/trades"):
        response = client.get(path, {"cursor": cursor})
        body = assert_refused_cleanly(response, 400)
        if body is not None and "\x00" not in cursor:
            assert body["error"]["code"] == "cursor_invalid"


def test_a_real_cursor_still_pages(client):
    first = client.get("/api/v1/trades", {"limit": 2}).json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == 2
    assert len(second["results"]) == 1


zones = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
edge_times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59), timezones=zones)
dates = st.one_of(
    edge_times.map(lambda d: d.isoformat()),
    st.builds("{}-{:02d}-{:02d}T00:00:00Z".format, st.integers(0, 10000), st.integers(0, 13), st.integers(0, 32)),
    st.just("9999-12-31T23:59:59-23:59"),
    st.just("0001-01-01T00:00:00+23:59"),
    any_text,
)


@FUZZ
@given(start=dates, end=dates)
def test_any_date_in_trade_filters_is_a_result_or_a_400(client, start, end):
    for query in ({"from": start}, {"to": end}, {"from": start, "to": end}):
        response = client.get("/api/v1/trades", query)
        assert_refused_cleanly(response, 400)
        csv = client.get("/api/v1/trades", query, HTTP_ACCEPT="text/csv")
        assert csv.status_code < 500


@FUZZ
@given(value=st.one_of(nul_text, any_text))
def test_nul_or_any_text_in_query_and_path_parameters_is_never_a_500(client, value):
    requests = [
        ("get", "/api/v1/orders", {"status": value}),
        ("get", "/api/v1/orders", {"symbol": value}),
        ("get", "/api/v1/trades", {"symbol": value}),
        ("get", "/api/v1/positions", {"status": value}),
        ("get", "/api/v1/prices", {"symbols": value}),
        ("get", "/api/v1/symbols", {"status": value}),
        ("get", f"/api/v1/orders/by-client-id/{quote(value, safe='')}", {}),
        ("get", f"/api/v1/positions/{quote(value, safe='')}", {}),
        ("delete", f"/api/v1/positions/{quote(value, safe='')}", {}),
        ("delete", "/api/v1/positions/BTCUSDT", {"quantity": value}),
        ("delete", "/api/v1/positions/BTCUSDT", {"percentage": value}),
    ]
    for method, path, query in requests:
        url = f"{path}?{urlencode(query)}" if query else path
        response = getattr(client, method)(url)
        if response.status_code == 404 and not response.get("content-type", "").startswith("application/json"):
            continue  # a path Django's router does not match (a '/' inside the value): its own 404 page
        body = assert_refused_cleanly(response)
        if "\x00" in value:
            assert body is not None
            assert response.status_code == 400


@FUZZ
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.floats() | any_text | st.integers(),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(any_text, c, max_size=3),
        max_leaves=10,
    )
)
def test_any_json_value_as_an_order_or_a_login_is_never_a_500(client, body):
    response = client.post("/api/v1/orders", body, content_type="application/json")
    assert_refused_cleanly(response)
    for field in ("symbol", "side", "quantity", "client_order_id"):
        order = {"symbol": "BTCUSDT", "side": "buy", "quantity": "0.001", field: body}
        assert_refused_cleanly(client.post("/api/v1/orders", order, content_type="application/json"))
    login = Client().post("/api/v1/auth/login", {"username": body, "password": body}, content_type="application/json")
    assert_refused_cleanly(login)


def test_dates_out_of_range_name_the_field(client):
    for raw in ("2026-02-30T00:00:00Z", "9999-12-31T23:59:59-23:59", "2026-01-01T00:00:00"):
        body = client.get("/api/v1/trades", {"from": raw}).json()
        assert body["error"]["code"] == "invalid_input"
        assert "from" in body["error"]["details"]
    assert client.get("/api/v1/trades", {"from": "2026-01-01T00:00:00+01:00"}).status_code == 200

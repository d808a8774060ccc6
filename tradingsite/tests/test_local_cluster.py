"""The multi-instance topology (deploy/local-cluster), started for real on this machine: nginx, two
instances of each web pool, feeder, worker, beat, PostgreSQL primary + streaming replica, Redis in
two roles. Clients speak to nginx, or to one instance directly where the test must know which."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect

from deploy.cluster import Cluster, free_base_port

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

SYMBOL = "BTCUSDT"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    folder = Path(tempfile.mkdtemp(prefix="tradingsite-cluster-"))
    folder.chmod(0o755)  # PostgreSQL runs as its own user (as root: postgres) and must reach its folder
    # Every client of these tests is on this machine: no per-address cap at nginx (its own test below).
    running = Cluster(folder, free_base_port(), per_address=0)
    try:
        running.up(timeout=120)
        yield running
    finally:
        running.down(purge=True)


DEMO = {"username": "demo", "password": "demo-trader"}  # made by `manage.py demo --setup-only` in `up`


def login(base: str) -> str:
    response = httpx.post(f"{base}/api/v1/auth/login", json=DEMO)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def instance(cluster: Cluster, name: str) -> str:
    return f"http://127.0.0.1:{cluster.ports[name]}"


def table_stats(url: str, table: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0), n_tup_ins FROM pg_stat_user_tables "
            "WHERE relname = %s",
            (table,),
        ).fetchone()
    assert row is not None
    return {"scans": int(row[0]), "inserts": int(row[1])}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def scrape(base: str) -> dict[str, float]:
    values = {}
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


async def next_frame(ws, kind: str, within: float = 15) -> dict:
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


def place(base: str, token: str, quantity: str, side: str = "buy") -> dict:
    response = httpx.post(
        f"{base}/api/v1/orders",
        json={"symbol": SYMBOL, "side": side, "quantity": quantity},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, response.text
    return response.json()


def final(base: str, token: str, order_id: int) -> dict:
    def done() -> dict | None:
        order = httpx.get(f"{base}/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {token}"}).json()
        return order if order["status"] != "pending" else None

    return wait_for(done, 20, f"order {order_id} final")


def test_a_socket_on_instance_a_gets_the_fill_of_an_order_placed_through_b_and_history_reads_the_replica(
    cluster: Cluster,
):
    token = login(cluster.url)  # through nginx
    bearer = {"Authorization": f"Bearer {token}"}
    primary, replica = cluster.database_url("primary"), cluster.database_url("replica")
    orders_before = table_stats(primary, "portfolio_order")
    before = scrape(cluster.url)
    push_before = scrape(instance(cluster, "ws-1"))

    async def scenario() -> tuple[dict, dict]:
        ws_a = f"ws://127.0.0.1:{cluster.ports['ws-1']}/ws/v1/portfolio"
        async with connect(ws_a, additional_headers=bearer, compression=None) as ws:
            await next_frame(ws, "snapshot")
            placed = await asyncio.to_thread(place, instance(cluster, "http-2"), token, "0.001")
            while True:
                frame = await next_frame(ws, "order")
                if frame["order"]["id"] == placed["id"] and frame["order"]["status"] == "filled":
                    return placed, frame

    _, frame = asyncio.run(scenario())
    assert frame["order"]["quantity"] == "0.001"

    # the order's write went to the primary; the replica never takes writes. (A server's table
    # statistics reach pg_stat_user_tables when the connection that did the work goes idle: up to
    # 10 s later for a pooled connection.)
    wait_for(lambda: table_stats(primary, "portfolio_order")["inserts"] > orders_before["inserts"], 15, "insert")
    assert table_stats(replica, "portfolio_order")["inserts"] == 0
    # trade history and its CSV export are read on the replica
    trades_before = table_stats(replica, "portfolio_trade")["scans"]
    page = httpx.get(f"{cluster.url}/api/v1/trades", headers=bearer)
    assert page.status_code == 200
    assert page.json()["results"]
    csv = httpx.get(f"{cluster.url}/api/v1/trades", headers={**bearer, "Accept": "text/csv"})
    assert csv.status_code == 200
    assert csv.text.count("\n") >= 2
    wait_for(lambda: table_stats(replica, "portfolio_trade")["scans"] > trades_before, 15, "replica scans")

    # /metrics moved with the test: the cluster's order figures (any instance; here through nginx,
    # from this host) and the push of the socket's instance (scraped directly, as Prometheus does)
    after = scrape(cluster.url)
    for name in (
        'tradingsite_orders_total{event="accepted"}',
        'tradingsite_orders_total{event="filled"}',
        "tradingsite_order_fill_seconds_count",
    ):
        assert after[name] > before.get(name, 0), name
    assert after['tradingsite_feed_state{state="simulated"}'] == 1
    assert after["tradingsite_orders_pending"] == 0
    push_after = wait_for(lambda: (m := scrape(instance(cluster, "ws-1")))["tradingsite_push_frames_total"] > 0 and m,
                          5, "push figures")  # fmt: skip
    for name in ("tradingsite_push_frames_total", "tradingsite_price_batches_total"):
        assert push_after[name] > push_before.get(name, 0), name
    assert push_after["tradingsite_push_latency_seconds_count"] > 0

    # one request id from nginx through the web instance into the worker's log
    rid = httpx.post(
        f"{cluster.url}/api/v1/orders",
        json={"symbol": SYMBOL, "side": "sell", "quantity": "0.001"},
        headers=bearer,
    ).headers["X-Request-ID"]
    assert len(rid) == 32  # nginx's $request_id

    def in_worker_log() -> bool:
        lines = cluster.log("worker").read_text().splitlines()
        return any(json.loads(line).get("request_id") == rid for line in lines if line.startswith("{"))

    wait_for(in_worker_log, 15, f"request {rid} in the worker's log")


def test_killing_instance_a_moves_its_clients_to_b_through_nginx_and_they_miss_no_fill(cluster: Cluster):
    token = login(cluster.url)
    bearer = {"Authorization": f"Bearer {token}"}
    url = f"ws://127.0.0.1:{cluster.port}/ws/v1/portfolio"

    async def scenario() -> tuple[dict, dict, int, str]:
        # nginx deals the sockets out in turn: of two, one lands on each instance
        async with (
            connect(url, additional_headers=bearer, compression=None) as one,
            connect(url, additional_headers=bearer, compression=None) as two,
        ):
            await next_frame(one, "snapshot")
            await next_frame(two, "snapshot")
            held_before = await asyncio.to_thread(position_quantity, cluster.url, token)
            cluster.stop("ws-1", signal.SIGKILL)
            closed = 0
            for ws in (one, two):
                try:
                    await next_frame(ws, "never", within=3)
                except TimeoutError:
                    continue  # still open: it was on B
                except Exception:
                    closed += 1
            # a fill while the client of A is away
            placed = await asyncio.to_thread(place, cluster.url, token, "0.002")
            filled = await asyncio.to_thread(final, cluster.url, token, placed["id"])
        # the client of A reconnects through nginx: B takes it and sends the numbers as they are now
        async with connect(url, additional_headers=bearer, compression=None) as again:
            snapshot = await next_frame(again, "snapshot")
        return filled, snapshot, closed, held_before

    try:
        filled, snapshot, closed, held_before = asyncio.run(scenario())
    finally:
        cluster.start("ws-1")
    assert closed == 1  # exactly the socket that was on A
    assert filled["status"] == "filled"
    assert snapshot["seq"] == 1  # a new connection's sequence starts over with its snapshot
    held = next(p for p in snapshot["positions"] if p["symbol"] == SYMBOL)
    from decimal import Decimal

    assert Decimal(held["quantity"]) == Decimal(held_before) + Decimal("0.002")
    assert Decimal(position_quantity(cluster.url, token)) == Decimal(held["quantity"])  # REST agrees


def position_quantity(base: str, token: str) -> str:
    response = httpx.get(f"{base}/api/v1/positions/{SYMBOL}", headers={"Authorization": f"Bearer {token}"})
    return str(response.json()["quantity"]) if response.status_code == 200 else "0"


@pytest.mark.parametrize("dependency", ["redis-state", "postgres-primary"])
def test_readyz_is_503_within_5_s_of_a_dependency_going_away_and_200_after_it_returns(
    cluster: Cluster, dependency: str
):
    assert httpx.get(f"{cluster.url}/readyz", timeout=5).status_code == 200
    bearer = {"Authorization": f"Bearer {login(cluster.url)}"}
    went = time.monotonic()
    if dependency == "redis-state":
        cluster.stop("redis-state", signal.SIGKILL)
    else:
        cluster.stop("postgres-primary", signal.SIGQUIT)  # PostgreSQL's "immediate" shutdown
    worst = 0.0

    def status() -> int:
        nonlocal worst
        asked = time.monotonic()
        code = httpx.get(f"{cluster.url}/readyz", timeout=10).status_code
        worst = max(worst, time.monotonic() - asked)
        return code

    wait_for(lambda: status() == 503, 5, "503")
    unavailable_after = time.monotonic() - went
    # the API meanwhile: 503 with a JSON error and Retry-After, never a 500, never a hang
    asked = time.monotonic()
    during = httpx.get(f"{cluster.url}/api/v1/portfolio", headers=bearer, timeout=30)
    answered_in = time.monotonic() - asked
    assert during.status_code == 503, during.text
    assert during.json()["error"]["code"] in ("service_unavailable", "overloaded")
    assert during.headers["Retry-After"]
    back = time.monotonic()
    cluster.restart_dependency(dependency)
    wait_for(lambda: status() == 200, 15, "200 again")
    # the session made before the outage still works: Redis keeps it on disk (append-only file)
    portfolio = f"{cluster.url}/api/v1/portfolio"
    again = wait_for(lambda: (r := httpx.get(portfolio, headers=bearer)).status_code != 503 and r, 15, "API back")
    assert again.status_code == 200, again.text
    returned = time.monotonic() - back
    print(f"{dependency}: 503 after {unavailable_after:.2f} s, 200 {returned:.2f} s after, slowest probe {worst:.2f} s;"
          f" an API request meanwhile answered 503 in {answered_in:.2f} s")  # fmt: skip
    assert unavailable_after <= 5
    assert worst <= 1.5  # /readyz itself never hangs


def test_sigterm_on_instance_a_closes_its_sockets_with_1012_and_they_reconnect_to_b(cluster: Cluster):
    """A rolling restart: instance A told to stop (SIGTERM) closes each socket with 1012 ("service
    restart"); every client reconnects through nginx, lands on B and gets a fresh snapshot.
    `CLUSTER_SOCKETS` sockets (200 here; the fault suite runs 2,000), 5 per user (the per-user cap)."""
    count = int(os.environ.get("CLUSTER_SOCKETS", "200"))
    users = [f"restart{i}" for i in range(-(-count // 5))]
    tokens = []
    for name in users:
        made = httpx.post(
            f"{cluster.url}/api/v1/auth/register", json={"username": name, "password": "Kx9-vortex-harbor-27"}
        )
        assert made.status_code == 201, made.text
        tokens.append(made.json()["token"])
    url = f"ws://127.0.0.1:{cluster.port}/ws/v1/portfolio"
    started = 0.0

    back_after: list[float] = []  # SIGTERM → the fresh snapshot, per client of A

    async def scenario() -> tuple[list[int | None], int, float]:
        async def one(token: str, opened: asyncio.Event, go: asyncio.Event) -> int | None:
            headers = {"Authorization": f"Bearer {token}"}
            async with connect(url, additional_headers=headers, compression=None, open_timeout=30) as ws:
                await next_frame(ws, "snapshot", within=60)
                opened.set()
                await go.wait()
                try:
                    await next_frame(ws, "never", within=8)
                except TimeoutError:
                    return None  # still open: it was on B
                except Exception:
                    code = ws.close_code
            async with connect(url, additional_headers=headers, compression=None, open_timeout=30) as again:
                await next_frame(again, "snapshot", within=30)
                back_after.append(time.monotonic() - started)
            return code

        nonlocal started
        go = asyncio.Event()
        events = [asyncio.Event() for _ in range(count)]
        tasks = [asyncio.create_task(one(tokens[i // 5], events[i], go)) for i in range(count)]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 120)
        started = time.monotonic()
        cluster.stop("ws-1", signal.SIGTERM)
        go.set()
        codes = await asyncio.wait_for(asyncio.gather(*tasks), 120)
        return codes, count, time.monotonic() - started

    try:
        codes, count, took = asyncio.run(scenario())
    finally:
        cluster.start("ws-1")
    closed = [c for c in codes if c is not None]
    back_after.sort()
    print(
        f"{count} sockets: {len(closed)} closed by A's SIGTERM, each back through nginx on B with a snapshot"
        f" within {back_after[len(back_after) // 2]:.2f} s (median) / {back_after[-1]:.2f} s (last); run {took:.1f} s"
    )
    assert count * 0.3 <= len(closed) <= count * 0.7  # nginx dealt them out in turn
    assert set(closed) == {1012}  # "service restart": clients know to reconnect


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_worker_that_dies_unasked_is_started_again_and_fills_the_next_order(cluster: Cluster):
    """The worker's own process killed (a crash, not `down`): its supervisor starts it again, as
    compose's `restart: unless-stopped` would, and an order placed meanwhile is filled."""
    token = login(cluster.url)
    before = cluster.restarts()["worker"]
    (celery,) = _children(cluster.pids["worker"])
    os.kill(celery, signal.SIGKILL)
    placed = place(cluster.url, token, "0.001")
    wait_for(lambda: cluster.restarts()["worker"] == before + 1, 10, "the worker's restart logged")
    filled = final(cluster.url, token, placed["id"])
    assert filled["status"] == "filled"
    assert cluster.running()["worker"]
    assert "supervise: worker exited (signal 9)" in cluster.log("worker").read_text()


def test_the_pages_open_their_live_socket_on_the_stream_front(cluster: Cluster, chromium):
    """Two fronts, each an nginx of its own: the pages come from the API front and open their live
    socket on the stream front (STREAM_URL, here ":port" on the page's host), so the frames that one
    relays never hold up a request in the other's event loop. In Chromium, as a trader would."""
    logs = cluster.folder / "logs"
    stream = f":{cluster.ports['stream']}"

    def socket_lines(front: str) -> int:
        path = logs / f"{front}-access.log"
        return sum('"GET /ws/v1/portfolio ' in line for line in path.read_text().splitlines()) if path.exists() else 0

    before = {front: socket_lines(front) for front in ("nginx", "stream")}
    page = chromium.new_page()
    try:
        page.goto(cluster.url + "/accounts/login/")
        assert page.locator('meta[name="stream-url"]').get_attribute("content") == stream
        page.fill("input[name=username]", DEMO["username"])
        page.fill("input[name=password]", DEMO["password"])
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/$"))
        page.wait_for_function(
            "() => /connected|prices/.test(document.querySelector('#conn').textContent)", timeout=15_000
        )
    finally:
        page.close()  # nginx logs an upgraded request when it ends
    wait_for(lambda: socket_lines("stream") > before["stream"], 10, "the socket in the stream front's log")
    assert socket_lines("nginx") == before["nginx"]  # none through the API front
    line = [line for line in (logs / "stream-access.log").read_text().splitlines() if "/ws/v1/portfolio" in line][-1]
    assert '" 101 ' in line, line

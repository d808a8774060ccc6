"""The REST API at the design load: mixed open-loop traffic against the Procfile's HTTP pool, with the
Celery worker filling every order, and the CSV export of a long history.

    .venv/bin/python -m bench.rest [--orders-rate 50] [--reads-rate 350] [--seconds 30] [--warmup 5]
                                   [--web-workers 2] [--trades 1000] [--csv-rows 100000]
                                   [--cpu-per-endpoint] [--setting NAME=VALUE]

1. Starts its own PostgreSQL and Redis (or uses DATABASE_URL / REDIS_URL), a fresh database, the
   HTTP pool (`--web-workers` processes), a Celery worker (2 processes) and the simulated feeder.
2. Seeds `--users` traders and one reader holding 50 open positions and `--trades` trades.
3. After `--warmup` seconds of the same load (not measured: a cold pool opens its connections), an
   open loop for `--seconds`: `--orders-rate` POST /orders a second (rotating traders) and
   `--reads-rate` reads a second, half GET /portfolio and half GET /trades (a page of 100) of the
   reader; each request timed from its scheduled start (a slow server is not hidden by a waiting
   client). Reports per endpoint: rate, p50 / p99 / max, errors, timeouts; CPU per process; each
   second's p99 (a few bad seconds, or all along?).
4. `--cpu-per-endpoint`: then each endpoint alone at 50/s for 10 s: the HTTP pool's CPU per request.
5. `--csv-rows N`: a user with N trades downloads GET /trades as CSV: rows/s and the HTTP pool's
   RSS growth while it streams.
Writes bench/results/rest-<timestamp>.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import generator_collections_paused, percentile, servers, write_results
from bench.live import Sampler, proc_cpu_rss, tree
from tradingsite.testing.processes import ROOT, Process, fresh_database, procfile_command, production_env
from tradingsite.testing.servers import free_port, wait_for_port

PASSWORD = "bench-rest-password"
TIMEOUT = 10.0

SEED = r"""
import json
import sys
from datetime import timedelta
from decimal import Decimal
from django.db import connection
from django.utils import timezone
from accounts.models import User
from portfolio.models import Account, Order, Position
from pricefeed.models import Symbol
from pricefeed.services import symbol_sync_from_snapshot

symbol_sync_from_snapshot()
extra = [Symbol(symbol=f"BENCH{i:02d}USDT", base_asset=f"BENCH{i:02d}", quote_asset="USDT", tick_size=Decimal("0.01"),
                step_size=Decimal("0.001"), min_qty=Decimal("0.001"), min_notional=Decimal("1")) for i in range(40)]
Symbol.objects.bulk_create(extra, ignore_conflicts=True)
names = sorted(Symbol.objects.filter(status="TRADING").values_list("symbol", flat=True))[:50]
users = [User.objects.create_user(username=f"rest{i}", password="{password}") for i in range({users})]
for user in users:
    Account.objects.create(user=user, cash=Decimal("100000000"), quote_asset="USDT")
now = timezone.now()

def history(user, trades):
    positions = Position.objects.bulk_create([Position(user=user, symbol_id=s, quantity=Decimal("1.5"),
        cost_basis=Decimal("150"), avg_entry_price=Decimal("100"), opened_at=now) for s in names])
    with connection.cursor() as cursor:
        with cursor.copy("COPY portfolio_order (user_id, client_order_id, symbol, side, quantity, reduce_only, status,"
                         " price, price_ts, fee_rate, reject_reason, created_at, updated_at) FROM STDIN") as copy:
            for n in range(trades):
                at = now - timedelta(seconds=n)
                copy.write_row((user.pk, f"h{n}", names[n % 50], "buy", "0.01", False, "filled", "100.5", 1, "0.001",
                                "", at, at))
        cursor.execute("SELECT id, symbol FROM portfolio_order WHERE user_id = %s ORDER BY id", [user.pk])
        orders = cursor.fetchall()
        by_symbol = {p.symbol_id: p.pk for p in positions}
        with cursor.copy("COPY portfolio_trade (user_id, order_id, position_id, symbol, side, quantity, price, fee,"
                         " fee_currency, executed_at) FROM STDIN") as copy:
            for n, (order_id, symbol) in enumerate(orders):
                copy.write_row((user.pk, order_id, by_symbol[symbol], symbol, "buy", "0.01", "100.5", "0.001005",
                                "USDT", now - timedelta(seconds=n)))

def round_trips(user, trades):
    # Trades for the realized-gains report: per symbol, 50 buys then 50 sells that close them.
    history(user, 0)
    positions = {p.symbol_id: p.pk for p in Position.objects.filter(user=user)}
    with connection.cursor() as cursor:
        with cursor.copy("COPY portfolio_order (user_id, client_order_id, symbol, side, quantity, reduce_only, status,"
                         " price, price_ts, fee_rate, reject_reason, created_at, updated_at) FROM STDIN") as copy:
            for n in range(trades):
                at = now - timedelta(days=300) + timedelta(seconds=n)
                side = "buy" if (n // 50) % 2 == 0 else "sell"
                copy.write_row((user.pk, f"t{n}", names[n % 50], side, "0.01", False, "filled", "100.5", 1, "0.001",
                                "", at, at))
        cursor.execute("SELECT id, symbol, side, created_at FROM portfolio_order WHERE user_id = %s ORDER BY id",
                       [user.pk])
        orders = cursor.fetchall()
        with cursor.copy("COPY portfolio_trade (user_id, order_id, position_id, symbol, side, quantity, price, fee,"
                         " fee_currency, realized_pnl_gross, realized_pnl_net, executed_at) FROM STDIN") as copy:
            for order_id, symbol, side, at in orders:
                gross = "0" if side == "sell" else None
                copy.write_row((user.pk, order_id, positions[symbol], symbol, side, "0.01", "100.5", "0.001005",
                                "USDT", gross, gross, at))

def fill_table(total):
    # `total` trades over 5,000 more users, written by the database itself (INSERT ... SELECT): the
    # table the readers and the order path work against, as with years of a large user base.
    if not total:
        return
    bulk = User.objects.bulk_create(User(username=f"bulk{n}", password="!") for n in range(5000))
    symbol = names[0]
    Order.objects.bulk_create(
        Order(user=u, client_order_id="bulk", symbol_id=symbol, side="buy", quantity=Decimal("0.01"),
              price=Decimal("100.5"), price_ts=1, fee_rate=Decimal("0.001"), status="filled") for u in bulk)
    Position.objects.bulk_create(
        Position(user=u, symbol_id=symbol, quantity=Decimal("1"), cost_basis=Decimal("100"),
                 avg_entry_price=Decimal("100"), opened_at=now) for u in bulk)
    per_user = total // len(bulk)
    with connection.cursor() as cursor:
        for first in range(0, per_user, 500):
            cursor.execute(
                "INSERT INTO portfolio_trade (user_id, order_id, position_id, symbol, side, quantity, price, fee,"
                " fee_currency, executed_at)"
                " SELECT o.user_id, o.id, p.id, o.symbol, 'buy', 0.01, 100.5, 0.001005, 'USDT',"
                "  now() - interval '400 days' + g * interval '1 second'"
                " FROM portfolio_order o JOIN portfolio_position p ON p.user_id = o.user_id,"
                "  generate_series(%s, %s) g WHERE o.client_order_id = 'bulk'",
                [first, min(per_user, first + 500) - 1],
            )
    with connection.cursor() as cursor:  # outside a transaction: VACUUM cannot run in one
        # The steady state of a table this size: visibility map set and statistics current, so
        # the measurement does not race autovacuum's first pass over 2.4 GB (it took a core).
        cursor.execute("VACUUM ANALYZE portfolio_trade")


fill_table({table_trades})
history(users[0], {trades})
if {report_trades}:
    reporter = User.objects.create_user(username="reporter", password="{password}")
    Account.objects.create(user=reporter, cash=Decimal("1000"), quote_asset="USDT")
    round_trips(reporter, {report_trades})
if {csv_rows}:
    exporter = User.objects.create_user(username="exporter", password="{password}")
    Account.objects.create(user=exporter, cash=Decimal("1000"), quote_asset="USDT")
    history(exporter, {csv_rows})
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")  # as autovacuum would soon: plans from the real row counts, not an empty table's
    if {table_trades}:
        # The bulk load's dirty pages written out now, not by a checkpoint during the measured run
        # (a 10 M-row load left ~2.4 GB of them: the run stalled ~300 ms twice, rest-20261205-094450).
        try:
            cursor.execute("CHECKPOINT")
        except Exception as error:  # not a superuser (DATABASE_URL given): measured as it comes
            print(f"no CHECKPOINT: {error}", file=sys.stderr)
print(json.dumps(names))
"""


class Timings:
    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.when: list[tuple[float, float]] = []  # (scheduled start, ms) of every request served

    def add(self, kind: str, ms: float, ok: bool, status: str, due: float = 0.0) -> None:
        if ok:
            self.ms.setdefault(kind, []).append(ms)
            self.when.append((due, ms))
        else:
            self.errors[f"{kind} {status}"] = self.errors.get(f"{kind} {status}", 0) + 1

    def by_second(self, over_ms: float = 30.0) -> dict[str, Any]:
        """Whether the slow requests come in a few bad seconds (a stall) or all along (saturation):
        each second's p99, and the share of requests over `over_ms` in the 5 worst seconds."""
        if not self.when:
            return {}
        start = min(due for due, _ in self.when)
        seconds: dict[int, list[float]] = {}
        for due, ms in self.when:
            seconds.setdefault(int(due - start), []).append(ms)
        p99s = sorted(((percentile(v, 99), n) for n, v in seconds.items()), reverse=True)
        slow = {n: sum(ms > over_ms for ms in v) for n, v in seconds.items()}
        worst = [n for _, n in p99s[:5]]
        total_slow = sum(slow.values())
        return {
            "seconds": len(seconds),
            "median_second_p99_ms": round(sorted(p for p, _ in p99s)[len(p99s) // 2], 1),
            "worst_seconds": [{"second": n, "p99_ms": round(p, 1), "over": slow[n]} for p, n in p99s[:5]],
            "seconds_with_p99_over": sum(p > over_ms for p, _ in p99s),
            "over_ms": over_ms,
            "requests_over": total_slow,
            "share_of_them_in_worst_5_seconds": round(sum(slow[n] for n in worst) / total_slow, 3) if total_slow else 0,
        }

    def summary(self, seconds: float) -> dict[str, Any]:
        return {
            kind: {
                "count": len(v),
                "per_second": round(len(v) / seconds, 1),
                "p50_ms": round(percentile(v, 50), 2),
                "p99_ms": round(percentile(v, 99), 2),
                "max_ms": round(max(v), 2),
            }
            for kind, v in sorted(self.ms.items())
        }


async def login(client: httpx.AsyncClient, username: str) -> str:
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    client.cookies.clear()  # scripts authenticate by bearer token only
    return str(response.json()["token"])


class Connections:
    """A minimal HTTP/1.1 keep-alive client: the load generator shares the server's two cores, and
    httpx spent ~8 ms of CPU per request here (it, not the server, set the pace). Requests are bytes
    made once; a response is read by its Content-Length."""

    def __init__(self, host: str, port: int, size: int):
        self.host, self.port, self.size = host, port, size
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self.replacing: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def request(self, raw: bytes) -> int:
        reader, writer = await self.idle.get()
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
        except BaseException:
            # A failed or timed-out (cancelled) request leaves its connection mid-response: close it and
            # open another, or each timeout would take a connection out of the pool for good and an
            # overload would turn into a generator that no longer sends.
            writer.close()
            replacing = asyncio.get_running_loop().create_task(self._replace())
            self.replacing.add(replacing)
            replacing.add_done_callback(self.replacing.discard)
            raise
        self.idle.put_nowait((reader, writer))
        return status

    async def _replace(self) -> None:
        while True:
            try:
                self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))
                return
            except OSError:
                await asyncio.sleep(0.1)


def raw_request(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def logins(base: str, users: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        return [await login(client, f"rest{i}") for i in range(users)]


async def mixed_load(
    base: str,
    tokens: list[str],
    orders_rate: float,
    reads_rate: float,
    seconds: float,
    warmup: float = 0.0,
    on_start: Callable[[], None] | None = None,
) -> Timings:
    """The open loop for `seconds`, after `warmup` seconds of the same load on the same connections
    (not measured); `on_start` is called as the measured part begins."""
    timings = Timings()
    users = len(tokens)
    host, port = base.split("//", 1)[1].split(":")
    connections = Connections(host, int(port), 100)
    await connections.open()
    orders = [
        raw_request(
            "POST",
            "/api/v1/orders",
            tokens[1 + n % (users - 1)],
            b'{"symbol":"BTCUSDT","side":"%s","quantity":"0.0001"}' % (b"buy" if n % 2 else b"sell"),
        )
        for n in range(2 * (users - 1))
    ]
    trades = raw_request("GET", "/api/v1/trades?limit=100", tokens[0])
    portfolio = raw_request("GET", "/api/v1/portfolio", tokens[0])

    async def run(record: Timings, span: float) -> None:
        async def order(n: int, due: float) -> None:
            await timed(record, "POST /orders", due, connections.request(orders[n % len(orders)]))

        async def read(n: int, due: float) -> None:
            if n % 2:
                await timed(record, "GET /trades", due, connections.request(trades))
            else:
                await timed(record, "GET /portfolio", due, connections.request(portfolio))

        await asyncio.gather(open_loop(order, orders_rate, span), open_loop(read, reads_rate, span))

    if warmup:
        await run(Timings(), warmup)
    if on_start is not None:
        on_start()
    await run(timings, seconds)
    return timings


async def timed(timings: Timings, kind: str, due: float, request: Any) -> None:
    try:
        async with asyncio.timeout(TIMEOUT):
            status = await request
        ok, label = status in (200, 202), str(status)
    except TimeoutError:
        ok, label = False, "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        ok, label = False, type(exc).__name__
    timings.add(kind, (time.perf_counter() - due) * 1000, ok, label, due)


async def open_loop(make: Any, rate: float, seconds: float) -> None:
    """Requests leave on a fixed schedule whatever the server does; latency counts from the schedule
    (no coordinated omission)."""
    if rate <= 0:
        return
    start, n, tasks = time.perf_counter(), 0, []
    while (now := time.perf_counter()) - start < seconds:
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - now))
        tasks.append(asyncio.create_task(make(n, due)))
        n += 1
    await asyncio.gather(*tasks)


def _by_second_line(seconds: dict[str, Any]) -> str:
    if not seconds:
        return ""
    worst = ", ".join(f"s {w['second']}: {w['p99_ms']} ms ({w['over']} over)" for w in seconds["worst_seconds"])
    return (
        f"Per second: median second's p99 {seconds['median_second_p99_ms']} ms; {seconds['seconds_with_p99_over']}"
        f" of {seconds['seconds']} seconds with p99 over {seconds['over_ms']:g} ms; worst: {worst}; of the"
        f" {seconds['requests_over']} requests over {seconds['over_ms']:g} ms,"
        f" {seconds['share_of_them_in_worst_5_seconds']:.0%} in those 5 seconds."
    )


def cpu_seconds(pid: int) -> float:
    return sum(proc_cpu_rss(p)[0] for p in tree(pid))


def rss_mb(pid: int) -> float:
    return sum(proc_cpu_rss(p)[1] for p in tree(pid))


def cpu_per_endpoint(base: str, tokens: list[str], web_pid: int) -> dict[str, float]:
    """Each endpoint alone at 50/s for 10 s: the HTTP pool's CPU per request, in ms."""
    result = {}
    for kind, orders, reads in (("POST /orders", 50, 0), ("reads (GET /portfolio + GET /trades)", 0, 50)):
        before = cpu_seconds(web_pid)
        timings = asyncio.run(mixed_load(base, tokens, orders, reads, 10))
        spent = cpu_seconds(web_pid) - before
        done = sum(len(v) for v in timings.ms.values())
        result[kind] = round(spent / max(1, done) * 1000, 2)
    return result


def csv_export(base: str, web_pid: int) -> dict[str, Any]:
    """GET /trades as CSV, read to the end; the HTTP pool's RSS sampled every 50 ms meanwhile, on a
    thread (sampling per chunk walked the process tree once per 16 KB and could miss a peak). The
    login comes first, outside the window: Argon2 takes ~100 MB for a moment by design."""
    token = asyncio.run(logins_of(base, ["exporter"]))[0]
    pids = tree(web_pid)  # the pool's processes as the download starts (a process that appears later is not growth)

    def rss() -> float:
        return sum(proc_cpu_rss(p)[1] for p in pids)

    samples = [rss()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            samples.append(rss())

    async def download() -> tuple[int, float]:
        async with httpx.AsyncClient(base_url=base, timeout=600) as client:
            headers = {"Authorization": f"Bearer {token}", "Accept": "text/csv"}
            rows, started = 0, time.perf_counter()
            async with client.stream("GET", "/api/v1/trades", headers=headers) as response:
                async for chunk in response.aiter_bytes():
                    rows += chunk.count(b"\n")
            return rows - 1, time.perf_counter() - started

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        rows, seconds = asyncio.run(download())
    finally:
        done.set()
        sampler.join()
    before, peak = samples[0], max(samples)
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_growth_mb": round(peak - before, 1),
        "rss_samples": len(samples),
    }


async def logins_of(base: str, usernames: list[str]) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        return [await login(client, name) for name in usernames]


def realized_report_timing(base: str, trades: int) -> dict[str, Any]:
    """GET /reports/realized (JSON) for a user with `trades` trades, each method three times (best and
    worst); then the same report asked of a worker (POST, poll the job until ready)."""

    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            headers = {"Authorization": f"Bearer {await login(client, 'reporter')}"}
            year = time.gmtime(time.time() - 300 * 86400).tm_year
            seconds: dict[str, list[float]] = {}
            rows = 0
            for method in ("fifo", "lifo", "hifo", "average"):
                runs = []
                for _ in range(3):
                    started = time.perf_counter()
                    response = await client.get(
                        f"/api/v1/reports/realized?year={year}&method={method}", headers=headers
                    )
                    runs.append(time.perf_counter() - started)
                    response.raise_for_status()
                rows = len(response.json()["rows"])
                seconds[method] = [round(min(runs), 2), round(max(runs), 2)]
            started = time.perf_counter()
            job = await client.post("/api/v1/reports/realized", json={"year": year, "method": "hifo"}, headers=headers)
            job.raise_for_status()
            while job.json()["status"] == "pending":
                await asyncio.sleep(0.05)
                job = await client.get(job.json()["url"], headers=headers)
                job.raise_for_status()
            by_worker = round(time.perf_counter() - started, 2)
            return {
                "trades": trades,
                "rows": rows,
                "seconds_best_worst_of_3": seconds,
                "worker_seconds_to_ready": by_worker,
                "worker_status": job.json()["status"],
            }

    return asyncio.run(run())


def trades_table(database_url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows, size = conn.execute(
            "SELECT reltuples::bigint, pg_total_relation_size('portfolio_trade') FROM pg_class"
            " WHERE relname = 'portfolio_trade'"
        ).fetchone() or (0, 0)
    return {"rows_estimate": int(rows), "total_mb": round(size / 2**20)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-rest-{secrets.token_hex(3)}"
    tmp.mkdir(parents=True)
    database_url, redis_url, started = servers()
    processes: dict[str, Process] = {}
    try:
        env = production_env(
            database_url=fresh_database(database_url, "benchrest"),
            redis_url=redis_url,
            var_dir=str(tmp),
            API_RATE_LIMIT="1000000",
            LOGIN_FAILURE_IP_LIMIT="1000000",
            WEB_MAX_CONNECTIONS_PER_ADDRESS="0",  # every bench client is on this machine's loopback
            LOG_LEVEL="WARNING",
            **({"WEB_MAX_IN_FLIGHT": str(args.max_in_flight)} if args.max_in_flight else {}),
            **({"WEB_THREADS": str(args.web_threads)} if args.web_threads else {}),
            **dict(setting.split("=", 1) for setting in args.setting),
        )
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        seed = SEED.replace("{password}", PASSWORD).replace("{users}", str(args.users))
        seed = seed.replace("{trades}", str(args.trades)).replace("{csv_rows}", str(args.csv_rows))
        seed = seed.replace("{report_trades}", str(args.report_trades))
        seed = seed.replace("{table_trades}", str(args.table_trades))
        if args.table_trades:
            print(f"writing {args.table_trades:,} trades over 5,000 users …", flush=True)
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", seed], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError("seeding failed:\n" + done.stderr[-3000:])
        if args.table_trades:
            # And the kernel's copy of them on disk (the test PostgreSQL runs with fsync off): a
            # writeback of gigabytes during the run throttles whoever writes next.
            os.sync()
        port = free_port()
        processes["web"] = Process(
            procfile_command("web"), env={**env, "PORT": str(port), "WEB_WORKERS": str(args.web_workers)}
        )
        processes["worker"] = Process(procfile_command("worker"), env={**env, "WORKER_CONCURRENCY": "2"})
        processes["feeder"] = Process(procfile_command("feeder"), env=env)
        wait_for_port(port, 60, processes["web"].proc)
        processes["worker"].wait_for_line("ready.", 60)
        time.sleep(2)  # the feeder's first batches, the workers' first connections
        base = f"http://127.0.0.1:{port}"
        web_pid = processes["web"].proc.pid
        tokens = asyncio.run(logins(base, args.users))
        # The same load first on the same connections, not measured: the pools' connections
        # (PostgreSQL, Redis) open as the load needs them, and the first second of a cold server
        # was the run's worst by far (p99 160-190 ms against 34-39 ms in the median second,
        # rest-20261205-071151/071241).
        samplers: list[Sampler] = []

        def measuring() -> None:
            samplers.append(Sampler({name: p.proc.pid for name, p in processes.items()}))
            print(f"{args.orders_rate} orders/s + {args.reads_rate} reads/s for {args.seconds:.0f}s …", flush=True)

        print(f"warming up for {args.warmup:.0f}s …", flush=True)
        with generator_collections_paused():
            timings = asyncio.run(
                mixed_load(
                    base,
                    tokens,
                    args.orders_rate,
                    args.reads_rate,
                    args.seconds,
                    warmup=args.warmup,
                    on_start=measuring,
                )
            )
        cpu = samplers[0].cpu_percent()
        report: dict[str, Any] = {
            "command": "python -m bench.rest " + " ".join(sys.argv[1:]),
            "machine": f"{os.cpu_count()} cores",
            "config": vars(args),
            "endpoints": timings.summary(args.seconds),
            "by_second": timings.by_second(),
            "errors": timings.errors,
            "cpu_percent_of_one_core": cpu,
            "web_cpu_ms_per_request": round(
                cpu["web"] * 10 / max(1, sum(len(v) for v in timings.ms.values()) / args.seconds), 2
            ),
        }
        report["trades_table"] = trades_table(env["DATABASE_URL"])
        if args.cpu_per_endpoint:
            report["web_cpu_ms_per_request_by_endpoint"] = cpu_per_endpoint(base, tokens, web_pid)
        if args.csv_rows:
            report["csv_export"] = csv_export(base, web_pid)
        if args.report_trades:
            report["realized_report"] = realized_report_timing(base, args.report_trades)
    finally:
        for process in processes.values():
            process.stop()
        for service in started:
            service.stop()
    return report


def write(report: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    report["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    targets = {"POST /orders": "p99 ≤ 50", "GET /portfolio": "p99 ≤ 30", "GET /trades": "p99 ≤ 50"}
    total = sum(e["per_second"] for e in report["endpoints"].values())
    lines = [
        f"# REST at load, {report['when']}",
        "",
        f"`{report['command']}` on {report['machine']}: the HTTP pool ({report['config']['web_workers']} workers), a"
        " Celery worker (2 processes) filling every order, the simulated feeder, PostgreSQL, Redis and this load"
        " generator, all on this machine.",
        "",
        "| endpoint | requests | req/s | p50 ms | p99 ms | max ms | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, e in report["endpoints"].items():
        lines.append(
            f"| {kind} | {e['count']} | {e['per_second']} | {e['p50_ms']} | {e['p99_ms']} | {e['max_ms']} |"
            f" {targets.get(kind, '')} |"
        )
    lines += [
        "",
        f"In all {round(total, 1)} requests/s (target ≥ 400). Errors and timeouts: {report['errors'] or 'none'}.",
        f"Trades table: ~{report['trades_table']['rows_estimate']:,} rows, {report['trades_table']['total_mb']:,} MB"
        " with its indexes.",
        f"HTTP pool CPU per request: {report['web_cpu_ms_per_request']} ms.",
        _by_second_line(report["by_second"]),
        "",
        "| process | CPU % of one core |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in report["cpu_percent_of_one_core"].items()),
    ]
    if "web_cpu_ms_per_request_by_endpoint" in report:
        lines += ["", "CPU per request, each endpoint alone at 50/s (ms):"]
        lines += [f"- {k}: {v}" for k, v in report["web_cpu_ms_per_request_by_endpoint"].items()]
    if "realized_report" in report:
        r = report["realized_report"]
        lines += [
            "",
            f"Realized-gains report of a user with {r['trades']} trades ({r['rows']} rows) in the request:"
            f" seconds, best and worst of 3, by method: {r['seconds_best_worst_of_3']} (target < 2 s). Asked of"
            f" a worker (hifo): {r['worker_status']} {r['worker_seconds_to_ready']} s after the POST.",
        ]
    if "csv_export" in report:
        c = report["csv_export"]
        lines += [
            "",
            f"CSV export of {c['rows']} trades: {c['seconds']} s, {c['rows_per_second']} rows/s (target ≥ 20,000);"
            f" HTTP pool RSS {c['rss_before_mb']} → peak {c['rss_peak_mb']} MB, growth {c['rss_growth_mb']} MB"
            " (target < 20 MB).",
        ]
    write_results("rest", report, [*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders-rate", type=float, default=50)
    parser.add_argument("--reads-rate", type=float, default=350, help="half GET /portfolio, half GET /trades")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5, help="seconds of the same load before measuring")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--table-trades", type=int, default=0, help="trades table size: this many more, over 5,000 users"
    )
    parser.add_argument("--max-in-flight", type=int, default=0, help="WEB_MAX_IN_FLIGHT (default: the setting's)")
    parser.add_argument("--web-threads", type=int, default=0, help="WEB_THREADS (default: the setting's)")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment setting for the servers, e.g. HOT_PATH=0 (repeatable)",
    )
    parser.add_argument("--trades", type=int, default=1000, help="the reader's trade history")
    parser.add_argument("--csv-rows", type=int, default=0)
    parser.add_argument("--cpu-per-endpoint", action="store_true")
    parser.add_argument("--report-trades", type=int, default=0, help="time the realized-gains report of this many")
    write(measure(parser.parse_args()))


if __name__ == "__main__":
    threading.excepthook = lambda info: None  # a client thread's teardown noise is not a result
    main()

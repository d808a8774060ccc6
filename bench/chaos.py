"""Fault scenarios on the production topology, with a report table: `python -m bench.chaos`.

The whole topology runs on this machine (deploy/cluster.py: nginx, two HTTP and two WebSocket
instances, feeder, worker, beat, PostgreSQL primary + replica, Redis for the bus and for state), its
feeder reading a local fake Binance in Binance's wire format. Through nginx, as users would, a fleet
of live sockets (users holding five symbols each) and an order burst run while one thing breaks:

    redis-state      Redis of sessions, cache, rate limits and the Celery broker: SIGKILL, restarted
    redis-bus        Redis of prices and the channel layer: SIGKILL, restarted
    postgres         the primary stopped "immediate" (SIGQUIT), restarted
    binance          the exchange unreachable (connections cut, new ones refused) for --binance-outage
    worker           the Celery worker SIGKILLed mid-burst, restarted
    ws-sigterm       a WebSocket instance told to stop (SIGTERM) with its share of --sockets open

The order clients behave as the README asks: an answer 503 (or none) is retried with the same
`client_order_id` after `Retry-After`. Checked per scenario: no answer 500 / 502 / 504; every order
answered "accepted" is in PostgreSQL afterwards, final, filled at most once; /readyz turns 503 within
5 s of a dependency going away and 200 within 5 s of its return; every socket gets fresh numbers
again. Recovery is measured from the moment the broken part is back (restarted, reachable).

    python -m bench.chaos                           # all scenarios, 2,000 sockets, Binance gone 120 s
    python -m bench.chaos --small                   # CI's version: 40 sockets, short outages
    python -m bench.chaos --only postgres,worker    # some of them

Results: bench/results/chaos-<UTC time>.md and .json; the exit status is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.common import RESULTS, percentile, write_results
from deploy.cluster import ROOT, Cluster, free_base_port
from tradingsite.testing.fake_binance import FakeBinanceThread

SCENARIOS = ("redis-state", "redis-bus", "postgres", "binance", "worker", "ws-sigterm")
HELD = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")  # every socket user holds these
ORDERED = ("BTCUSDT", "ETHUSDT")
QUANTITY = {"BTCUSDT": "0.001", "ETHUSDT": "0.01"}  # above each one's minimum notional (5 USDT)
READY_WITHIN = 5.0  # /readyz: 503 within this of a dependency going, 200 within this of its return
BAD_STATUSES = (500, 502, 504)

SEED = """
import json
from decimal import Decimal
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils import timezone
from accounts.models import User
from accounts.sessions.backend import ClientInfo, SessionStore
from portfolio.models import Account, Position

def session(user):
    store = SessionStore(None, client=ClientInfo("127.0.0.1", "bench.chaos"))
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key

tokens = {"sockets": [], "orders": []}
for kind, count in (("sockets", {socket_users}), ("orders", {order_users})):
    for i in range(count):
        user = User.objects.create_user(username=f"chaos-{kind}-{i}", password=None)
        Account.objects.create(user=user, cash=Decimal("10000000"), quote_asset="USDT")
        if kind == "sockets":
            Position.objects.bulk_create([
                Position(user=user, symbol_id=s, quantity=Decimal("1.5"), cost_basis=Decimal("150"),
                         avg_entry_price=Decimal("100"), opened_at=timezone.now()) for s in {held}])
        tokens[kind].append(session(user))
print(json.dumps(tokens))
"""


# --- the exchange ------------------------------------------------------------------------------------


class Exchange:
    """The fake Binance in a thread, trading the held symbols 10 times a second each (the others every
    2 s), and able to vanish: connections cut, the port closed, then back on the same port."""

    def __init__(self) -> None:
        self.fake = FakeBinanceThread(enforce_limits=True)
        self.prices: dict[str, Decimal] = {}
        self._task: Any = None

    def __enter__(self) -> Exchange:
        self.fake.__enter__()
        snapshot = json.loads((ROOT / "pricefeed" / "data" / "symbols.json").read_text())["symbols"]
        names = [row["symbol"] for row in snapshot]
        self.fake.run(self.fake.server.list_symbols, names)
        for row in snapshot:
            self.prices[row["symbol"]] = Decimal(str(row.get("ref_price") or "100"))
        self.fake.server.prices.update(self.prices)
        self._task = asyncio.run_coroutine_threadsafe(self._trade(), self.fake.loop)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.fake.__exit__(*exc)

    async def _trade(self) -> None:
        server, tick = self.fake.server, 0
        while True:
            await asyncio.sleep(0.1)
            tick += 1
            names = [n for n in self.prices if n in HELD or tick % 20 == 0]
            for name in names:
                price = self.prices[name] * Decimal(1 + random.uniform(-0.0005, 0.0005))  # noqa: S311
                self.prices[name] = price = price.quantize(Decimal("0.01"))
                with contextlib.suppress(Exception):
                    await server.trade(name, str(price))

    def vanish(self) -> None:
        async def go() -> None:
            self.fake.server.drop_all()
            await self.fake.server.stop()

        self.fake.call(go())

    def come_back(self) -> None:
        self.fake.call(self.fake.server.start(port=self.fake.server.port))


# --- the clients -------------------------------------------------------------------------------------


@dataclass
class Sockets:
    """Live sockets through nginx that reconnect whenever closed, noting when each last had numbers."""

    url: str
    tokens: list[str]
    count: int
    last: list[float] = field(default_factory=list)
    longest_gap: list[float] = field(default_factory=list)
    close_codes: Counter[int | str] = field(default_factory=Counter)  # code, or why it could not connect
    reconnects: int = 0
    mark: float = 0.0
    first_after_mark: list[float] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        self.last = [0.0] * self.count
        self.longest_gap = [0.0] * self.count
        ready = [asyncio.Event() for _ in range(self.count)]
        self.tasks = [asyncio.create_task(self._one(i, ready[i])) for i in range(self.count)]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 180)

    async def _one(self, i: int, ready: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {self.tokens[i // 5]}"}
        while True:
            try:
                async with connect(self.url, additional_headers=headers, compression=None, open_timeout=20,
                                   ping_interval=None) as ws:  # fmt: skip
                    async for raw in ws:
                        kind = json.loads(raw)["type"]
                        if kind in ("snapshot", "pnl"):
                            now = time.monotonic()
                            if self.last[i] and kind == "pnl":
                                self.longest_gap[i] = max(self.longest_gap[i], now - self.last[i])
                            self.last[i] = now
                            if self.mark and not self.first_after_mark[i] and now > self.mark:
                                self.first_after_mark[i] = now
                            ready.set()
                    self.close_codes[ws.close_code or 1006] += 1
            except asyncio.CancelledError:
                raise
            except ConnectionClosed as closed:
                self.close_codes[closed.rcvd.code if closed.rcvd else 1006] += 1
            except Exception as exc:  # refused, reset, timed out: a client tries again
                self.close_codes[type(exc).__name__] += 1
            self.reconnects += 1
            await asyncio.sleep(0.5 + random.random())  # noqa: S311

    def reset_gaps(self) -> None:
        self.longest_gap = [0.0] * self.count

    def set_mark(self, moment: float) -> None:
        """From now on, note when each socket first has numbers again."""
        self.first_after_mark = [0.0] * self.count
        self.mark = moment

    def fresh_after_mark(self) -> float | None:
        """How long after the mark the last socket had numbers again (None: not all have)."""
        if not all(self.first_after_mark):
            return None
        return max(self.first_after_mark) - self.mark

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class Orders:
    """`rate` orders a second through nginx, each retried with its client_order_id until answered."""

    base: str
    tokens: list[str]
    rate: float
    accepted: dict[str, float] = field(default_factory=dict)  # client_order_id → when
    refused: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    unanswered: int = 0
    running: bool = False

    async def run(self, client: httpx.AsyncClient, until: asyncio.Event) -> None:
        self.running = True
        pending: set[asyncio.Task[None]] = set()
        n = 0
        while not until.is_set():
            n += 1
            task = asyncio.create_task(self._order(client, self.tokens[n % len(self.tokens)], n))
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(1 / self.rate)
        await asyncio.gather(*pending, return_exceptions=True)
        self.running = False

    async def _order(self, client: httpx.AsyncClient, token: str, n: int) -> None:
        body = {
            "symbol": ORDERED[n % len(ORDERED)],
            "side": "buy" if (n // len(self.tokens)) % 2 else "sell",
            "quantity": QUANTITY[ORDERED[n % len(ORDERED)]],
            "client_order_id": f"chaos-{uuid.uuid4().hex}",
        }
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                response = await client.post("/api/v1/orders", json=body, headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError:
                self.retries += 1
                await asyncio.sleep(1)
                continue
            self.statuses[response.status_code] += 1
            if response.status_code in (200, 201, 202):
                self.accepted.setdefault(body["client_order_id"], time.monotonic())
                return
            if response.status_code < 500:
                self.refused[response.json()["error"]["code"]] += 1
                return
            self.retries += 1  # 503 (and, as a client would, any 5xx): again, after Retry-After
            await asyncio.sleep(min(5.0, float(response.headers.get("Retry-After", "1"))))
        self.unanswered += 1


@dataclass
class Readyz:
    """/readyz through nginx four times a second, from a thread of its own (the event loop also
    parses 2,000 sockets' frames: a probe timed there measured the loop's lag, up to 7 s after a
    restart's snapshots): (when, status) for each answer, and the slowest answer."""

    base: str
    seen: list[tuple[float, int]] = field(default_factory=list)
    slowest: float = 0.0

    async def run(self, client: httpx.AsyncClient, until: asyncio.Event) -> None:
        halt = threading.Event()
        poller = threading.Thread(target=self._poll, args=(halt,), daemon=True)
        poller.start()
        await until.wait()
        halt.set()
        await asyncio.to_thread(poller.join, 10)

    def _poll(self, halt: threading.Event) -> None:
        with httpx.Client(base_url=self.base, timeout=5) as client:
            while not halt.is_set():
                asked = time.monotonic()
                try:
                    status = client.get("/readyz").status_code
                except httpx.HTTPError:
                    status = 0
                self.slowest = max(self.slowest, time.monotonic() - asked)
                self.seen.append((asked, status))
                halt.wait(0.25)

    def first(self, after: float, ok: bool) -> float | None:
        for at, status in self.seen:
            if at >= after and (status == 200) == ok:
                return at - after
        return None


# --- a scenario ------------------------------------------------------------------------------------


@dataclass
class Context:
    cluster: Cluster
    exchange: Exchange
    sockets: Sockets
    order_tokens: list[str]
    rate: float
    outage: float
    binance_outage: float


def faults(ctx: Context, name: str) -> tuple[Any, Any, float, bool]:
    """(break it, bring it back, how long it stays broken, whether /readyz must see it within 5 s)."""
    c = ctx.cluster
    if name in ("redis-state", "redis-bus"):
        return (lambda: c.stop(name, signal.SIGKILL)), (lambda: c.restart_dependency(name)), ctx.outage, True
    if name == "postgres":
        return (lambda: c.stop("postgres-primary", signal.SIGQUIT)), (
            lambda: c.restart_dependency("postgres-primary")), ctx.outage, True  # fmt: skip
    if name == "binance":
        return ctx.exchange.vanish, ctx.exchange.come_back, ctx.binance_outage, False
    if name == "worker":
        return (lambda: c.stop("worker", signal.SIGKILL)), (lambda: c.start("worker")), 5.0, False
    if name == "ws-sigterm":
        return (lambda: c.stop("ws-1", signal.SIGTERM)), (lambda: c.start("ws-1")), 10.0, False
    raise ValueError(name)


async def run_scenario(ctx: Context, name: str) -> dict[str, Any]:
    fault, restore, outage, readiness = faults(ctx, name)
    base = ctx.cluster.url
    restarts_before = ctx.cluster.restarts()
    stop = asyncio.Event()
    orders = Orders(base, ctx.order_tokens, ctx.rate)
    ready = Readyz(base)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        runners = [asyncio.create_task(orders.run(client, stop)), asyncio.create_task(ready.run(client, stop))]
        ctx.sockets.close_codes.clear()
        reconnects_before = ctx.sockets.reconnects
        await asyncio.sleep(3)
        ctx.sockets.reset_gaps()
        broke = time.monotonic()
        if name == "ws-sigterm":  # the sockets of a stopped instance move to the other one at once
            ctx.sockets.set_mark(broke)
        await asyncio.to_thread(fault)
        await asyncio.sleep(outage)
        await asyncio.to_thread(restore)
        back = time.monotonic()
        if name != "ws-sigterm":
            ctx.sockets.set_mark(back)
        # recovered: /readyz 200 again, every socket has numbers newer than the return, orders accepted
        deadline = back + (90 if name == "binance" else 60)
        recovered: dict[str, float | None] = {"readyz": None, "sockets": None, "orders": None}
        accepted_before = len(orders.accepted)
        while time.monotonic() < deadline and None in recovered.values():
            if recovered["readyz"] is None and ready.seen and ready.seen[-1][1] == 200 and ready.seen[-1][0] > back:
                recovered["readyz"] = ready.first(back, ok=True)
            if recovered["sockets"] is None:
                recovered["sockets"] = ctx.sockets.fresh_after_mark()
            if (
                recovered["orders"] is None
                and len(orders.accepted) > accepted_before
                and any(t > back for t in orders.accepted.values())
            ):
                recovered["orders"] = min(t for t in orders.accepted.values() if t > back) - back
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)
        stop.set()
        await asyncio.gather(*runners)
    persisted = await asyncio.to_thread(check_orders, ctx.cluster, list(orders.accepted))
    # what a supervisor had to restart (a process that died of the fault, not the one the fault stopped)
    restarts = {n: c - restarts_before.get(n, 0) for n, c in ctx.cluster.restarts().items()}
    down = sorted(n for n, alive in ctx.cluster.running().items() if not alive)
    went_503 = ready.first(broke, ok=False)
    checks = {
        "no 500/502/504": sum(orders.statuses[s] for s in BAD_STATUSES) == 0,
        "accepted = persisted": persisted["found"] == len(orders.accepted),
        "none filled twice": persisted["filled_twice"] == 0,
        "all final": persisted["pending"] == 0,
        "every order answered": orders.unanswered == 0,
        "sockets fresh again": recovered["sockets"] is not None,
        "orders accepted again": recovered["orders"] is not None,
        "every process up": not down,
    }
    checks["/readyz answered ≤ 1 s"] = ready.slowest <= 1.0
    if readiness:
        checks["/readyz 503 ≤ 5 s"] = went_503 is not None and went_503 <= READY_WITHIN
        checks["/readyz 200 ≤ 5 s after return"] = (
            recovered["readyz"] is not None and recovered["readyz"] <= READY_WITHIN
        )
    if name.startswith("redis-"):  # a Redis restart: prices flow and sockets resync within 5 s
        checks["sockets fresh ≤ 5 s after return"] = recovered["sockets"] is not None and recovered["sockets"] <= 5
    if name == "binance":  # stale after PRICE_MAX_AGE_SECONDS, not within 5 s: orders refused meanwhile
        checks["orders refused price_stale"] = orders.refused["price_stale"] > 0
        checks["/readyz 503 while stale"] = went_503 is not None
        checks["/readyz 200 again"] = recovered["readyz"] is not None
    gaps = ctx.sockets.longest_gap
    return {
        "scenario": name,
        "outage_s": outage,
        "orders": {
            "sent_statuses": dict(orders.statuses),
            "accepted": len(orders.accepted),
            "refused": dict(orders.refused),
            "retries": orders.retries,
            **persisted,
        },
        "readyz": {
            "503_after_s": _r(went_503),
            "200_after_return_s": _r(recovered["readyz"]),
            "slowest_answer_s": _r(ready.slowest),
        },
        "sockets": {
            "count": ctx.sockets.count,
            "reconnects": ctx.sockets.reconnects - reconnects_before,
            "close_codes": dict(ctx.sockets.close_codes),
            "fresh_after_return_s": _r(recovered["sockets"]),
            "longest_silence_p50_s": _r(percentile(gaps, 50)),
            "longest_silence_max_s": _r(max(gaps)),
        },
        "orders_accepted_after_return_s": _r(recovered["orders"]),
        "restarted": {n: c for n, c in restarts.items() if c},
        "down": down,
        "checks": checks,
        "passed": all(checks.values()),
    }


def check_orders(cluster: Cluster, accepted: list[str]) -> dict[str, int]:
    """What PostgreSQL holds of the accepted orders once the worker had time to finish them."""
    query = """
        SELECT o.status, count(t.id) FROM portfolio_order o LEFT JOIN portfolio_trade t ON t.order_id = o.id
        WHERE o.client_order_id = ANY(%s) GROUP BY o.id, o.status
    """
    deadline = time.monotonic() + 60
    while True:
        with psycopg.connect(cluster.database_url("primary"), autocommit=True) as conn:
            rows = conn.execute(query, (accepted,)).fetchall()
        pending = sum(1 for status, _ in rows if status == "pending")
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1)
    statuses = Counter(status for status, _ in rows)
    return {
        "found": len(rows),
        "filled": statuses["filled"],
        "rejected": statuses["rejected"],
        "expired": statuses["expired"],
        "pending": pending,
        "filled_twice": sum(1 for _, trades in rows if trades > 1),
    }


def _r(value: float | None) -> float | None:
    return None if value is None or value != value else round(value, 2)


# --- the run ---------------------------------------------------------------------------------------


def seed(cluster: Cluster, socket_users: int, order_users: int) -> dict[str, list[str]]:
    script = SEED.replace("{socket_users}", str(socket_users)).replace("{order_users}", str(order_users))
    script = script.replace("{held}", repr(list(HELD)))
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=cluster.env(),
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    tokens: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return tokens


async def main_async(args: argparse.Namespace, cluster: Cluster, exchange: Exchange) -> list[dict[str, Any]]:
    tokens = await asyncio.to_thread(seed, cluster, -(-args.sockets // 5), 10)
    sockets = Sockets(f"ws://127.0.0.1:{cluster.port}/ws/v1/portfolio", tokens["sockets"], args.sockets)
    await sockets.start()
    ctx = Context(cluster, exchange, sockets, tokens["orders"], args.orders_rate, args.outage, args.binance_outage)
    results = []
    try:
        for name in args.only:
            print(f"--- {name}", flush=True)
            result = await run_scenario(ctx, name)
            print(json.dumps(result), flush=True)
            results.append(result)
            if result["down"]:  # the next scenario would only wait out its deadlines: stop here, say why
                print(f"stopped after {name}: {', '.join(result['down'])} down", flush=True)
                break
            await asyncio.sleep(2)
    finally:
        await sockets.stop()
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    folder.chmod(0o755)
    started = time.monotonic()
    with Exchange() as exchange:
        cluster = Cluster(
            folder,
            free_base_port(),
            source="binance",
            per_address=0,  # every client here is on this machine
            overrides={
                "BINANCE_WS_URL": exchange.fake.server.ws_url,
                "BINANCE_REST_URL": exchange.fake.server.rest_url,
                "API_RATE_LIMIT": "1000000",
            },
        )
        try:
            cluster.up(timeout=180)
            results = asyncio.run(main_async(args, cluster, exchange))
        finally:
            logs = {name: cluster.log(name).read_text(errors="replace") for name in ("http-1", "http-2", "worker")}
            cluster.down(purge=not args.keep)
    tracebacks = {name: text.count("Traceback") for name, text in logs.items()}
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python -m bench.chaos " + " ".join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} cores",
        "config": {
            "sockets": args.sockets,
            "orders_rate": args.orders_rate,
            "outage_s": args.outage,
            "binance_outage_s": args.binance_outage,
        },
        "seconds": round(time.monotonic() - started),
        "scenarios": results,
        "passed": all(r["passed"] for r in results),
        "tracebacks_in_app_logs": tracebacks,
    }


def table(report: dict[str, Any]) -> list[str]:
    cfg = report["config"]
    lines = [
        f"# Fault scenarios, {report['when']}",
        "",
        f"`{report['command']}` on {report['machine']} ({report['seconds']} s): the local cluster (nginx, 2 HTTP + 2"
        f" WebSocket instances, feeder on a fake Binance, worker, beat, PostgreSQL primary + replica, Redis bus +"
        f" state), {cfg['sockets']} live sockets and {cfg['orders_rate']} orders/s through nginx during each fault.",
        "",
        "| scenario | checked | result | orders accepted / persisted (filled, rejected) | answers 5xx (503) |"
        " /readyz 503 after / 200 after return | sockets fresh after return (close codes) | orders accepted again |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["scenarios"]:
        o, rz, s = r["orders"], r["readyz"], r["sockets"]
        failed = [k for k, ok in r["checks"].items() if not ok]
        fives = sum(v for k, v in o["sent_statuses"].items() if int(k) >= 500)
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(s["close_codes"].items(), key=str)) or "none"
        lines.append(
            f"| {r['scenario']} ({r['outage_s']:g} s) | {', '.join(r['checks'])} |"
            f" {'pass' if r['passed'] else 'FAIL: ' + ', '.join(failed)} |"
            f" {o['accepted']} / {o['found']} ({o['filled']}, {o['rejected']}) |"
            f" {fives} ({o['sent_statuses'].get(503, 0)}) |"
            f" {_s(rz['503_after_s'])} / {_s(rz['200_after_return_s'])} |"
            f" {_s(s['fresh_after_return_s'])} ({codes}) | {_s(r['orders_accepted_after_return_s'])} |"
        )
    restarted = {r["scenario"]: r["restarted"] for r in report["scenarios"] if r.get("restarted")}
    lines += [
        "",
        f"Tracebacks in the web and worker logs: {report['tracebacks_in_app_logs']}",
        "",
        "App processes that died of a fault and were restarted by their supervisor (as compose's"
        f" `restart: unless-stopped` would): {restarted or 'none'}",
        "",
    ]
    return lines


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--orders-rate", type=float, default=20)
    parser.add_argument("--outage", type=float, default=15, help="seconds Redis / PostgreSQL stay down")
    parser.add_argument("--binance-outage", type=float, default=120, help="seconds Binance stays unreachable")
    parser.add_argument("--small", action="store_true", help="CI's size: 40 sockets, 5 s outages, 10 orders/s")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's folder (logs) afterwards")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the report goes (bench/results)")
    args = parser.parse_args()
    if args.small:
        args.sockets, args.orders_rate, args.outage, args.binance_outage = 40, 10, 5, 15
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    # `kill` / a test's timeout: stop the cluster on the way out (its processes have sessions of their own)
    signal.signal(signal.SIGTERM, _terminated)
    report = run(args)
    write_results("chaos", report, table(report), args.results)
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()

"""Order acceptance and portfolio read latency against the production topology on this machine.

    .venv/bin/python -m bench.orders [--seconds 20] [--concurrency 8] [--users 20]

Starts its own PostgreSQL and Redis (or uses DATABASE_URL / REDIS_URL), migrates a fresh database,
starts the Procfile's web (uvicorn; `--server daphne` for the other), worker and feeder processes, creates users (one holding 50 open
positions), then drives `POST /api/v1/orders` and `GET /api/v1/portfolio` for a fixed time: closed
loop (`--concurrency` keep-alive clients, as fast as they can: a saturation test) or open loop
(`--rate` orders/s and as many portfolio reads/s on a fixed schedule: latency at a given load). Writes bench/results/orders-<timestamp>.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import percentile, servers, write_results
from tradingsite.testing.processes import ROOT, Process, fresh_database, procfile_command, production_env
from tradingsite.testing.servers import free_port, wait_for_port

DAPHNE = ["/bin/sh", "-c", "exec daphne --bind 127.0.0.1 --port $PORT tradingsite.asgi:application"]
PASSWORD = "bench-password-123"


def environment(tmp: Path) -> tuple[dict[str, str], list[object]]:
    database_url, redis_url, started = servers()
    env = production_env(
        database_url=fresh_database(database_url, "bench"),
        redis_url=redis_url,
        var_dir=str(tmp),
        API_RATE_LIMIT="1000000",
        LOGIN_FAILURE_IP_LIMIT="1000000",
        WEB_MAX_CONNECTIONS_PER_ADDRESS="0",  # every bench client is on this machine's loopback
        LOG_LEVEL="WARNING",
    )
    return env, started


SEED = """
import json
from decimal import Decimal
from django.utils import timezone
from accounts.models import User
from portfolio.models import Account, Position
from pricefeed.models import Symbol
from pricefeed.services import symbol_sync_from_snapshot
from pricefeed.bus import get_bus
from pricefeed.domain import Batch, Tick, now_ms
import asyncio

symbol_sync_from_snapshot()
extra = [Symbol(symbol=f"BENCH{i:02d}USDT", base_asset=f"BENCH{i:02d}", quote_asset="USDT", tick_size=Decimal("0.01"),
                step_size=Decimal("0.001"), min_qty=Decimal("0.001"), min_notional=Decimal("1")) for i in range(30)]
Symbol.objects.bulk_create(extra, ignore_conflicts=True)
names = [s.symbol for s in Symbol.objects.all()][:50]
users = [User.objects.create_user(username=f"bench{i}", password="{password}") for i in range({users})]
for user in users:
    Account.objects.create(user=user, cash=Decimal("1000000"), quote_asset="USDT")
now = timezone.now()
Position.objects.bulk_create([Position(user=users[0], symbol_id=s, quantity=Decimal("1.5"), cost_basis=Decimal("150"), avg_entry_price=Decimal("100"), opened_at=now) for s in names])
at = now_ms()
asyncio.run(get_bus().publish(Batch("simulated", at, tuple(Tick(s, Decimal("101.25"), at, at) for s in names if s.startswith("BENCH")))))
print(json.dumps(names))
"""


async def login(client: httpx.AsyncClient, username: str) -> str:
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    client.cookies.clear()  # a script authenticates by bearer token only (no cookies, so no CSRF)
    return str(response.json()["token"])


async def drive(base: str, users: int, concurrency: int, seconds: float, rate: float) -> dict[str, object]:
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        tokens = [await login(client, f"bench{i}") for i in range(users)]
        accept: list[float] = []
        portfolio: list[float] = []
        statuses: dict[str, int] = {}
        deadline = time.monotonic() + seconds

        def count(key: str) -> None:
            statuses[key] = statuses.get(key, 0) + 1

        async def place(n: int, started: float) -> None:
            token = tokens[1 + n % (users - 1)]
            body = {"symbol": "BTCUSDT", "side": "buy" if n % 2 else "sell", "quantity": "0.0001"}
            response = await client.post("/api/v1/orders", json=body, headers={"Authorization": f"Bearer {token}"})
            accept.append((time.perf_counter() - started) * 1000)
            count(f"orders {response.status_code}")

        async def read(started: float) -> None:
            response = await client.get("/api/v1/portfolio", headers={"Authorization": f"Bearer {tokens[0]}"})
            portfolio.append((time.perf_counter() - started) * 1000)
            count(f"portfolio {response.status_code}")

        async def orders_loop(worker: int) -> None:
            n = worker
            while time.monotonic() < deadline:
                await place(n, time.perf_counter())
                n += concurrency

        async def portfolio_loop() -> None:
            while time.monotonic() < deadline:
                await read(time.perf_counter())

        async def open_loop(make: Callable[[int, float], Coroutine[Any, Any, None]]) -> None:
            # Requests leave on a fixed schedule whatever the server does; latency counts from the
            # scheduled time, so a slow server is not hidden by the client waiting (no coordinated omission).
            start, n = time.perf_counter(), 0
            tasks: list[asyncio.Task[None]] = []
            while time.monotonic() < deadline:
                due = start + n / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.create_task(make(n, due)))
                n += 1
            await asyncio.gather(*tasks)

        check = await client.get("/api/v1/portfolio", headers={"Authorization": f"Bearer {tokens[0]}"})
        assert check.json()["positions"] == 50, check.text
        if rate:
            await asyncio.gather(open_loop(place), open_loop(lambda n, due: read(due)))
        else:
            await asyncio.gather(
                *(orders_loop(w) for w in range(concurrency)),
                *(portfolio_loop() for _ in range(max(1, concurrency // 4))),
            )
    return {"accept_ms": accept, "portfolio_ms": portfolio, "statuses": statuses}


def summarize(samples: list[float], seconds: float) -> dict[str, float]:
    return {
        "count": len(samples),
        "per_second": round(len(samples) / seconds, 1),
        "p50_ms": round(percentile(samples, 50), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "max_ms": round(max(samples), 2) if samples else float("nan"),
        "mean_ms": round(statistics.fmean(samples), 2) if samples else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="open loop: this many orders/s and as many portfolio reads/s on a fixed schedule "
        "(default 0: closed loop, --concurrency clients as fast as they can)",
    )
    parser.add_argument(
        "--server", choices=["uvicorn", "daphne"], default="uvicorn", help="web server (uvicorn: the Procfile's)"
    )
    args = parser.parse_args()
    write(measure(args))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{secrets.token_hex(3)}"
    tmp.mkdir(parents=True)
    env, started = environment(tmp)
    processes: list[Process] = []
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        seed = SEED.replace("{password}", PASSWORD).replace("{users}", str(args.users))
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", seed], cwd=ROOT, env=env, check=True, capture_output=True
        )
        port = free_port()
        web = DAPHNE if args.server == "daphne" else procfile_command("web")
        processes.append(Process(web, env={**env, "PORT": str(port)}))
        processes.append(Process(procfile_command("worker"), env={**env, "WORKER_CONCURRENCY": "2"}))
        processes.append(Process(procfile_command("feeder"), env=env))
        wait_for_port(port, 30, processes[0].proc)
        processes[1].wait_for_line("ready.", 60)
        time.sleep(1.5)  # the feeder's first batches
        print(f"driving http://127.0.0.1:{port} for {args.seconds:.0f}s with {args.concurrency} order clients …")
        raw = asyncio.run(drive(f"http://127.0.0.1:{port}", args.users, args.concurrency, args.seconds, args.rate))
    finally:
        for process in processes:
            process.stop()
        for server in started:
            server.stop()  # type: ignore[attr-defined]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.orders " + " ".join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} cores",
        "server": f"{args.server} (1 web process); Celery worker concurrency 2; feeder simulated",
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "post_orders": summarize(raw["accept_ms"], args.seconds),  # type: ignore[arg-type]
        "get_portfolio_50_positions": summarize(raw["portfolio_ms"], args.seconds),  # type: ignore[arg-type]
        "statuses": raw["statuses"],
        "targets": {"post_orders_p99_ms": 50, "get_portfolio_p99_ms": 30},
    }
    return report


def write(report: dict[str, Any]) -> None:
    table = [
        f"# Order path, {report['when']}",
        "",
        f"`{report['command']}` on {report['machine']}; {report['server']}.",
        "",
        "| endpoint | requests | req/s | p50 ms | p99 ms | max ms | target p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, target in (("post_orders", 50), ("get_portfolio_50_positions", 30)):
        s = report[key]
        table.append(
            f"| {key} | {s['count']} | {s['per_second']} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | ≤ {target} |"
        )
    table += ["", f"Statuses: {report['statuses']}", ""]
    write_results("orders", report, table)


if __name__ == "__main__":
    main()

"""The price feeder under the design load: Binance-format trades at a sustained rate over many
symbols, through the production feeder process, into Redis.

    .venv/bin/python -m bench.feed [--seconds 30] [--rate 2500] [--symbols 500]

Starts its own PostgreSQL and Redis (or uses DATABASE_URL / REDIS_URL), a local fake Binance in this
process (`tradingsite/testing/fake_binance.py`: combined streams, REST), syncs the symbols from its
exchangeInfo with `manage.py sync_symbols`, then runs the Procfile's `feeder` (`--source binance`)
against it. The fake exchange sends `@aggTrade` frames stamped with the send time (`E`), spread
evenly over the symbols; this process subscribes to the `prices` channel and measures:
- batches per second and updates per batch;
- receive → publish lag per update (the feeder's own clock: `flushed_ts - received_ts`);
- exchange → subscriber lag per update (`E` to the batch arriving here);
- the feeder's CPU share of one core (from /proc) and its RSS.
Writes bench/results/feed-<timestamp>.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from bench.common import percentile, servers, write_results
from tradingsite.testing.fake_binance import FakeBinanceThread
from tradingsite.testing.processes import ROOT, Process, fresh_database, procfile_command, production_env

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def feeder_pid(process: Process) -> int:
    """The Python process under the Procfile's shell line."""
    children = Path(f"/proc/{process.proc.pid}/task/{process.proc.pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return int(kids[0]) if kids else process.proc.pid


class Collector(threading.Thread):
    """Reads `prices` batches as they are published."""

    def __init__(self, redis_url: str):
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self.pubsub.subscribe("prices")
        self.recording = False
        self.stop_flag = False
        self.arrivals: list[float] = []
        self.sizes: list[int] = []
        self.publish_lag: list[int] = []
        self.end_to_end: list[int] = []

    def run(self) -> None:
        while not self.stop_flag:
            message = self.pubsub.get_message(timeout=0.2)
            if message is None or not self.recording:
                continue
            arrived = time.time_ns() // 1_000_000
            batch = json.loads(message["data"])
            self.arrivals.append(time.monotonic())
            self.sizes.append(len(batch["ticks"]))
            for tick in batch["ticks"]:
                self.publish_lag.append(batch["flushed_ts"] - tick["received_ts"])
                self.end_to_end.append(arrived - tick["event_ts"])


async def send_trades(fake: FakeBinanceThread, symbols: list[str], rate: int, seconds: float) -> int:
    """`rate` aggTrade frames per second, round-robin over the symbols, in 10 ms steps."""
    server = fake.server
    step, sent, started = 0.01, 0, time.monotonic()
    prices = dict.fromkeys(symbols, 100_000)
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate)
        for n in range(sent, due):
            symbol = symbols[n % len(symbols)]
            prices[symbol] += 1 if (n // len(symbols)) % 2 else -1
            await server.send_raw(server.agg_trade(symbol, f"{prices[symbol] / 100:.2f}"), None)
        sent = due
        await asyncio.sleep(step)
    return sent


def measure(*, seconds: float, rate: int, symbols: int, env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-feed-{secrets.token_hex(3)}"
    tmp.mkdir(parents=True)
    database_url, redis_url, started_services = servers()
    names = [f"S{i:03d}USDT" for i in range(symbols)]
    feeder: Process | None = None
    try:
        with FakeBinanceThread(ping_interval=20) as fake:
            fake.run(fake.server.list_symbols, names)
            env = production_env(
                database_url=fresh_database(database_url, "benchfeed"),
                redis_url=redis_url,
                var_dir=str(tmp),
                PRICE_SOURCE="binance",
                BINANCE_WS_URL=fake.server.ws_url,
                BINANCE_REST_URL=fake.server.rest_url,
                LOG_LEVEL="WARNING",
                **(env_extra or {}),
            )
            for command in (["migrate", "--noinput", "-v", "0"], ["sync_symbols"]):
                subprocess.run(
                    [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True
                )
            collector = Collector(redis_url)
            collector.start()
            feeder = Process(procfile_command("feeder"), env=env)
            deadline = time.monotonic() + 30
            while len(fake.run(fake.server.subscribed)) < symbols:
                if time.monotonic() > deadline:
                    raise RuntimeError("feeder did not subscribe:\n" + feeder.output)
                time.sleep(0.1)
            pid = feeder_pid(feeder)
            fake.call(send_trades(fake, names, rate, 1.0), timeout=30)  # warm-up
            collector.recording = True
            cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
            sent = fake.call(send_trades(fake, names, rate, seconds), timeout=seconds + 60)
            wall = time.monotonic() - wall_before
            cpu = cpu_seconds(pid) - cpu_before
            rss = rss_mb(pid)
            time.sleep(0.5)
            collector.recording = False
            collector.stop_flag = True
            stats = json.loads(redis.Redis.from_url(redis_url).get("feed:stats") or "{}")
    finally:
        if feeder is not None:
            feeder.stop()
        for service in started_services:
            service.stop()
    window = (collector.arrivals[-1] - collector.arrivals[0]) if len(collector.arrivals) > 1 else float("nan")
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "seconds": round(wall, 1),
        "symbols": symbols,
        "target_rate": rate,
        "sent_updates_per_second": round(sent / wall, 1),
        "batches_per_second": round((len(collector.arrivals) - 1) / window, 2) if window == window else None,
        "updates_per_batch_mean": round(sum(collector.sizes) / max(1, len(collector.sizes)), 1),
        "published_updates_per_second": round(sum(collector.sizes) / wall, 1),
        "receive_to_publish_ms": {
            "p50": percentile(collector.publish_lag, 50),
            "p99": percentile(collector.publish_lag, 99),
            "max": max(collector.publish_lag, default=None),
        },
        "exchange_to_subscriber_ms": {
            "p50": percentile(collector.end_to_end, 50),
            "p99": percentile(collector.end_to_end, 99),
            "max": max(collector.end_to_end, default=None),
        },
        "feeder_cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "feeder_rss_mb": round(rss, 1),
        "feeder_counters": {
            k: stats.get(k)
            for k in ("frames_in", "invalid_frames", "reconnects", "max_flush_ms", "lag_ms_p99", "publish_lag_ms_p99")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=int, default=2500, help="updates per second from the fake exchange")
    parser.add_argument("--symbols", type=int, default=500)
    args = parser.parse_args()
    print(f"feeding {args.rate} updates/s over {args.symbols} symbols for {args.seconds:.0f}s …", flush=True)
    report = {"command": "python -m bench.feed " + " ".join(sys.argv[1:]), **measure(**vars(args))}
    lag, e2e = report["receive_to_publish_ms"], report["exchange_to_subscriber_ms"]
    table = [
        f"# Price feed, {report['when']}",
        "",
        f"`{report['command']}` on {report['machine']}: fake Binance (aggTrade, combined streams) → "
        "the Procfile's feeder (`--source binance`) → Redis → a `prices` subscriber.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| updates/s sent over {report['symbols']} symbols | {report['sent_updates_per_second']} | 2,500 |",
        f"| batches/s published | {report['batches_per_second']} | 10 |",
        f"| updates per batch (mean) | {report['updates_per_batch_mean']} | |",
        f"| receive → publish p50 / p99 / max ms | {lag['p50']} / {lag['p99']} / {lag['max']} | |",
        f"| exchange event → subscriber p50 / p99 / max ms | {e2e['p50']} / {e2e['p99']} / {e2e['max']} | |",
        f"| feeder CPU, % of one core | {report['feeder_cpu_percent_of_one_core']} | |",
        f"| feeder RSS MB | {report['feeder_rss_mb']} | |",
        "",
        f"Feeder counters: {report['feeder_counters']}",
        "",
    ]
    write_results("feed", report, table)


if __name__ == "__main__":
    main()

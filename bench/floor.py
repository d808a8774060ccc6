"""The machine's floor for the live push's cadence: how often does a bare WebSocket server, paced like
ours, miss a socket's 250 ms?

    .venv/bin/python -m bench.floor [--sockets 5000] [--servers 2] [--clients 2] [--seconds 90]
                                    [--burn-us 0,16] [--spread-ms 0] [--client-nice 10]
                                    [--frame-bytes 1800]

No Django, no database, no feed: `--servers` processes of the `websockets` library's asyncio server,
each holding its share of the sockets, paced as the push is (pricefeed/hub.py): every 100 ms, at the
same instant in every process (as a price batch reaches them all at once), a pass writes one frame
to each socket of that batch's turn (half of them: a frame every 200 ms per socket). Before each
frame the pass spends `--burn-us` µs of CPU (a busy loop): 0 is the bare server's own cost, and
our per-frame work on top of it (bench.live's "web CPU per pnl frame" less the bare server's) gives
the push's own cost. `--spread-ms` staggers the processes' passes as `WS_PASS_SPREAD_MS` does (process
n at `pass_spread(n)` of the window). The same load generator as bench.live, measuring the gaps
between a socket's frames.

If the bare server paced as ours misses 250 ms too, the misses are the machine's (a pass that waits
for a core while the clients and the other process run); how the misses grow with the CPU per frame
tells what a frame may cost for none to be missed here.

Writes bench/results/floor-<timestamp>.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import time
from typing import Any

from bench.common import write_results
from bench.live import Sampler, drive_sockets
from pricefeed.hub import pass_spread
from tradingsite.testing.servers import free_port

BATCH_SECONDS = 0.1  # the feed's batches
TURNS = 2  # a frame every other batch: 200 ms


def paced_server(port: int, burn_ns: int, frame_bytes: int, delay: float, ready: Any) -> None:
    async def main() -> None:
        from websockets.asyncio.server import broadcast, serve

        connections: dict[Any, int] = {}  # socket -> its turn (even turns, as the hub keeps them)
        taken = [0] * TURNS

        async def handler(ws: Any) -> None:
            turn = min(range(TURNS), key=taken.__getitem__)
            taken[turn] += 1
            connections[ws] = turn
            try:
                await ws.wait_closed()
            finally:
                del connections[ws]
                taken[turn] -= 1

        async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None, max_queue=None):
            ready.set()
            batch = math.ceil(time.time() / BATCH_SECONDS)
            while True:
                # The next batch at the next 100 ms of the wall clock: every process's pass at once.
                await asyncio.sleep(max(0.0, batch * BATCH_SECONDS + delay - time.time()))
                turn = batch % TURNS
                batch += 1
                now = time.time_ns() // 1_000_000
                body = f'{{"type":"pnl","price_ts":{now},"ts":{now}}}'
                frame = body + " " * max(0, frame_bytes - len(body))
                for ws, its_turn in list(connections.items()):
                    if its_turn != turn:
                        continue
                    if burn_ns:
                        until = time.perf_counter_ns() + burn_ns
                        while time.perf_counter_ns() < until:
                            pass
                    broadcast((ws,), frame)
                if time.time() > batch * BATCH_SECONDS + delay:  # a pass longer than a batch: skip to now
                    batch = math.ceil(time.time() / BATCH_SECONDS)

    asyncio.run(main())


def measure(args: argparse.Namespace, burn_us: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    ports = [free_port() for _ in range(args.servers)]
    readies = [ctx.Event() for _ in ports]
    servers = [
        ctx.Process(
            target=paced_server,
            args=(port, int(burn_us * 1000), args.frame_bytes, pass_spread(n) * args.spread_ms / 1000, ready),
            daemon=True,
        )
        for n, (port, ready) in enumerate(zip(ports, readies, strict=True))
    ]
    for server in servers:
        server.start()
    for ready in readies:
        ready.wait(30)
    sampler: Sampler | None = None

    def on_start() -> None:
        nonlocal sampler
        sampler = Sampler({f"server{n}": s.pid or 0 for n, s in enumerate(servers)})

    try:
        result = drive_sockets(
            [f"ws://127.0.0.1:{port}/" for port in ports],
            ["-"] * args.sockets,
            args.clients,
            args.seconds,
            True,
            lambda *a: None,
            on_start=on_start,
            nice=args.client_nice,
        )
        cpu = sampler.cpu_percent() if sampler is not None else {}
    finally:
        for server in servers:
            server.kill()
            server.join(5)
    frames = result["pnl_per_second"]
    return {
        "burn_us": burn_us,
        "server_cpu_percent_of_one_core": cpu,
        "server_cpu_us_per_frame": round(sum(cpu.values()) / 100 / frames * 1e6, 1) if frames else None,
    } | {
        k: result[k]
        for k in (
            "opened",
            "pnl_per_second",
            "latency_ms",
            "gap_ms",
            "sent_gap_ms",
            "client_cpu_percent_of_one_core",
            "disconnects",
            "errors",
        )
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--burn-us", default="0,16", help="CPU per frame added to the bare server's, µs (a list)")
    parser.add_argument("--spread-ms", type=float, default=0, help="the processes' passes spread over this window")
    parser.add_argument("--client-nice", type=int, default=10)
    parser.add_argument("--frame-bytes", type=int, default=1800, help="bench.live's mean pnl frame: ~1,790 bytes")
    args = parser.parse_args()

    runs = []
    for burn in [float(b) for b in args.burn_us.split(",")]:
        print(f"burn {burn} µs per frame, {args.seconds:.0f} s …", flush=True)
        runs.append(measure(args, burn))
    command = "python -m bench.floor " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())
    lines = [
        f"# The push's cadence, bare: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}",
        "",
        f"`{command}` on {os.cpu_count()} cores: {args.sockets} sockets over {args.servers} bare websockets"
        f" server process(es), a pass every 100 ms in every process at once serving half its sockets"
        f" (a frame every 200 ms each; passes spread over {args.spread_ms:g} ms), {args.clients} client"
        f" processes at nice {args.client_nice}.",
        "",
        "| added CPU per frame | server CPU per frame | frames/s | gap p50 / p99 / p99.9 / max ms"
        " | gaps over 250 ms | the same by the server's send time | latency p99 / max ms | server CPU % of a core |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        gap = run["gap_ms"]
        lines.append(
            f"| {run['burn_us']} µs | {run['server_cpu_us_per_frame']} µs | {run['pnl_per_second']}"
            f" | {gap['p50']} / {gap['p99']} / {gap['p99.9']} / {gap['max']}"
            f" | {gap['over_250']} of {gap['count']} ({100 * gap['over_250'] / max(1, gap['count']):.3f} %)"
            f" | {run['sent_gap_ms'].get('over_250')} (max {run['sent_gap_ms']['max']} ms)"
            f" | {run['latency_ms']['p99']} / {run['latency_ms']['max']}"
            f" | {run['server_cpu_percent_of_one_core']} |"
        )
    write_results("floor", {"command": command, "machine": {"cores": os.cpu_count()}, "runs": runs}, lines)


if __name__ == "__main__":
    main()

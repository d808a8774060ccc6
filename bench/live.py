"""Live PnL at the design load: thousands of authenticated sockets receiving their PnL as prices move.

    .venv/bin/python -m bench.live [--users 5000] [--positions 50] [--symbols 500] [--rate 2500] [--flush-interval-ms 100] [--pass-spread-ms 60]
                                   [--passes-per-batch 2] [--trace]
                                   [--seconds 300] [--server uvicorn|daphne] [--web 1] [--clients 2]
                                   [--rest-rate 0] [--client-nice 10] [--no-ceiling] [--proxy none|nginx|nginx-split]
                                   [--upstream tcp|unix] [--proxy-workers 0] [--proxy-nice 0] [--api-front-nice 0] [--web-nice 0]
                                   [--cpu-burn 0]

1. Starts its own PostgreSQL and Redis (or uses DATABASE_URL / REDIS_URL) and bulk-loads `--users`
   users holding `--positions` open positions each over `--symbols` symbols; one session per user
   goes straight into the session store.
2. Starts the production topology on this machine: `--web` web processes (`--server`), the feeder
   with the simulated source at `--rate` updates/s over those symbols, a Celery worker.
3. Opens one socket per user (bearer token) from `--clients` client processes (a lean asyncio
   WebSocket client, at nice `--client-nice`: the load generator stands in for browsers on other
   machines; a message is timed by the `price_ts` it carries, found without parsing the JSON), runs
   REST load alongside (`--rest-rate` requests/s to the HTTP pool: orders, portfolio and trades
   reads), and prints a line of progress every 5 s. With `--proxy nginx` the sockets and REST go
   through nginx in front of the pools (its config from deploy/cluster.py and deploy/nginx/), as in
   production: run it and the same command without it to measure the proxy's cost. With
   `--proxy nginx-split` the sockets go through one nginx (the stream front) and REST through
   another (the API front), as deploy/ runs them; `--upstream unix`: nginx reaches the pools on Unix
   sockets (tradingsite.serve --uds), as on one machine. `--cpu-burn PCT` is the control for a
   proxy's cost on a machine it shares with the app: no proxy, but processes (one per `--web`) that
   keep PCT % of a core busy between them in 1-ms slices, as a relay's CPU would; what a proxied run
   costs beyond such a run is the proxy's cost other than its CPU.
4. Then measures a bare `websockets` broadcast server with the same number of sockets and the same
   message size (the ceiling of this machine and client) unless `--no-ceiling`: its delivered rate,
   and its CPU per message next to ours.
Writes bench/results/live-<timestamp>.{json,md}: messages/s, updates/s per user, latency from the
exchange event time to client receipt (p50/p95/p99/max), CPU and RSS per process, Redis and
PostgreSQL load, REST p50/p99, errors and disconnects, and our rate as a share of the ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench import common
from tradingsite.testing.processes import ROOT, Process, fresh_database, procfile_command, production_env
from tradingsite.testing.servers import free_port, wait_for_port

CLK_TCK = os.sysconf("SC_CLK_TCK")
DAPHNE = ["/bin/sh", "-c", "exec daphne --bind 127.0.0.1 --port $PORT tradingsite.asgi:application"]
RCVBUF = 128 * 1024
PRICE_TS = re.compile(rb'"price_ts":(\d+)')
PNL = re.compile(rb'^\{"type": ?"pnl"')  # ours and the ceiling's; a snapshot carries price_ts too
SINCE_TS = re.compile(rb'"since_ts":(\d+)')
SENT_TS = re.compile(rb'"ts":(\d+)')
# Every SIZE_STRIDE-th pnl frame's size, per client process, for the ceiling's size distribution: taken
# over the measured window only (reported and cleared each second, like the latencies). Until
# 2026-12-05 the first 4,000 frames of each client were kept: frames of the connect storm, half as
# large again as the window's (mean 1,651 against 1,080 bytes in `live-20261205-112506`), so the
# ceiling was measured with larger frames than ours and came out lower.
SIZE_STRIDE = 97
TYPE = re.compile(rb'"type":"(\w+)"')

SEED = r"""
import json, random, sys
from decimal import Decimal
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone
from accounts.models import User
from accounts.sessions.backend import ClientInfo, SessionStore
from portfolio.models import Account, Position
from pricefeed.models import Symbol

USERS, POSITIONS, SYMBOLS = {users}, {positions}, {symbols}
names = [f"L{i:03d}USDT" for i in range(SYMBOLS)]
Symbol.objects.bulk_create([Symbol(symbol=n, base_asset=n[:-4], quote_asset="USDT", tick_size=Decimal("0.01"),
    step_size=Decimal("0.001"), min_qty=Decimal("0.001"), min_notional=Decimal("1")) for n in names], batch_size=1000)
password = make_password("{password}")
users = User.objects.bulk_create([User(username=f"live{i}", password=password) for i in range(USERS)], batch_size=2000)
Account.objects.bulk_create([Account(user=u, cash=Decimal("10000000"), quote_asset="USDT") for u in users], batch_size=2000)
rng, now = random.Random(1), timezone.now()
with connection.cursor() as cursor:
    rows = []
    for u in users:
        for name in rng.sample(names, POSITIONS):
            rows.append((u.pk, name, "open", "1.000", "100.00", "100", "0", "0", now))
    with cursor.copy("COPY portfolio_position (user_id, symbol, status, quantity, cost_basis, avg_entry_price, realized_pnl, fees_paid, opened_at) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
tokens = []
for u in users:
    store = SessionStore(None, client=ClientInfo("127.0.0.1", "bench.live"))
    store[SESSION_KEY] = str(u.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = u.get_session_auth_hash()
    store.create()
    tokens.append(store.session_key)
json.dump(tokens, open("{tokens_file}", "w"))
print(len(tokens), "users", len(rows), "positions")
"""


def percentile(values: Sequence[float], q: float) -> float | None:
    return common.percentile(values, q) if values else None


# --- the socket clients (separate processes) ---------------------------------------------------------


def client_process(urls: list[str], tokens: list[str], report: Any, stop: Any, ceiling: bool, nice: int) -> None:
    # The clients stand in for browsers on other machines: at a lower priority (`--client-nice`), the
    # load generator does not take the CPU from the server at the moment a batch's frames are due.
    # The same in both runs, ours and the ceiling's; `--client-nice 0` measures them as equals.
    # On uvloop, as the server runs: the default loop's Python transports cost the load generator
    # about a third more CPU per frame (the same clients in both runs, ours and the ceiling's).
    import uvloop

    _lower_priority(nice)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_clients(urls, tokens, report, stop, ceiling))


def _lower_priority(nice: int) -> None:
    """This process at `nice`, in a scheduling group of its own at that nice. With autogroup on (Linux's
    default for desktops and this machine: /proc/sys/kernel/sched_autogroup_enabled), the CPU is shared
    first between groups (a session each) and only then between the tasks of a group, so a nice value
    alone ranks a process only against the others of its session: the clients at nice 10 still took
    a group's full share (as much as a web process) at the moment a pass was due."""
    if nice == 0:
        return
    if os.getpid() != os.getsid(0):
        os.setsid()  # a new session: a new autogroup
    _group_nice("self", nice)
    os.nice(nice)


def _group_nice(pid: int | str, nice: int) -> None:
    """The scheduling group (autogroup: the session) of process `pid` at `nice`."""
    with contextlib.suppress(OSError):  # no autogroup (a kernel without it, or a cgroup holds the process)
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))


class _Socket(asyncio.Protocol):
    """A WebSocket client reduced to what the bench needs: the upgrade, then unmasked server frames
    parsed straight off the receive buffer, each whole message handed to `on_message`; pings are
    answered, a close is answered and ends it. A general client library (websockets: a generator
    parser, a queue and a task per socket) cost the load generator more CPU than the server it
    measured spent on the same frames: this one leaves the machine to the server."""

    def __init__(self, request: bytes, on_message: Any):
        self.request = request
        self.on_message = on_message
        self.buffer = bytearray()
        self.partial = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._fail(ConnectionError(bytes(buf[: buf.find(b"\r\n")]).decode(errors="replace")))
                return
            del buf[: end + 4]
            self.upgraded = True
            self.opened.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            first, length, head = buf[pos], buf[pos + 1] & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4]), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10]), 10
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            opcode = first & 0x0F
            if opcode in (0, 1, 2):
                if not first & 0x80:  # a fragment: kept until the message's last one
                    self.partial += payload
                    continue
                if self.partial:
                    payload, self.partial = bytes(self.partial + payload), bytearray()
                self.on_message(payload)
            elif opcode == 8:
                self._send(0x88, payload[:2])
                self.transport.close()  # type: ignore[union-attr]
            elif opcode == 9:
                self._send(0x8A, payload)
        del buf[:pos]

    def _send(self, first: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes((first, 0x80 | len(payload))) + mask + masked)  # type: ignore[union-attr]

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        self.transport.close()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed before the upgrade"))
        if not self.closed.done():
            self.closed.set_result(None)


async def _clients(urls: list[str], tokens: list[str], report: Any, stop: Any, ceiling: bool) -> None:
    import base64
    import gc

    # The load generator's own pauses are not the server's latency: collections rarer, start-up frozen
    # (the same in both runs, ours and the ceiling's).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)

    state: dict[str, Any] = {
        "messages": 0,
        "pnl": 0,
        "bytes": 0,
        "opened": 0,
        "closed": 0,
        "errors": 0,
        "latency": [],
        "oldest": [],
        "gaps": [],
        "sent_gaps": [],
        "late": [],  # the second (Unix time) of each gap over 250 ms, as read
        "late_sent": [],  # and by the server's send times
        "late_detail": [],  # (web process, the two send times in Unix ms) of the first of those each second
        "sizes": [],
        "types": {},
    }
    loop = asyncio.get_running_loop()

    async def one(i: int, token: str) -> None:
        url = urls[i % len(urls)]
        host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
        path = "/" + url.split("//", 1)[1].split("/", 1)[1]
        key = base64.b64encode(os.urandom(16)).decode()
        auth = "" if ceiling else f"Authorization: Bearer {token}\r\n"
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n"
        ).encode()
        last = last_sent = 0
        first = True

        def on_message(data: bytes) -> None:
            nonlocal last, last_sent, first
            if first:  # ready when its first frame (our snapshot) is in, not at the handshake
                state["opened"] += 1
                first = False
            state["messages"] += 1
            state["bytes"] += len(data)
            match = PNL.match(data) and PRICE_TS.search(data)
            if match:
                now = time.time_ns() // 1_000_000
                state["pnl"] += 1
                state["latency"].append(now - int(match.group(1)))
                since = SINCE_TS.search(data)
                if since:
                    state["oldest"].append(now - int(since.group(1)))
                if last:
                    state["gaps"].append(now - last)
                    if now - last > 250:
                        state["late"].append(now // 1000)
                last = now
                sent = SENT_TS.search(data)
                if sent:  # the same gap by the server's clock: where a long gap arose
                    if last_sent:
                        state["sent_gaps"].append(int(sent.group(1)) - last_sent)
                        if int(sent.group(1)) - last_sent > 250:
                            state["late_sent"].append(int(sent.group(1)) // 1000)
                            if len(state["late_detail"]) < 200:
                                state["late_detail"].append((i % len(urls), last_sent, int(sent.group(1))))
                    last_sent = int(sent.group(1))
                if state["pnl"] % SIZE_STRIDE == 0:
                    state["sizes"].append(len(data))
            kind = TYPE.search(data[:40])
            if kind:
                name = kind.group(1).decode()
                state["types"][name] = state["types"].get(name, 0) + 1

        client: _Socket | None = None
        try:
            # A receive buffer of a browser's size (not loopback's autotuned megabytes): a client
            # that falls behind pushes back on the server, which then conflates, instead of the
            # kernel queueing minutes of messages and the latency measuring that queue.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.setblocking(False)
            await loop.sock_connect(sock, (host, int(port)))
            _, client = await loop.create_connection(lambda: _Socket(request, on_message), sock=sock)
            await asyncio.wait_for(client.opened, 120)
            await client.closed
            state["closed"] += 1
        except asyncio.CancelledError:
            if client is not None and client.transport is not None:
                client.transport.close()
            raise
        except Exception as exc:  # counted: a socket that could not open or broke
            state["errors"] += 1
            state.setdefault("last_error", repr(exc)[:200])

    tasks = []
    for i, token in enumerate(tokens):
        tasks.append(asyncio.create_task(one(i, token)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # open gradually: a handshake storm measures nothing useful
    while not stop.is_set():
        await asyncio.sleep(1)
        state["cpu"] = time.process_time()  # this client's own CPU: the load generator's share of the machine
        report.put(
            {
                **{k: (list(v) if isinstance(v, list) else v) for k, v in state.items()},
                "_pid": os.getpid(),
                "_at": time.time(),
            }
        )
        for name in ("latency", "oldest", "gaps", "sent_gaps", "late", "late_sent", "late_detail", "sizes"):
            state[name].clear()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --- the bare websockets ceiling ---------------------------------------------------------------------


def ceiling_server(port: int, sizes: list[int], ready: Any) -> None:
    async def main() -> None:
        from websockets.asyncio.server import broadcast, serve

        connections: set[Any] = set()

        async def handler(ws: Any) -> None:
            connections.add(ws)
            try:
                await ws.wait_closed()
            finally:
                connections.discard(ws)

        async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None, max_queue=None):
            ready.set()
            n = 0
            while True:  # as fast as it goes: one message to every socket per round, price_ts = now,
                # each round's size the next of ours (the same distribution of frame sizes)
                body = json.dumps({"type": "pnl", "price_ts": time.time_ns() // 1_000_000})
                frame = body + " " * max(0, sizes[n % len(sizes)] - len(body))
                n += 1
                broadcast(connections, frame)
                await asyncio.sleep(0)

    asyncio.run(main())


# --- process sampling --------------------------------------------------------------------------------


def proc_cpu_rss(pid: int) -> tuple[float, float]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rss = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        return (int(fields[11]) + int(fields[12])) / CLK_TCK, rss / 1024
    except (OSError, StopIteration, IndexError):
        return 0.0, 0.0


def tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").glob("*/children"))
        except OSError:  # the process ended meanwhile (a short-lived child: seen once in CI)
            continue
        for task in tasks:
            with contextlib.suppress(OSError):  # a thread or process that ended meanwhile
                todo.extend(int(c) for c in task.read_text().split())
    return found


class Sampler:
    def __init__(self, processes: dict[str, int]):
        self.processes = processes
        self.start = {name: sum(proc_cpu_rss(p)[0] for p in tree(pid)) for name, pid in processes.items()}
        self.started = time.monotonic()
        self.max_rss: dict[str, float] = dict.fromkeys(processes, 0.0)

    def sample(self) -> None:
        for name, pid in self.processes.items():
            for p in tree(pid):
                self.max_rss[name] = max(self.max_rss[name], proc_cpu_rss(p)[1])

    def cpu_percent(self) -> dict[str, float]:
        wall = time.monotonic() - self.started
        return {
            name: round(100 * (sum(proc_cpu_rss(p)[0] for p in tree(pid)) - self.start[name]) / wall, 1)
            for name, pid in self.processes.items()
        }


class Timeline(threading.Thread):
    """Each second of the run: the machine's CPU (busy and stolen by the hypervisor, in % of one core,
    from /proc/stat) and each process's: what ran when the late gaps came; the machine's major page
    faults and file pages read back after eviction (/proc/vmstat: a host that reclaims page cache
    behind our back, as this one's DAMON does, shows there). And the machine's speed:
    the CPU time (this thread's own, so waiting for a core does not count) of a fixed piece of work,
    in µs (`probe_us`). Every process using more CPU in the same second while the probe's work also
    costs more is the same work done slower (the host's cores shared), not more work."""

    def __init__(self, processes: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.seconds: dict[int, dict[str, float]] = {}
        self.halt = threading.Event()

    @staticmethod
    def _paging() -> tuple[int, int]:
        """Major page faults and file pages read back after eviction (the kernel's refaults), so far."""
        counters = dict(line.split() for line in Path("/proc/vmstat").read_text().splitlines())
        return int(counters.get("pgmajfault", 0)), int(counters.get("workingset_refault_file", 0))

    @staticmethod
    def _machine() -> tuple[float, float, float]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        steal = fields[7] if len(fields) > 7 else 0
        return sum(fields[:8]) / CLK_TCK, idle / CLK_TCK, steal / CLK_TCK

    def _cpu(self) -> dict[str, float]:
        return {n: sum(proc_cpu_rss(p)[0] for p in tree(pid)) for n, pid in self.processes.items()}

    def run(self) -> None:
        last_machine, last_cpu, last_paging = self._machine(), self._cpu(), self._paging()
        while not self.halt.wait(1.0 - time.time() % 1.0):
            second = int(time.time()) - 1  # the second that just ended
            machine, cpu, paging = self._machine(), self._cpu(), self._paging()
            total, idle, steal = (a - b for a, b in zip(machine, last_machine, strict=True))
            row = {"busy": round(100 * (total - idle - steal), 0), "steal": round(100 * steal, 0)}
            row |= {"majflt": paging[0] - last_paging[0], "refaults": paging[1] - last_paging[1]}
            row |= {n: round(100 * (cpu[n] - last_cpu.get(n, 0.0)), 0) for n in cpu}
            row["probe_us"] = sorted(_probe() for _ in range(5))[2]  # the median of five
            self.seconds[second] = row
            last_machine, last_cpu, last_paging = machine, cpu, paging

    def around(self, start: int, late: dict[int, int], shown: int = 5) -> dict[int, dict[str, float]]:
        """The rows of the seconds with the most late gaps (seconds of the run, as `late`)."""
        return {s: self.seconds[start + s] for s in _top_seconds(late, shown) if start + s in self.seconds}

    def typical(self, start: int, end: int) -> dict[str, float]:
        """The median of each column over the run."""
        rows = [row for second, row in self.seconds.items() if start <= second < end]
        return {k: percentile([r.get(k, 0.0) for r in rows], 50) or 0.0 for k in rows[0]} if rows else {}


_PROBE_DATA = list(range(20_000))


def _probe() -> float:
    """This thread's CPU time, in µs, for a fixed piece of pure-Python work (about 1 ms here)."""
    started = time.thread_time()
    total = 0
    for value in _PROBE_DATA:
        total += value * value % 7
    return round((time.thread_time() - started) * 1e6, 0)


# --- REST alongside ----------------------------------------------------------------------------------


async def rest_load(base: str, tokens: list[str], rate: float, seconds: float) -> dict[str, list[float]]:
    """`rate` requests/s in all, a third each POST /orders, GET /portfolio and GET /trades, open loop,
    through bench.rest's lean client (httpx's own CPU would be taken from the push it measures)."""
    from bench.rest import Connections, raw_request

    timings: dict[str, list[float]] = {"orders": [], "portfolio": [], "trades": [], "errors": [], "timeouts": []}
    if rate <= 0:
        return timings
    host, port = base.split("//", 1)[1].split(":")
    connections = Connections(host, int(port), 50)
    await connections.open()
    requests = {
        "orders": [
            raw_request("POST", "/api/v1/orders", t, b'{"symbol":"L000USDT","side":"buy","quantity":"0.001"}')
            for t in tokens[:200]
        ],
        "portfolio": [raw_request("GET", "/api/v1/portfolio", t) for t in tokens[:200]],
        "trades": [raw_request("GET", "/api/v1/trades?limit=100", t) for t in tokens[:200]],
    }
    kinds = list(requests)

    async def one(n: int, due: float) -> None:
        kind = kinds[n % 3]
        try:
            async with asyncio.timeout(10):
                status = await connections.request(requests[kind][n // 3 % len(requests[kind])])
            bucket = kind if status in (200, 202) else "errors"
        except TimeoutError:
            bucket = "timeouts"
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            bucket = "errors"
        timings[bucket].append((time.perf_counter() - due) * 1000)

    start, n, tasks = time.perf_counter(), 0, []
    while (now := time.perf_counter()) - start < seconds:
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - now))
        tasks.append(asyncio.create_task(one(n, due)))
        n += 1
    await asyncio.gather(*tasks)
    return timings


# --- the run -----------------------------------------------------------------------------------------


def drive_sockets(
    urls: list[str],
    tokens: list[str],
    clients: int,
    seconds: float,
    ceiling: bool,
    on_progress: Any,
    rest: Any = None,
    on_opened: Any = None,
    on_start: Any = None,
    nice: int = 0,
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    report, stop = ctx.Queue(), ctx.Event()
    shards = [tokens[i::clients] for i in range(clients)]
    procs = [
        ctx.Process(target=client_process, args=(urls, shard, report, stop, ceiling, nice), daemon=True)
        for shard in shards
    ]
    for proc in procs:
        proc.start()
    latest: dict[int, dict[str, Any]] = {}
    latencies: list[int] = []
    measured: dict[str, list[Any]] = {
        "oldest": [],
        "gaps": [],
        "sent_gaps": [],
        "late": [],
        "late_sent": [],
        "late_detail": [],
        "sizes": [],
    }
    # Wait until every socket is open (or broke), then measure for `seconds`.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        _drain(report, latest, procs, None)
        opened = sum(s.get("opened", 0) + s.get("errors", 0) for s in latest.values())
        if on_opened is not None:
            on_opened(sum(s.get("opened", 0) for s in latest.values()))
        if opened >= len(tokens):
            break
        time.sleep(0.5)
    time.sleep(3)  # let the connect storm's backlog drain before measuring
    _drain(report, latest, procs, None)
    base = {
        k: sum(s.get(k, 0) for s in latest.values()) for k in ("messages", "pnl", "bytes", "closed", "errors", "cpu")
    }
    if on_start is not None:
        on_start()
    started, started_wall = time.monotonic(), time.time()
    started_unix = int(started_wall)
    rest_result = rest() if rest else None
    next_progress = started + 5
    while time.monotonic() - started < seconds:
        _drain(report, latest, procs, latencies, measured, started_wall)
        if time.monotonic() >= next_progress:
            next_progress += 5
            now = {k: sum(s.get(k, 0) for s in latest.values()) for k in ("messages", "closed", "errors")}
            on_progress(time.monotonic() - started, now["messages"] - base["messages"], latencies, now)
        time.sleep(0.2)
    if rest_result is not None:
        rest_result = rest_result.result()
    elapsed = time.monotonic() - started
    _drain(report, latest, procs, latencies, measured, started_wall)
    stop.set()
    for proc in procs:
        proc.join(10)
    totals = {k: sum(s.get(k, 0) for s in latest.values()) - base[k] for k in base}
    types: dict[str, int] = {}
    for s in latest.values():
        for k, v in s.get("types", {}).items():
            types[k] = types.get(k, 0) + v
    opened = sum(s.get("opened", 0) for s in latest.values())
    sizes = measured["sizes"]
    gaps = measured["gaps"]
    return {
        "sockets": len(tokens),
        "opened": opened,
        "seconds": round(elapsed, 1),
        "messages_per_second": round(totals["messages"] / elapsed, 1),
        "pnl_per_second": round(totals["pnl"] / elapsed, 1),
        "updates_per_user_per_second": round(totals["pnl"] / elapsed / max(1, opened), 2),
        "mean_message_bytes": round(totals["bytes"] / max(1, totals["messages"]), 1),
        "latency_ms": {q: percentile(latencies, float(q[1:])) for q in ("p50", "p95", "p99")}
        | {"max": max(latencies, default=None)},
        "oldest_latency_ms": {q: percentile(measured["oldest"], float(q[1:])) for q in ("p50", "p95", "p99")}
        | {"max": max(measured["oldest"], default=None)},
        "gap_ms": {q: percentile(gaps, float(q[1:])) for q in ("p50", "p99", "p99.9")}
        | {"max": max(gaps, default=None), "over_250": sum(g > 250 for g in gaps), "count": len(gaps)},
        "sent_gap_ms": {q: percentile(measured["sent_gaps"], float(q[1:])) for q in ("p50", "p99", "p99.9")}
        | {"max": max(measured["sent_gaps"], default=None), "over_250": sum(g > 250 for g in measured["sent_gaps"])},
        # When the late gaps came: per second of the run, how many (bursts, or spread out?).
        "late_by_second": _by_second(measured["late"], started_unix),
        "late_sent_by_second": _by_second(measured["late_sent"], started_unix),
        "started_unix": started_unix,
        "late_detail": measured["late_detail"],
        "frame_sizes": sizes,
        "client_cpu_percent_of_one_core": round(100 * totals["cpu"] / elapsed, 1),
        "disconnects": totals["closed"],
        "errors": totals["errors"],
        "last_error": next((s["last_error"] for s in latest.values() if "last_error" in s), None),
        "message_types": types,
        "rest": rest_result,
    }


def _logged(log: str, start: int, key: str, fields: dict[str, str]) -> list[dict[str, Any]]:
    """The web processes' JSON log lines carrying `key`, by second of the run, with `fields`
    (name in the result → key in the line): next to late_by_second, what the processes said."""
    found = []
    for line in log.splitlines():
        if f'"{key}"' not in line:
            continue
        with contextlib.suppress(ValueError, KeyError):
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["ts"]).timestamp()
            found.append({"second": int(at) - start, **{name: entry[k] for name, k in fields.items()}})
    return found


def _passes_around(folder: Path, details: list[Any], seconds: list[int], start: int) -> list[dict[str, Any]]:
    """For the first late frame (by the server's send times) in each of `seconds`: the web processes'
    passes (WS_PASS_TRACE lines) from 60 ms before the frame before it to the late one, times in ms
    from that earlier frame. `seconds` count from `start` (Unix time)."""
    fields = (
        "start",
        "ms",
        "frames",
        "waiting",
        "at_batch",
        "batch",
        "arrived",
        "flushed",
        "marking_ms",
        "cpu",
        "wait",
    )
    shown = []
    first: dict[int, tuple[int, int, int]] = {}
    for web, before, sent in details:
        first.setdefault(sent // 1000, (web, before, sent))
    for second in seconds:
        found = first.get(start + second)
        if found is None:
            continue
        web, before, sent = found
        passes = []
        for log in sorted(folder.glob("passes-web*.log")):
            for line in log.read_text().splitlines():
                entry = dict(zip(fields, map(float, line.split()), strict=True))
                if before - 60 <= entry["start"] <= sent + 5:
                    passes.append((log.stem.removeprefix("passes-"), entry))
        rows = [
            f"{name} {p['start'] - before:+7.1f} {p['ms']:6.1f} {p['frames']:5.0f} {p['waiting']:5.0f} "
            f"{'batch' if p['at_batch'] else 'timer'} {p['batch']:6.0f} {p['arrived'] - before:+7.0f} "
            f"{p['flushed'] - before:+7.0f} {p['marking_ms']:5.1f} {p['cpu']:6.1f} {p['wait']:6.1f}"
            for name, p in sorted(passes, key=lambda found: found[1]["start"])
        ]
        shown.append({"second": second, "web": web, "gap_ms": sent - before, "passes": rows})
    return shown


def _by_second(seconds: list[int], start: int) -> dict[int, int]:
    return dict(sorted(Counter(second - start for second in seconds).items()))


def _drain(
    report: Any,
    latest: dict[int, dict[str, Any]],
    procs: list[Any],
    latencies: list[int] | None,
    measured: dict[str, list[Any]] | None = None,
    since: float = 0.0,
) -> None:
    """Take the client processes' reports: cumulative counts (the latest per process) and the
    latencies, oldest-change latencies and per-socket gaps measured since their previous report,
    those of reports written before `since` (Unix time: the measured window's start) left out (a
    report of the connect storm still in the queue when the window began was counted in it)."""
    while not report.empty():
        item = report.get()
        latest[item.pop("_pid")] = item
        if item.pop("_at") < since:
            continue
        if latencies is not None:
            latencies.extend(item["latency"])
        if measured is not None:
            for name, values in measured.items():
                values.extend(item[name])


def arguments() -> argparse.ArgumentParser:
    """The command line (the tests build their runs from it too)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--rate", type=int, default=2500, help="simulated price updates/s")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--web", type=int, default=1, help="web processes")
    parser.add_argument("--clients", type=int, default=2, help="socket client processes")
    parser.add_argument(
        "--rest-rate", type=float, default=0, help="REST requests/s alongside: orders, portfolio and trades reads"
    )
    parser.add_argument(
        "--client-nice", type=int, default=10, help="the socket clients' nice value (0: the server's priority)"
    )
    parser.add_argument(
        "--push-interval-ms",
        type=int,
        default=200,
        help="WS_PUSH_INTERVAL_MS: a socket's frames at most this often (100: one per feed batch, the push's capacity)",
    )
    parser.add_argument(
        "--pass-spread-ms",
        type=int,
        default=60,
        help="WS_PASS_SPREAD_MS: the web processes' passes spread over this much after each batch (0: all at once)",
    )
    parser.add_argument(
        "--passes-per-batch",
        type=int,
        default=2,
        help="WS_PASSES_PER_BATCH: each web process's passes per feed batch (1: one, at the batch)",
    )
    parser.add_argument(
        "--flush-interval-ms",
        type=int,
        default=100,
        help="PRICE_FLUSH_INTERVAL_MS: the feeder's batches this often",
    )
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="each web process writes its passes (WS_PASS_TRACE); the report shows them around late frames",
    )
    parser.add_argument(
        "--proxy",
        choices=["none", "nginx", "nginx-split"],
        default="none",
        help="clients reach the pools through nginx (deploy/nginx/locations.conf), as in production; "
        "nginx-split: two nginx instances, one for the sockets and one for REST (a stream host and an API host)",
    )
    parser.add_argument(
        "--proxy-workers",
        type=int,
        default=0,
        help="with a proxy: nginx's worker processes (the stream front's with nginx-split); 0: one per --web",
    )
    parser.add_argument(
        "--upstream",
        choices=["tcp", "unix"],
        default="tcp",
        help="with a proxy: nginx reaches the pools over loopback TCP or over Unix sockets (serve --uds)",
    )
    parser.add_argument(
        "--proxy-nice",
        type=int,
        default=0,
        help="with --proxy nginx: nginx's scheduling group at this nice (-5: ahead of the app for a core)",
    )
    parser.add_argument(
        "--api-front-nice",
        type=int,
        default=0,
        help="with --proxy nginx-split: the API front's scheduling group at this nice (-10: a request's hops first)",
    )
    parser.add_argument(
        "--web-nice",
        type=int,
        default=0,
        help="the socket pool's processes' scheduling groups at this nice (5: REST ahead of the push for a core)",
    )
    parser.add_argument(
        "--cpu-burn",
        type=float,
        default=0,
        help="a control for a proxy's CPU: processes (one per --web) that keep this %% of one core busy between them",
    )
    return parser


def main() -> None:
    args = arguments().parse_args()
    report = run(args)
    write(report)
    opened = report["ours"]["opened"]
    if opened < args.users:  # a run whose sockets did not all open measured something else: say so
        raise SystemExit(f"bench.live: only {opened} of {args.users} sockets opened; see the clients' errors above")


def burn(percent: float, period: float = 0.001) -> None:
    """Keeps `percent` % of a core busy in slices of `period`: the CPU of a relay without the relay."""
    busy = period * percent / 100
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < busy:
            pass
        time.sleep(max(0.0, period - (time.perf_counter() - start)))


def _serve_unix(pool: str, path: str) -> list[str]:
    """A pool's process as the Procfile runs it, but on a Unix socket (tradingsite.serve --uds)."""
    return ["/bin/sh", "-c", f"exec python -m tradingsite.serve --pool {pool} --uds {path}"]


def _wait_for(where: int | str, proc: subprocess.Popen[Any]) -> None:
    """Until a server listens on the port (an int) or the Unix socket (a path)."""
    if isinstance(where, int):
        wait_for_port(where, 60, proc)
        return
    deadline = time.monotonic() + 60
    while True:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(where)
                return
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nothing listening on {where}") from None
        time.sleep(0.05)


def start_nginx(
    folder: Path, port: int, *, http: list[int | str], ws: list[int | str], workers: int, name: str = "nginx"
) -> Process:
    """nginx in front of the pools, with the production locations (deploy/nginx/locations.conf)."""
    import shutil

    from deploy.cluster import nginx_conf

    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = folder / name / "nginx.conf"
    conf.parent.mkdir(exist_ok=True)
    conf.write_text(
        nginx_conf(
            conf.parent, port=port, http=http, ws=ws, static_parent=folder, logs=folder, workers=workers, per_address=0
        )
    )
    return Process([binary, "-p", str(conf.parent), "-c", str(conf)], env=dict(os.environ))


def run(args: argparse.Namespace, ceiling_seconds: float = 30) -> dict[str, Any]:
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-live-{secrets.token_hex(3)}"
    tmp.mkdir(parents=True)
    database_url, redis_url, started_services = common.servers()
    processes: dict[str, Process] = {}
    try:
        env = production_env(
            database_url=fresh_database(database_url, "benchlive"),
            redis_url=redis_url,
            var_dir=str(tmp),
            API_RATE_LIMIT="1000000",
            LOG_LEVEL="WARNING",
            WS_MAX_CONNECTIONS_PER_USER="5",
            SIMULATED_RATE=str(args.rate),
            WS_PUSH_INTERVAL_MS=str(args.push_interval_ms),
            PRICE_FLUSH_INTERVAL_MS=str(args.flush_interval_ms),
            WS_PASS_SPREAD_MS=str(args.pass_spread_ms),
            WS_PASSES_PER_BATCH=str(args.passes_per_batch),
            DATABASE_POOL_MAX_SIZE="20",
            TRUSTED_PROXY_COUNT="0" if args.proxy == "none" else "1",
            WEB_MAX_CONNECTIONS_PER_ADDRESS="0",  # every bench client is on this machine's loopback
        )
        t0 = time.monotonic()
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        tokens_file = tmp / "tokens.json"
        seed = SEED.replace("{users}", str(args.users)).replace("{positions}", str(args.positions))
        seed = seed.replace("{symbols}", str(args.symbols)).replace("{password}", "bench-live-password")
        seed = seed.replace("{tokens_file}", str(tokens_file))
        out = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", seed],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise RuntimeError("seeding failed:\n" + out.stderr[-3000:])
        tokens = json.loads(tokens_file.read_text())
        print(f"loaded {out.stdout.strip()} in {time.monotonic() - t0:.0f}s", flush=True)

        # The WebSocket pool: `--web` processes, each on a port of its own (so that each is sampled);
        # REST goes to one process of the HTTP pool, as the front proxy would route it.
        ports = [free_port() for _ in range(args.web)]
        # With a proxy and `--upstream unix`, the pools listen on Unix sockets (tradingsite.serve --uds)
        # and nginx reaches them there; the ports are then only the processes' names.
        unix = args.proxy != "none" and args.upstream == "unix"
        sockets_at: dict[str, int | str] = {}
        for i, port in enumerate(ports):
            command = DAPHNE if args.server == "daphne" else procfile_command("ws")
            if unix:
                sockets_at[f"web{i}"] = path = str(tmp / f"ws-{i}.sock")
                command = _serve_unix("ws", path)
            trace = {"WS_PASS_TRACE": str(tmp / f"passes-web{i}.log")} if args.trace else {}
            processes[f"web{i}"] = Process(
                command, env={**env, "PORT": str(port), "WS_PORT": str(port), "WS_WORKERS": "1", **trace}
            )
        http_port = free_port()
        if args.server == "uvicorn":
            command = procfile_command("web")
            if unix:
                sockets_at["http"] = path = str(tmp / "http.sock")
                command = _serve_unix("http", path)
            processes["http"] = Process(command, env={**env, "PORT": str(http_port), "WEB_WORKERS": "1"})
        processes["feeder"] = Process(procfile_command("feeder"), env=env)
        processes["worker"] = Process(procfile_command("worker"), env={**env, "WORKER_CONCURRENCY": "1"})
        for i, port in enumerate(ports):
            _wait_for(sockets_at.get(f"web{i}", port), processes[f"web{i}"].proc)
            if args.web_nice:  # the socket process's session (an autogroup of its own) at this nice
                _group_nice(processes[f"web{i}"].proc.pid, args.web_nice)
        if "http" in processes:
            _wait_for(sockets_at.get("http", http_port), processes["http"].proc)
        processes["worker"].wait_for_line("ready.", 60)
        front = None
        api_front = None
        upstream_ws = [sockets_at.get(f"web{i}", port) for i, port in enumerate(ports)]
        if args.proxy in ("nginx", "nginx-split"):
            front = free_port()
            processes["nginx"] = start_nginx(
                tmp,
                front,
                http=[sockets_at.get("http", http_port)],
                ws=upstream_ws,
                workers=args.proxy_workers or args.web,
            )
            wait_for_port(front, 15, processes["nginx"].proc)
            if args.proxy_nice:  # nginx's session (its master and workers: one autogroup) at this nice
                _group_nice(processes["nginx"].proc.pid, args.proxy_nice)
        if args.proxy == "nginx-split":  # REST through an nginx of its own: not queued behind frames
            api_front = free_port()
            processes["nginx-api"] = start_nginx(
                tmp, api_front, http=[sockets_at.get("http", http_port)], ws=upstream_ws, workers=1, name="nginx-api"
            )
            wait_for_port(api_front, 15, processes["nginx-api"].proc)
            if args.api_front_nice:
                _group_nice(processes["nginx-api"].proc.pid, args.api_front_nice)
        for i in range(args.web if args.cpu_burn else 0):
            share = args.cpu_burn / args.web
            processes[f"burn{i}"] = Process(
                [sys.executable, "-c", f"from bench.live import burn; burn({share})"], env=env
            )
        pids = {name: p.proc.pid for name, p in processes.items()}
        pg_pid = _postgres_pid(database_url)
        redis_pid = _redis_pid(redis_url)
        if pg_pid:
            pids["postgres"] = pg_pid
        if redis_pid:
            pids["redis"] = redis_pid
        urls = [f"ws://127.0.0.1:{port}/ws/v1/portfolio" for port in ([front] if front else ports)]
        redis_client = redis.Redis.from_url(redis_url)
        commands_before = redis_client.info("stats")["total_commands_processed"]
        xact_before = _pg_xacts(database_url)
        sampler: Sampler | None = None

        def progress(elapsed: float, messages: int, latencies: list[int], now: dict[str, int]) -> None:
            nonlocal sampler
            if sampler is not None:
                sampler.sample()
            recent = latencies[-20000:]
            print(
                f"  {elapsed:5.0f}s  {messages / max(elapsed, 0.001):9.0f} msg/s  p50 {percentile(recent, 50)} ms"
                f"  p99 {percentile(recent, 99)} ms  closed {now['closed']}  errors {now['errors']}",
                flush=True,
            )

        print(f"opening {len(tokens)} sockets on {args.web} {args.server} process(es) …", flush=True)
        sampler = Sampler(pids)
        timeline = Timeline(pids)
        timeline.start()
        base = f"http://127.0.0.1:{api_front or front or (http_port if 'http' in processes else ports[0])}"
        loop_runner = _ThreadRunner()
        web_pids = [pids[f"web{i}"] for i in range(args.web)]
        rss_at: dict[int, float] = {}

        def rest() -> Any:
            return loop_runner.submit(rest_load(base, tokens, args.rest_rate, args.seconds))

        def on_opened(opened: int) -> None:
            """Web processes' RSS with 1,000 sockets open and with all of them: the memory slope."""
            mark = 1000 if opened >= 1000 and 1000 not in rss_at else (opened if opened >= len(tokens) else 0)
            if mark:
                rss_at[mark] = sum(proc_cpu_rss(pid)[1] for pid in web_pids)

        def on_start() -> None:
            nonlocal sampler
            sampler = Sampler(pids)  # CPU over the measurement window only, not the connect storm

        # The REST generator runs in this process (a thread): no collection here may hold its requests
        # back and have their lateness counted as the server's (bench.rest measured one of ~40 ms).
        with common.generator_collections_paused():
            ours = drive_sockets(
                urls, tokens, args.clients, args.seconds, False, progress, rest, on_opened, on_start, args.client_nice
            )
        cpu = sampler.cpu_percent()
        rss = sampler.max_rss
        wall = time.monotonic() - sampler.started
        redis_ops = (redis_client.info("stats")["total_commands_processed"] - commands_before) / wall
        pg_xacts = (_pg_xacts(database_url) - xact_before) / wall
        loop_runner.close()
    finally:
        server_log = "\n".join(p.output for name, p in processes.items() if name.startswith("web"))
        for process in processes.values():
            process.stop()
        for service in started_services:
            service.stop()
    problems = [line for line in server_log.splitlines() if "Error" in line or "Traceback" in line]
    if problems:
        (tmp / "web.log").write_text(server_log)
        print(f"web processes logged {len(problems)} error lines: {tmp / 'web.log'}")
    timeline.halt.set()
    timeline.join(5)  # its last row written before the rows are read
    started_unix = ours.pop("started_unix")
    # collections that held a web process 50 ms or more (tradingsite/lib/memory.py), and passes or
    # event-loop holds of 100 ms or more (pricefeed/hub.py)
    ours["gc_pauses"] = _logged(server_log, started_unix, "gc_ms", {"ms": "gc_ms", "generation": "gc_generation"})
    ours["stalls"] = _logged(server_log, started_unix, "stall_ms", {"ms": "stall_ms", "what": "stall"})
    ours["cpu_in_late_seconds"] = timeline.around(started_unix, ours["late_sent_by_second"] or ours["late_by_second"])
    ours["cpu_typical_second"] = timeline.typical(started_unix, started_unix + int(ours["seconds"]))
    details = ours.pop("late_detail")
    if args.trace:
        ours["passes_around_late"] = _passes_around(
            tmp, details, _top_seconds(ours["late_sent_by_second"], 4), started_unix
        )
    rest_timings = ours.pop("rest") or {}
    sizes = ours.pop("frame_sizes") or [300]
    web_cpu_seconds = sum(cpu.get(f"web{i}", 0) for i in range(args.web)) / 100 * ours["seconds"]
    proxy_cpu_us = (
        round(cpu.get("nginx", 0) / 100 * ours["seconds"] / (ours["pnl_per_second"] * ours["seconds"]) * 1e6, 1)
        if args.proxy != "none" and ours["pnl_per_second"]
        else None
    )
    frames = ours["pnl_per_second"] * ours["seconds"]
    cpu_per_frame_us = round(web_cpu_seconds / frames * 1e6, 1) if frames else None
    marks = sorted(rss_at)
    slope_kb = (
        round((rss_at[marks[-1]] - rss_at[marks[0]]) * 1024 / (marks[-1] - marks[0]), 1)
        if len(marks) == 2 and marks[-1] > marks[0]
        else None
    )
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.live " + " ".join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} cores",
        "config": vars(args),
        "ours": ours,
        "cpu_percent_of_one_core": cpu,
        "max_rss_mb": {k: round(v, 1) for k, v in rss.items()},
        "web_rss_mb_at_sockets": {k: round(v, 1) for k, v in rss_at.items()},
        "memory_kb_per_socket": slope_kb,
        "web_cpu_us_per_pnl_frame": cpu_per_frame_us,
        "proxy_cpu_us_per_pnl_frame": proxy_cpu_us,
        # Cores of web process for the design load's 10 frames/s per user, 5,000 users, at this cost.
        "web_cores_for_5000_users_at_10_per_second": round(50_000 * cpu_per_frame_us / 1e6, 2)
        if cpu_per_frame_us
        else None,
        "frame_bytes": {
            "mean": round(sum(sizes) / len(sizes), 1),
            "p50": percentile(sizes, 50),
            "p99": percentile(sizes, 99),
        },
        "redis_commands_per_second": round(redis_ops, 1),
        "postgres_transactions_per_second": round(pg_xacts, 1),
        "rest": {
            kind: {"count": len(v), "p50_ms": _round(percentile(v, 50)), "p99_ms": _round(percentile(v, 99))}
            for kind, v in rest_timings.items()
        },
    }
    if not args.no_ceiling:
        print("bare websockets broadcast ceiling …", flush=True)
        result["ceiling"] = measure_ceiling(len(tokens), sizes, args.clients, ceiling_seconds, args.client_nice)
        if result["ceiling"]["messages_per_second"]:
            result["ratio_to_ceiling"] = round(ours["pnl_per_second"] / result["ceiling"]["messages_per_second"], 3)
        bare, own = result["ceiling"]["server_cpu_us_per_message"], result["web_cpu_us_per_pnl_frame"]
        result["cpu_ratio_to_ceiling"] = round(bare / own, 3) if bare and own else None
    return result


def measure_ceiling(sockets: int, sizes: list[int], clients: int, seconds: float, nice: int = 0) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    port, ready = free_port(), ctx.Event()
    server = ctx.Process(target=ceiling_server, args=(port, sizes, ready), daemon=True)
    server.start()
    ready.wait(30)
    sampler: Sampler | None = None

    def on_start() -> None:
        nonlocal sampler
        sampler = Sampler({"ceiling": server.pid or 0})

    try:
        result = drive_sockets(
            [f"ws://127.0.0.1:{port}/"],
            ["-"] * sockets,
            clients,
            seconds,
            True,
            lambda *a: None,
            on_start=on_start,
            nice=nice,
        )
        server_cpu = sampler.cpu_percent()["ceiling"] if sampler is not None else 0.0
    finally:
        server.kill()
        server.join(5)
    keep = ("sockets", "opened", "messages_per_second", "mean_message_bytes", "latency_ms", "errors")
    rate = result["messages_per_second"]
    return {k: result[k] for k in keep} | {
        "server_cpu_percent_of_one_core": server_cpu,
        # What one frame costs the bare server: our web CPU per frame is compared with it.
        "server_cpu_us_per_message": round(server_cpu / 100 / rate * 1e6, 1) if rate else None,
        "client_cpu_percent_of_one_core": result["client_cpu_percent_of_one_core"],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _pg_xacts(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0


def _postgres_pid(database_url: str) -> int | None:
    try:
        with psycopg.connect(database_url) as conn:
            data_dir = conn.execute("SHOW data_directory").fetchone()
        return int(Path(str(data_dir[0]), "postmaster.pid").read_text().split()[0]) if data_dir else None
    except (OSError, psycopg.Error, ValueError):
        return None


def _redis_pid(redis_url: str) -> int | None:
    try:
        return int(redis.Redis.from_url(redis_url).info("server")["process_id"])
    except (redis.RedisError, KeyError, ValueError):
        return None


class _ThreadRunner:
    """An event loop on a thread, for the REST load beside the socket measurement."""

    def __init__(self) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def write(report: dict[str, Any]) -> None:
    ours, lat = report["ours"], report["ours"]["latency_ms"]
    old, gap, fb = ours["oldest_latency_ms"], ours["gap_ms"], report["frame_bytes"]
    sent = ours["sent_gap_ms"]
    cfg = report["config"]
    lines = [
        f"# Live PnL, {report['when']}",
        "",
        f"`{report['command']}` on {report['machine']}: {cfg['users']} users × {cfg['positions']} positions over"
        f" {cfg['symbols']} symbols, simulated feed at {cfg['rate']} updates/s, {cfg['web']} {cfg['server']} web"
        f" process(es), {cfg['clients']} client processes, REST {cfg['rest_rate']} requests/s to the HTTP pool"
        + {
            "nginx": ", everything through nginx.",
            "nginx-split": ", the sockets through one nginx and REST through another.",
        }.get(cfg.get("proxy") or "none", ", direct (no proxy).")
        + (
            " nginx reaches the pools over Unix sockets."
            if cfg.get("proxy", "none") != "none" and cfg.get("upstream") == "unix"
            else ""
        )
        + (
            f" Control for a proxy's CPU: {cfg['cpu_burn']} % of a core kept busy in 1-ms slices."
            if cfg.get("cpu_burn")
            else ""
        ),
        "",
        "| measure | measured | target |",
        "|---|---|---|",
        f"| sockets open / asked | {ours['opened']} / {ours['sockets']} | 5,000 |",
        f"| messages/s delivered (all types) | {ours['messages_per_second']} | |",
        f"| pnl frames/s | {ours['pnl_per_second']} | |",
        f"| pnl frames/s per user | {ours['updates_per_user_per_second']} | ≥ 4 |",
        f"| newest price → client p50 / p95 / p99 / max ms | {lat['p50']} / {lat['p95']} / {lat['p99']} / {lat['max']} | p99 ≤ 200, max ≤ 1000 |",
        f"| oldest change → client p50 / p95 / p99 / max ms | {old['p50']} / {old['p95']} / {old['p99']} / {old['max']} | p99 ≤ 400 |",
        f"| per-socket gap between pnl frames p50 / p99 / p99.9 / max ms | {gap['p50']} / {gap['p99']} / {gap['p99.9']} / {gap['max']} | ≤ 250 |",
        f"| gaps over 250 ms | {gap['over_250']} of {gap['count']} | 0 |",
        f"| the same gaps by the server's send time p50 / p99 / p99.9 / max ms | {sent['p50']} / {sent['p99']} /"
        f" {sent['p99.9']} / {sent['max']}; {sent.get('over_250')} over 250 ms | |",
        f"| pnl frame bytes mean / p50 / p99 | {fb['mean']} / {fb['p50']} / {fb['p99']} | |",
        f"| web CPU per pnl frame | {report['web_cpu_us_per_pnl_frame']} µs | |",
        f"| nginx CPU per pnl frame | {report.get('proxy_cpu_us_per_pnl_frame')} µs | |",
        f"| web RSS at sockets (MB) | {report['web_rss_mb_at_sockets']} | |",
        f"| memory per socket (RSS slope, 1,000 → all) | {report['memory_kb_per_socket']} KB | ≤ 40 KB |",
        f"| disconnects / errors | {ours['disconnects']} / {ours['errors']} | 0 |",
        f"| mean message bytes | {ours['mean_message_bytes']} | |",
    ]
    for kind, row in report["rest"].items():
        target = {"orders": "p99 ≤ 50", "portfolio": "p99 ≤ 30", "trades": "p99 ≤ 50", "timeouts": "0"}.get(kind, "")
        lines.append(
            f"| REST {kind}: count, p50 / p99 ms | {row['count']}, {row['p50_ms']} / {row['p99_ms']} | {target} |"
        )
    if "ceiling" in report:
        c = report["ceiling"]
        lines.append(
            f"| bare websockets broadcast, same sockets and frame sizes: msg/s | {c['messages_per_second']} | |"
        )
        lines.append(f"| our pnl frames / ceiling | {report.get('ratio_to_ceiling')} | ≥ 0.5 |")
        lines.append(
            f"| server CPU per frame: bare broadcast / ours (µs) | {c.get('server_cpu_us_per_message')} /"
            f" {report['web_cpu_us_per_pnl_frame']} (ratio {report.get('cpu_ratio_to_ceiling')}) | |"
        )
    lines += ["", "| process | CPU % of one core | max RSS MB |", "|---|---|---|"]
    for name, cpu in report["cpu_percent_of_one_core"].items():
        lines.append(f"| {name} | {cpu} | {report['max_rss_mb'].get(name)} |")
    lines.append(f"| socket clients (load generator) | {ours.get('client_cpu_percent_of_one_core')} | |")
    lines += [
        "",
        f"Redis: {report['redis_commands_per_second']} commands/s. PostgreSQL: {report['postgres_transactions_per_second']}"
        " transactions/s.",
        f"Message types: {ours['message_types']}. Last client error: {ours['last_error']}",
        "",
        "Gaps over 250 ms by second of the run, as read: "
        f"{_busiest(ours.get('late_by_second', {}))}; by the server's send times: "
        f"{_busiest(ours.get('late_sent_by_second', {}))}. Garbage collections that held a web process"
        " 50 ms or more (second: ms, generation): "
        + (", ".join(f"{p['second']}: {p['ms']:.0f} ({p['generation']})" for p in ours.get("gc_pauses", [])) or "none")
        + ". Passes or event-loop holds of 100 ms or more (second: ms, what): "
        + (", ".join(f"{p['second']}: {p['ms']:.0f} ({p['what']})" for p in ours.get("stalls", [])) or "none")
        + ".",
        "",
        "CPU in % of one core, in the seconds with the most late gaps (by the server's send times, else as"
        " read) and in the median second of the run (busy: the whole machine's; steal: taken by the host):",
        "",
    ]
    columns = list(ours.get("cpu_typical_second", {}))
    if columns:
        lines += ["| second | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines.append("| median | " + " | ".join(f"{ours['cpu_typical_second'][c]:g}" for c in columns) + " |")
        for second, row in ours.get("cpu_in_late_seconds", {}).items():
            lines.append(f"| {second} | " + " | ".join(f"{row.get(c, 0):g}" for c in columns) + " |")
        lines.append("")
    for around in ours.get("passes_around_late", []):
        lines += [
            f"Second {around['second']}: the web processes' passes around a gap of {around['gap_ms']} ms between"
            f" frames of a socket on web{around['web']} (times in ms from the earlier frame; start, ms, frames, left waiting, kind,"
            " batch, the batch's arrival and its flush by the feeder, prices_changed ms, ms on a CPU and"
            " waiting for one):",
            "",
            "```",
            *around["passes"],
            "```",
            "",
        ]
    common.write_results("live", report, lines)


def _busiest(by_second: dict[int, int], shown: int = 12) -> str:
    """`second: count` for the seconds with the most late gaps (in the order of the run), and how
    many seconds had any."""
    if not by_second:
        return "none"
    top = _top_seconds(by_second, shown)
    return f"{len(by_second)} seconds had some; most in " + ", ".join(f"{s} s: {by_second[s]}" for s in top)


def _top_seconds(by_second: dict[int, int], shown: int) -> list[int]:
    """The `shown` seconds with the most late gaps, in the order of the run."""
    return sorted(sorted(by_second, key=by_second.__getitem__, reverse=True)[:shown])


if __name__ == "__main__":
    main()

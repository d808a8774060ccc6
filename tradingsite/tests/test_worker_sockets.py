"""`tradingsite.serve --workers N` gives each worker its own listening socket on the port
(SO_REUSEPORT): connections opened at once are spread over the workers, and a worker that dies is
started again on its socket and serves its share."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tradingsite.testing.processes import Process
from tradingsite.testing.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

CONNECTIONS = 100


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(child) for child in children]
    return found


def _workers(parent: int) -> list[int]:
    """The server's worker processes (its children that hold a listening socket of their own)."""
    return [pid for pid in _children(parent) if _socket_inodes(pid)]


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _established(port: int) -> set[int]:
    """Inodes of the established TCP connections on the server's side of `port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state = int(fields[1].split(":")[1], 16), fields[3]
        if local_port == port and state == "01":
            inodes.add(int(fields[9]))
    return inodes


def _held_by(port: int, workers: list[int]) -> Counter[int]:
    established = _established(port)
    return Counter({pid: len(_socket_inodes(pid) & established) for pid in workers})


def _open(port: int) -> list[socket.socket]:
    opened = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(CONNECTIONS)]
    for sock in opened:  # one request each: every connection accepted and served
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    for sock in opened:
        assert sock.recv(65536).startswith(b"HTTP/1.1 200"), "a connection was not served"
    return opened


def test_connections_opened_at_once_are_spread_over_the_workers_and_a_dead_one_comes_back(production_env):
    port = free_port()
    command = [
        "/bin/sh",
        "-c",
        f"exec python -m tradingsite.serve --pool http --host 127.0.0.1 --port {port} --workers 2",
    ]
    server = Process(command, env=production_env)
    opened: list[socket.socket] = []
    try:
        wait_for_port(port, 30, server.proc)
        deadline = time.monotonic() + 30
        while len(workers := _workers(server.proc.pid)) < 2:
            assert time.monotonic() < deadline, server.output
            time.sleep(0.2)
        opened = _open(port)
        held = _held_by(port, workers)
        assert sum(held.values()) == CONNECTIONS
        assert min(held.values()) >= 30, held  # binomial(100, 1/2): below 30 once in ~50,000 runs

        for sock in opened:
            sock.close()
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(now := _workers(server.proc.pid)) < 2 or workers[0] in now:
            assert time.monotonic() < deadline, server.output
            time.sleep(0.2)
        while httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, server.output
            time.sleep(0.2)
        opened = _open(port)
        held = _held_by(port, now)
        assert min(held.values()) >= 30, held  # the new worker serves the dead one's share
        # and /metrics no longer sums in the dead worker's live gauges (sockets open, tasks)
        metrics = Path(production_env["VAR_DIR"]) / "metrics" / f"http-{port}"
        live = {path.name for path in metrics.glob("gauge_live*.db")}
        assert any(name.endswith(f"_{now[0]}.db") for name in live), live
        assert not any(name.endswith(f"_{workers[0]}.db") for name in live), live
    finally:
        for sock in opened:
            sock.close()
        server.stop()


def test_a_server_whose_app_cannot_start_stops_with_an_error_instead_of_restarting_for_ever(production_env):
    """Workers that die before they finish start-up (here: an import that fails, the settings module
    missing) are not started again and again while the port accepts connections nobody serves: after
    a few in a row the server stops with uvicorn's start-up failure status."""
    port = free_port()
    command = [
        "/bin/sh",
        "-c",
        f"exec python -m tradingsite.serve --pool http --host 127.0.0.1 --port {port} --workers 2",
    ]
    server = Process(command, env={**production_env, "DJANGO_SETTINGS_MODULE": "tradingsite.no_such_settings"})
    try:
        assert server.proc.wait(60) == 3, server.output  # STARTUP_FAILURE
        assert "failed to start" in server.output, server.output
    finally:
        server.stop()


def _accepted_on(path: Path) -> list[tuple[int, int]]:
    """(process id, the kernel's send buffer: `ss`'s tb) of each connection accepted on `path`."""
    out = subprocess.run(["ss", "-x", "-m", "-p", "src", str(path)], capture_output=True, text=True, check=True)
    return [(int(pid), int(tb)) for pid, tb in re.findall(r"pid=(\d+).*?\btb(\d+)", out.stdout, re.S)]


def test_a_unix_socket_instance_serves_a_socket_per_worker_with_the_small_send_buffer(production_env, tmp_path):
    """`--uds PATH --workers 2` (a front proxy on the same machine): each worker on PATH.1 / PATH.2,
    and the connections they accept get WEB_SEND_BUFFER_BYTES (Unix sockets do not inherit the
    listener's as TCP's do: without it, 208 KB of frames queue before a slow client pushes back)."""
    path = tmp_path / "app.sock"
    paths = [Path(f"{path}.1"), Path(f"{path}.2")]
    paths[0].write_text("")  # a stale non-socket file is refused; replaced below by a stale socket
    command = ["/bin/sh", "-c", f"exec python -m tradingsite.serve --pool all --uds {path} --workers 2"]
    env = {**production_env, "WEB_SEND_BUFFER_BYTES": "32768"}
    refused = Process(command, env=env)
    assert refused.proc.wait(60) != 0
    assert "not a socket" in refused.output, refused.output
    paths[0].unlink()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(paths[0]))  # what an instance that was killed leaves behind
    stale.close()

    server = Process(command, env=env)
    opened: list[socket.socket] = []
    holders: set[int] = set()
    try:
        for unix_path in paths:
            deadline = time.monotonic() + 30
            while True:
                sock = socket.socket(socket.AF_UNIX)
                try:
                    sock.connect(str(unix_path))
                    break
                except OSError:
                    sock.close()
                    assert server.proc.poll() is None, server.output
                    assert time.monotonic() < deadline, server.output
                    time.sleep(0.1)
            sock.settimeout(5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200"), server.output
            opened.append(sock)
            [(pid, send_buffer)] = _accepted_on(unix_path)
            assert send_buffer == 2 * 32768  # (the kernel doubles what it is asked for)
            holders.add(pid)
        assert len(holders) == 2  # a worker on each path
        assert server.proc.pid not in holders
    finally:
        for sock in opened:
            sock.close()
        server.stop()

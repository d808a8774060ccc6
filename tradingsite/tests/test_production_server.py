"""Production wiring end to end: real PostgreSQL and Redis, the Procfile's own commands."""

import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tradingsite.testing.processes import ROOT, Process, procfile_command
from tradingsite.testing.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _send_until_answered(port: int, head: bytes, chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """Sends the head, then chunks until the server answers; returns (answer, body bytes sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        sent = 0
        for chunk in chunks:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break  # the server closed it: its answer is waiting
            sent += len(chunk)
        sock.settimeout(5)
        return _read_answer(sock), sent


def _read_answer(sock: socket.socket) -> bytes:
    """The whole answer: its head and its Content-Length of body (they may come in two reads), or
    what arrived before the server closed."""
    answer = b""
    while True:
        head, separator, body = answer.partition(b"\r\n\r\n")
        if separator and b"content-length:" in head.lower():
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            if len(body) >= length:
                return answer
        try:
            more = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return answer
        if not more:
            return answer
        answer += more


def assert_oversized_bodies_are_refused_unread(port: int) -> None:
    """A 200 MB login is answered 413 at its headers; a chunked one at the 1 MB limit."""
    started = time.monotonic()
    head = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: testserver\r\nContent-Type: application/json\r\n"
        b"Content-Length: 209715200\r\n\r\n"
    )
    answer, sent = _send_until_answered(port, head, (b"x" * 65536 for _ in range(3200)))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"request_too_large"' in answer
    assert sent < 20 * 1024 * 1024, sent  # refused long before 200 MB went over
    assert time.monotonic() - started < 5

    head = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: testserver\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
    answer, sent = _send_until_answered(port, head, (chunk for _ in range(3200)))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 20 * 1024 * 1024, sent


def test_migrate_check_and_healthz_on_the_production_asgi_server(production_env):
    migrate = manage(production_env, "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    check = manage(production_env, "check")
    assert check.returncode == 0, check.stderr
    assert "System check identified no issues" in check.stdout

    port = free_port()
    web = Process(procfile_command("web"), env={**production_env, "PORT": str(port)})
    try:
        wait_for_port(port, 30, web.proc)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert "uvicorn" in health.headers.get("server", "")
        assert_oversized_bodies_are_refused_unread(port)

        ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 503  # no feeder yet: prices missing
        assert ready.json()["checks"]["database"] == {"ok": True}
        assert ready.json()["checks"]["redis"] == {"ok": True}

        feeder = Process(procfile_command("feeder"), env=production_env)
        try:
            deadline = time.monotonic() + 30
            while (ready := httpx.get(f"http://127.0.0.1:{port}/readyz")).status_code != 200:
                assert time.monotonic() < deadline, ready.text + feeder.output
                time.sleep(0.2)
            assert ready.json()["checks"]["prices"]["state"] == "simulated"
        finally:
            assert feeder.stop() == 0, feeder.output  # SIGTERM: final flush, clean exit
    finally:
        web.stop()

"""The front proxy's own bounds, with the configuration deployments use (deploy/cluster.py renders it
around deploy/nginx/locations.conf): connections per client address are capped at nginx, since the
apps behind it see only nginx's address."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.cluster import nginx_conf
from tradingsite.testing.processes import Process
from tradingsite.testing.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

CAP = 3


class HoldingUpstream:
    """An upstream that accepts and never answers: each request through nginx stays in progress."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def proxy() -> Iterator[int]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        pytest.fail("nginx is not installed (.ci/run installs nginx-light)")
    upstream = HoldingUpstream()
    folder = Path(tempfile.mkdtemp(prefix="tradingsite-nginx-"))
    port = free_port()
    conf = folder / "nginx.conf"
    up = [upstream.port]
    conf.write_text(nginx_conf(folder, port=port, http=up, ws=up, static_parent=folder, logs=folder, per_address=CAP))
    nginx = Process([binary, "-p", str(folder), "-c", str(conf)], env=dict(os.environ))
    try:
        wait_for_port(port, 10, nginx.proc)
        yield port
    finally:
        nginx.stop()
        upstream.close()


def upgrade(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), source_address=(source, 0), timeout=5)
    sock.sendall(
        b"GET /ws/v1/portfolio HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return sock


def answer_within(sock: socket.socket, seconds: float) -> bytes:
    sock.settimeout(seconds)
    try:
        return sock.recv(4096)
    except TimeoutError:
        return b""


def test_nginx_caps_the_connections_of_one_client_address(proxy: int) -> None:
    held = [upgrade(proxy) for _ in range(CAP)]
    try:
        assert all(answer_within(sock, 0.3) == b"" for sock in held)  # in progress: the upstream holds them
        refused = upgrade(proxy)
        assert answer_within(refused, 5).startswith(b"HTTP/1.1 429")
        other = upgrade(proxy, source="127.0.0.2")  # another address has its own count
        held.append(other)
        assert answer_within(other, 0.3) == b""
        held.pop(0).close()
        again = upgrade(proxy)
        held.append(again)
        assert answer_within(again, 0.5) == b""  # the place freed is taken again
    finally:
        for sock in held:
            sock.close()

"""Two production web processes sharing Redis and PostgreSQL, as behind a load balancer: revocation,
handshake refusals and rate limits hold whichever process a request reaches."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time

import httpx
import pytest
import websockets

from tradingsite.testing.processes import ONE_POOL, ROOT, Process
from tradingsite.testing.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "admin-password-for-tests-1"


@pytest.fixture
def two_servers(production_env):
    env = {**production_env, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD, "LOGIN_FAILURE_LIMIT": "5"}
    superuser = ["createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com"]
    for args in (["migrate", "--noinput"], superuser):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    servers = []
    try:
        for _ in range(2):
            port = free_port()
            servers.append((f"127.0.0.1:{port}", Process(ONE_POOL, env={**env, "PORT": str(port)})))
        for address, process in servers:
            wait_for_port(int(address.rsplit(":", 1)[1]), 30, process.proc)
        yield [address for address, _ in servers]
    finally:
        for _, process in servers:
            process.stop()


def register(base: str, username: str) -> str:
    response = httpx.post(
        f"http://{base}/api/v1/auth/register", json={"username": username, "password": "trader-password-123"}
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def login(base: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"http://{base}/api/v1/auth/login", json={"username": username, "password": password})


def admin_session(base: str) -> httpx.Client:
    """A browser-like admin: logs in through the login page (CSRF and all)."""
    client = httpx.Client(base_url=f"http://{base}", headers={"Origin": f"http://{base}"})
    page = client.get("/admin/", follow_redirects=True)
    token = csrf_token(page.text)
    done = client.post(
        "/accounts/login/",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"},
    )
    assert done.status_code == 302, done.text
    return client


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def force_logout(admin: httpx.Client, user_id: int) -> None:
    page = admin.get("/admin/accounts/user/")
    token = csrf_token(page.text)
    done = admin.post(
        "/admin/accounts/user/",
        data={"action": "force_logout", "_selected_action": str(user_id), "csrfmiddlewaretoken": token},
    )
    assert done.status_code == 302, done.text


async def wait_closed(ws: websockets.ClientConnection) -> int:
    try:
        while True:
            await ws.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else -1


async def socket_closed_by_force_logout(a: str, token: str, admin: httpx.Client, user_id: int) -> float:
    async with websockets.connect(
        f"ws://{a}/ws/v1/portfolio", additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        assert '"snapshot"' in await asyncio.wait_for(ws.recv(), 5)
        closed = asyncio.create_task(wait_closed(ws))
        started = time.monotonic()
        await asyncio.to_thread(force_logout, admin, user_id)
        code = await asyncio.wait_for(closed, 5)
        elapsed = time.monotonic() - started
    assert code == 4401
    return elapsed


def test_force_logout_through_b_closes_a_socket_held_by_a_within_a_second(two_servers):
    a, b = two_servers
    token = register(a, "trader")
    user_id = httpx.get(f"http://{a}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["id"]
    elapsed = asyncio.run(socket_closed_by_force_logout(a, token, admin_session(b), user_id))
    print(f"force-logout on B → 4401 on A's socket after {elapsed * 1000:.0f} ms (admin POST included)")
    assert elapsed < 1.0


async def handshake_status(url: str, **headers: str) -> int:
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=5):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


def test_refused_handshakes_get_http_403_from_the_real_server(two_servers):
    a, b = two_servers
    token = register(a, "trader")
    url = f"ws://{a}/ws/v1/portfolio"
    origin = f"http://{a.split(':')[0]}"
    assert asyncio.run(handshake_status(url, Cookie=f"sessionid={token}", Origin=origin)) == 101
    assert asyncio.run(handshake_status(url, Origin=origin)) == 403
    assert asyncio.run(handshake_status(url, Cookie=f"sessionid={token}", Origin="http://evil-127.0.0.1")) == 403
    assert asyncio.run(handshake_status(url, Cookie=f"sessionid={token}", Origin="null")) == 403
    httpx.post(f"http://{b}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert asyncio.run(handshake_status(url, Authorization=f"Bearer {token}")) == 403


def test_login_failures_count_across_both_processes(two_servers):
    a, b = two_servers
    register(a, "victim")
    register(a, "bystander")
    for base in (a, b, a, b, a):
        assert login(base, "victim", "wrong-password").status_code == 401
    for base in (b, a):
        refused = login(base, "victim", "trader-password-123")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"].isdigit()
    rotated = httpx.post(
        f"http://{b}/api/v1/auth/login",
        json={"username": "victim", "password": "trader-password-123"},
        headers={"X-Forwarded-For": "198.51.100.77"},
    )
    assert rotated.status_code == 429  # no trusted proxy configured: the header changes nothing
    assert login(b, "bystander", "trader-password-123").status_code == 200

"""The WebSocket handshake authenticates before accept, checks Origin, and an ended session closes
its sockets with 4401."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts import services
from accounts.sessions import policy
from pricefeed.services import symbol_sync_from_snapshot
from tradingsite.asgi import application

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def token(owner):
    symbol_sync_from_snapshot()
    response = Client().post(
        "/api/v1/auth/login", {"username": "owner", "password": "owner-password-1"}, content_type="application/json"
    )
    return response.json()["token"]


def socket(*, cookie: str | None = None, bearer: str | None = None, origin: str | None = "http://testserver"):
    headers = []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    if bearer:
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
    return WebsocketCommunicator(application, "/ws/v1/portfolio", headers=headers)


async def accepted(ws: WebsocketCommunicator) -> bool:
    connected, _ = await ws.connect(timeout=3)
    if connected:
        await ws.receive_json_from(timeout=3)  # the snapshot
    else:
        await ws.disconnect()
    return connected


async def close_code(ws: WebsocketCommunicator, within: float = 2) -> int:
    while True:
        message = await ws.receive_output(within)
        if message["type"] == "websocket.close":
            return message["code"]


async def test_a_live_session_by_cookie_or_bearer_is_accepted(price_hub, token):
    browser, script = socket(cookie=token), socket(bearer=token, origin=None)
    assert await accepted(browser)
    assert await accepted(script)  # non-browser client: no Origin needed
    await browser.disconnect()
    await script.disconnect()


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://evil-testserver",
        "http://testserver.evil.example",
        "null",
        "file://",
        "testserver",
    ],
)
async def test_foreign_origins_are_refused(price_hub, token, origin):
    assert not await accepted(socket(cookie=token, origin=origin))


async def test_a_cookie_without_origin_is_refused(price_hub, token):
    assert not await accepted(socket(cookie=token, origin=None))


async def test_no_session_a_garbage_one_or_a_revoked_one_is_refused(price_hub, token):
    assert not await accepted(socket())
    assert not await accepted(socket(cookie="nonexistentsessionkey0000000000"))
    assert not await accepted(socket(bearer="not a token!", origin=None))
    await database_sync_to_async(services.session_end)(session_key=token)
    assert not await accepted(socket(cookie=token))
    assert not await accepted(socket(bearer=token, origin=None))


async def test_an_expired_session_is_refused(price_hub, token, monkeypatch, settings):
    real = policy.now
    monkeypatch.setattr(policy, "now", lambda: real() + settings.SESSION_IDLE_TIMEOUT + 1)
    assert not await accepted(socket(cookie=token))


async def test_ending_the_session_closes_its_sockets_with_4401(price_hub, token, owner):
    first, second = socket(cookie=token), socket(bearer=token, origin=None)
    assert await accepted(first)
    assert await accepted(second)
    other_token = await database_sync_to_async(
        lambda: (
            Client()
            .post(
                "/api/v1/auth/login",
                {"username": "owner", "password": "owner-password-1"},
                content_type="application/json",
            )
            .json()["token"]
        )
    )()
    other = socket(cookie=other_token)
    assert await accepted(other)

    await database_sync_to_async(services.session_end)(session_key=token)
    assert await close_code(first) == 4401
    assert await close_code(second) == 4401
    assert await other.receive_nothing(timeout=0.3)  # a different session of the same user lives on
    await database_sync_to_async(services.user_sessions_end)(user_id=owner.pk)
    assert await close_code(other) == 4401
    for ws in (first, second, other):
        await ws.disconnect()


async def test_a_socket_closes_with_4401_when_its_session_expires(price_hub, owner, settings):
    settings.SESSION_IDLE_TIMEOUT = 1  # seconds (the env minimum is 60; tests may go lower)
    response = await database_sync_to_async(
        lambda: Client().post(
            "/api/v1/auth/login", {"username": "owner", "password": "owner-password-1"}, content_type="application/json"
        )
    )()
    ws = socket(cookie=response.json()["token"])
    assert await accepted(ws)
    started = asyncio.get_running_loop().time()
    assert await close_code(ws, within=3) == 4401
    assert asyncio.get_running_loop().time() - started < 1.5
    await ws.disconnect()

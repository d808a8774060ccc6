"""A Redis restart breaks every pooled connection; the first command on each must not fail.

`CLIENT KILL` drops the connections of every client but the killer's (what a restart does to them,
without the wait): the next command of each pool finds its connection gone and must go through on a
fresh one (tradingsite/lib/aredis.py: RETRY_ONCE). Before this, each idle pooled connection failed
one command after a restart (bench/chaos.py), among them a socket's cleanup of its connection count."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache

from accounts.sessions.repository import RedisSessionRepository
from tradingsite.lib.aredis import client_for

pytestmark = pytest.mark.integration


def drop_every_connection(redis_client) -> None:
    killed = redis_client.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1


async def test_the_async_pools_of_the_web_processes_survive_their_connections_being_dropped(redis_client):
    client = client_for(str(settings.REDIS_URL))
    await client.set("reconnect:k", "1")
    layer = get_channel_layer()
    await layer.group_add("reconnect", "reconnect.channel")
    drop_every_connection(redis_client)
    assert await client.get("reconnect:k") == b"1"
    await layer.group_send("reconnect", {"type": "ping"})  # the channel layer's own pool
    await layer.group_discard("reconnect", "reconnect.channel")


def test_the_sync_clients_of_sessions_and_cache_survive_their_connections_being_dropped(redis_client):
    sessions = RedisSessionRepository(str(settings.REDIS_URL))
    assert sessions.get("no-such-session") is None
    cache.set("reconnect", 1)
    drop_every_connection(redis_client)
    assert sessions.get("no-such-session") is None
    assert cache.get("reconnect") == 1

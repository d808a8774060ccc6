"""Sending to channel-layer groups from synchronous code.

In a web process, sync code runs in a thread beside the server's event loop, and `async_to_sync`
sends on that loop (with its open Redis connections). A Celery worker has no loop: `async_to_sync`
would make a new one per call, and channels-redis opens and closes its connections with each loop.
So worker processes call `use_background_loop()` once (after the fork) and sends go through one
long-lived loop on a daemon thread, its connections reused.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

_SEND_TIMEOUT_SECONDS = 5.0
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None
_lock = threading.Lock()
_enabled = False


def use_background_loop() -> None:
    global _enabled
    _enabled = True


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():  # a forked child starts its own
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-loop", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


async def _send_all(layer: Any, group: str, messages: tuple[dict[str, Any], ...]) -> None:
    for message in messages:
        await layer.group_send(group, message)


def group_send(group: str, *messages: dict[str, Any]) -> None:
    """Send `messages` to `group`, in order. A no-op without a channel layer."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return
    if _enabled:
        future = asyncio.run_coroutine_threadsafe(_send_all(layer, group, messages), _background_loop())
        future.result(_SEND_TIMEOUT_SECONDS)
    else:
        async_to_sync(_send_all)(layer, group, messages)

"""The timed work of a process's live sockets, in one timer for all of them (the price hub's clock,
every 0.25 s), not three tasks per socket: heartbeats, the refresh of the per-user connection cap
(one Redis round trip for every socket that beat in that tick), and session checks (one round trip
for every socket whose session deadline has come)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.sessions import policy
from accounts.sessions.repository import get_repository
from portfolio.connections import get_registry
from portfolio.live import LiveSocket
from pricefeed.hub import hub
from tradingsite import metrics

logger = logging.getLogger(__name__)


class LiveSockets:
    def __init__(self) -> None:
        self.sockets: set[LiveSocket] = set()
        self._busy: set[str] = set()  # background round trips still running, by kind
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, socket: LiveSocket) -> None:
        if self.tick not in hub.every_tick:
            hub.every_tick.append(self.tick)
        if socket not in self.sockets:
            self.sockets.add(socket)
            metrics.sockets_open.inc()

    def discard(self, socket: LiveSocket) -> None:
        if socket in self.sockets:
            self.sockets.discard(socket)
            metrics.sockets_open.dec()

    def tick(self, now: float) -> None:
        beat = settings.WS_HEARTBEAT_SECONDS
        touched, due, wall = [], [], policy.now()
        for socket in self.sockets:
            if now >= socket.heartbeat_due:
                socket.heartbeat_due = now + beat
                socket.send_frame("heartbeat")
                touched.append((socket.user_id, socket.connection_id))
            if wall >= socket.session_deadline:
                due.append(socket)
        if touched:
            self._background("touch", get_registry().touch_many(touched))
        if due:
            self._background("sessions", self._check_sessions(due))

    async def _check_sessions(self, sockets: list[LiveSocket]) -> None:
        """Close the sockets whose session is over (4401); the others learn their new deadline (HTTP
        requests elsewhere may have pushed it later). Socket traffic does not keep a session alive."""
        deadlines = await sync_to_async(get_repository().deadlines, thread_sensitive=False)(
            [s.session_key for s in sockets]
        )
        for socket in sockets:
            ends = deadlines.get(socket.session_key)
            if ends is None:
                socket.on_session_ended()
            else:
                socket.session_deadline = ends

    def _background(self, kind: str, work: Awaitable[None]) -> None:
        """At most one round trip of each kind at a time; a slow Redis delays the next, never piles up."""
        if kind in self._busy:
            if asyncio.iscoroutine(work):
                work.close()
            return
        self._busy.add(kind)

        async def run() -> None:
            try:
                async with asyncio.timeout(10):
                    await work
            except Exception as exc:
                logger.warning("live sockets: %s failed (%s); again next second", kind, exc)
            finally:
                self._busy.discard(kind)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


live_sockets = LiveSockets()

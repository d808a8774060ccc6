"""`/ws/v1/portfolio`: a user's live positions and PnL (README, live socket; docs/architecture.md).

The consumer owns the socket's life: authentication before accept, the per-user cap, the channel-layer
groups (`user.{id}` for fills, `session.{public id}` for the end of the session), client commands,
snapshots. The hot path is not here: the socket's numbers and frames are a `LiveSocket`
(portfolio/live.py) that the process's price hub serves, and its per-second work (heartbeats, session
checks) runs in one timer for all sockets (portfolio/sockets.py). No task is started per socket, and
whatever ends the socket — the client, the server, a broken channel layer — `_end` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings
from redis.exceptions import RedisError

from accounts.services import session_group
from accounts.sessions import policy
from accounts.sessions.repository import get_repository
from portfolio import domain
from portfolio.connections import get_registry
from portfolio.domain import Holding
from portfolio.live import AsgiOutlet, LiveBook, LiveSocket, Outlet
from portfolio.payloads import position_payload, totals_payload
from portfolio.selectors import holding_list
from portfolio.sockets import live_sockets
from pricefeed.hub import hub
from tradingsite.lib.parsers import loads_client_json

logger = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE_BYTES = 4096
CLOSE_SESSION_ENDED = 4401
CLOSE_TOO_MANY_CONNECTIONS = 4429
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013
SYMBOL = re.compile(r"[A-Z0-9]{2,20}")
PUSH_EXTENSION = "tradingsite.push"  # the direct send path of tradingsite/wsserver.py
CLEANUP_SECONDS = 1.0
REJOIN_FIRST_SECONDS = 0.25  # then doubling, jittered, to REJOIN_MAX_SECONDS
REJOIN_MAX_SECONDS = 1.0  # a socket asks at most once a second; back within ~1.5 s of Redis


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class MessageBudget:
    """A token bucket for one socket's client messages: `rate` a second, bursts of `2 × rate`. A
    message over budget is dropped (one `rate_limited` error a second says so); `strikes` dropped in
    a row — a flood, not a burst — end the socket."""

    __slots__ = ("at", "burst", "dropped", "last_told", "rate", "strikes", "tokens")

    def __init__(self, rate: float, strikes: int = 100, now: float | None = None) -> None:
        self.rate, self.burst, self.strikes = rate, 2 * rate, strikes
        self.tokens = self.burst
        self.at = time.monotonic() if now is None else now
        self.dropped = 0
        self.last_told = -1.0

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.dropped = 0
            return True
        self.dropped += 1
        return False

    @property
    def flooding(self) -> bool:
        return self.dropped >= self.strikes

    def tell(self, now: float | None = None) -> bool:
        """Whether to send the `rate_limited` error for this drop (at most one a second)."""
        now = time.monotonic() if now is None else now
        if now - self.last_told >= 1:
            self.last_told = now
            return True
        return False


class PortfolioConsumer(AsyncWebsocketConsumer):
    live: LiveSocket | None = None
    counted = False
    ended = False
    groups_joined: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels' AsyncConsumer.__call__, with the channel layer read through `_channel_receive`,
        # which rides out an outage of the layer's Redis instead of ending the socket.
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        try:
            if self.channel_layer is None:
                await await_many_dispatch([receive], self.dispatch)
            else:
                self.channel_name = await self.channel_layer.new_channel()
                await await_many_dispatch([receive, self._channel_receive], self.dispatch)
        except StopConsumer:
            pass
        except (RedisError, OSError) as exc:
            # The channel layer's Redis failed under the socket (an outage, a restart): the client is
            # told to come back (1013, "try again later"), which it does with backoff and gets a
            # fresh snapshot; a warning, not a traceback, per socket (repeats are folded, lib/logs).
            logger.warning("socket of user %s closed, 1013: the channel layer failed (%s)",
                           getattr(self, "user_id", None), exc)  # fmt: skip
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})
        finally:
            # Channels calls `disconnect` only for a disconnect it receives; a channel layer that
            # fails (Redis gone) ends the consumer without one. Either way the socket is forgotten.
            await self._end()

    # --- life cycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self.user_id: int = user.pk
        self.session_key: str = self.scope["session_key"]
        self.connection_id = uuid.uuid4().hex
        hub.ensure_started()
        await self.accept()
        if not await self._count_in():
            return
        self.groups_joined = [user_group(self.user_id), session_group(policy.public_id(self.session_key))]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        record = await sync_to_async(get_repository().get, thread_sensitive=False)(self.session_key)
        if record is None:
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        holdings = await self._holdings()
        self.live = LiveSocket(
            self._outlet(),
            LiveBook(holdings, hub.symbol_id, hub.quotes),
            user_id=self.user_id,
            connection_id=self.connection_id,
            session_key=self.session_key,
            session_deadline=record.deadline,
            interval=settings.WS_PUSH_INTERVAL_MS / 1000,
            heartbeat=settings.WS_HEARTBEAT_SECONDS,
            on_session_ended=self._session_over,
            batch_interval=hub.turn_seconds,
            phases=hub.phases,
        )
        self.budget = MessageBudget(settings.WS_CLIENT_MESSAGES_PER_SECOND)
        self._send_snapshot(holdings)
        hub.track(self.live, self.live.mask)
        live_sockets.add(self.live)

    async def disconnect(self, code: int) -> None:
        await self._end()

    async def _end(self) -> None:
        """Forget the socket everywhere, once. Redis may be gone: each step is bounded and optional
        (a connection-count entry expires by itself, a group membership too)."""
        if self.ended:
            return
        self.ended = True
        if self.live is not None:
            self.live.closed = True
            hub.forget(self.live)
            live_sockets.discard(self.live)
            if isinstance(self.live.outlet, AsgiOutlet):
                self.live.outlet.cancel()
        if self.counted:
            await _bounded(get_registry().remove(self.user_id, self.connection_id))
        for group in self.groups_joined:
            await _bounded(self.channel_layer.group_discard(group, self.channel_name))

    async def _count_in(self) -> bool:
        try:
            count = await get_registry().add(self.user_id, self.connection_id)
        except Exception as exc:
            # The cap protects the server; a Redis hiccup must not refuse every socket: fail open.
            logger.warning("connection count unavailable (%s); socket of user %s allowed", exc, self.user_id)
            count = 0
        if count > settings.WS_MAX_CONNECTIONS_PER_USER:
            await _bounded(get_registry().remove(self.user_id, self.connection_id))  # free at once
            limit = settings.WS_MAX_CONNECTIONS_PER_USER
            message = f"at most {limit} live sockets per user"
            await self._send_direct("error", code="too_many_connections", message=message)
            await self.close(code=CLOSE_TOO_MANY_CONNECTIONS)
            return False
        self.counted = True
        return True

    def _outlet(self) -> Outlet:
        push = self.scope.get("extensions", {}).get(PUSH_EXTENSION)
        return push if push is not None else AsgiOutlet(self.base_send)

    def _session_over(self) -> None:
        asyncio.get_running_loop().create_task(self.close(code=CLOSE_SESSION_ENDED))

    # --- client → server ------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.live is None or self.live.closed:
            return
        if not self.budget.take():
            if self.budget.flooding:
                logger.warning("closing a socket of user %s: a flood of client messages", self.user_id)
                self.live.closed = True
                await self.close(code=CLOSE_POLICY_VIOLATION)
            elif self.budget.tell():
                rate = settings.WS_CLIENT_MESSAGES_PER_SECOND
                self._error("rate_limited", f"at most {rate} messages a second; this one was dropped")
            return
        if text_data is None or len(text_data) > MAX_CLIENT_MESSAGE_BYTES:
            self._error("message_invalid", f"send JSON text frames of at most {MAX_CLIENT_MESSAGE_BYTES} bytes")
            return
        try:
            message = loads_client_json(text_data)
        except ValueError:
            self._error("message_invalid", "the message is not valid JSON")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "resync":
            await self._reload()
        elif kind in ("watch", "unwatch"):
            await self._change_watch(kind, message.get("symbols"))
        elif kind == "throttle":
            self._change_throttle(message.get("max_hz"))
        else:
            self._error("message_type_unknown", f"unknown message type {kind!r}")

    async def _change_watch(self, kind: str, symbols: Any) -> None:
        """`watch` / `unwatch` symbols for `prices` frames (capped per socket)."""
        assert self.live is not None
        if not isinstance(symbols, list) or not all(isinstance(s, str) and SYMBOL.fullmatch(s) for s in symbols):
            self._error("symbols_invalid", "symbols must be a list of symbol names like BTCUSDT")
            return
        names = set(symbols)
        watched = set(self.live.watched.values())
        if kind == "unwatch":
            self.live.watch({hub.symbol_id(s): s for s in watched - names})
            hub.track(self.live, self.live.mask)
            return
        limit = settings.WS_MAX_WATCHED_SYMBOLS
        if len(watched | names) > limit:
            self._error("watch_limit", f"at most {limit} watched symbols per socket")
            return
        added = names - watched
        self.live.watch({hub.symbol_id(s): s for s in watched | names})
        hub.track(self.live, self.live.mask)
        await hub.prices_for(added)
        self.live.send_prices((s, q) for s in sorted(added) if (q := hub.quote(s)) is not None)

    def _change_throttle(self, max_hz: Any) -> None:
        """`throttle`: at most `max_hz` pnl / prices frames a second (the rest is conflated)."""
        assert self.live is not None
        if isinstance(max_hz, bool) or not isinstance(max_hz, int | float) or not 0 < max_hz <= settings.WS_MAX_HZ:
            self._error("max_hz_invalid", f"max_hz must be a number above 0, at most {settings.WS_MAX_HZ}")
            return
        self.live.throttle(max(settings.WS_PUSH_INTERVAL_MS / 1000, 1 / max_hz))

    # --- channel layer events ---------------------------------------------------------------------

    async def _channel_receive(self) -> dict[str, Any]:
        """The next channel-layer message. When the layer's Redis fails under an open socket (an
        outage, a restart), the socket stays open — prices stop meanwhile, the feed frame says
        stale — and its groups are joined again once Redis answers (a restarted Redis has lost
        them), then a `channel.rejoined` message reloads the positions: fills that happened
        meanwhile were not heard. Before the socket is set up, a failure ends it (1013)."""
        try:
            return dict(await self.channel_layer.receive(self.channel_name))
        except (RedisError, OSError) as exc:
            if self.live is None or self.ended:
                raise
            logger.warning("socket of user %s: the channel layer failed (%s); kept open, rejoining",
                           self.user_id, exc)  # fmt: skip
        delay = REJOIN_FIRST_SECONDS
        while True:
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 (jitter, not a secret)
            delay = min(delay * 2, REJOIN_MAX_SECONDS)
            try:
                for group in self.groups_joined:
                    await self.channel_layer.group_add(group, self.channel_name)
            except (RedisError, OSError):
                continue
            return {"type": "channel.rejoined"}

    async def channel_rejoined(self, event: dict[str, Any]) -> None:
        await self._reload()

    async def session_ended(self, event: dict[str, Any]) -> None:
        """Logout, password change, revocation or admin force-logout, from any web process."""
        await self.close(code=CLOSE_SESSION_ENDED)

    async def order_updated(self, event: dict[str, Any]) -> None:
        """One of the user's orders changed status (filled, rejected, expired)."""
        if self.live is not None:
            self.live.send_frame("order", order=event["order"])

    async def portfolio_changed(self, event: dict[str, Any]) -> None:
        """The user's positions changed (a fill): reload them and send a fresh snapshot."""
        await self._reload()

    # --- snapshots ----------------------------------------------------------------------------

    async def _reload(self) -> None:
        if self.live is None:
            return
        holdings = await self._holdings()
        self.live.book = LiveBook(holdings, hub.symbol_id, hub.quotes)
        hub.track(self.live, self.live.mask)
        self._send_snapshot(holdings)

    async def _holdings(self) -> list[Holding]:
        """The user's open positions, with the hub holding a price for each symbol that has one: the
        book and the snapshot made right after both value them at the same prices."""
        holdings: list[Holding] = await database_sync_to_async(holding_list)(user_id=self.user_id)
        await hub.prices_for(h.symbol for h in holdings)
        return holdings

    def _send_snapshot(self, holdings: list[Holding]) -> None:
        assert self.live is not None
        ticks = hub.prices
        marks = {h.symbol: domain.mark(h, ticks[h.symbol].price) for h in holdings if h.symbol in ticks}
        positions = [position_payload(h, ticks.get(h.symbol), marks.get(h.symbol)) for h in holdings]
        pairs = [(h, marks[h.symbol]) for h in holdings if h.symbol in marks]
        totals = totals_payload(domain.totals(pairs), priced=len(pairs), positions=len(holdings))
        self.live.send_snapshot(positions, totals, hub.feed_state())

    # --- frames -------------------------------------------------------------------------------

    def _error(self, code: str, message: str) -> None:
        assert self.live is not None
        self.live.send_frame("error", code=code, message=message)

    async def _send_direct(self, kind: str, **body: Any) -> None:
        """A frame before the socket has its LiveSocket (the connection-cap refusal)."""
        import orjson

        from pricefeed.domain import now_ms

        await self.send(text_data=orjson.dumps({"type": kind, "seq": 1, "ts": now_ms(), **body}).decode())


async def _bounded(step: Awaitable[Any]) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLEANUP_SECONDS):
            await step

"""`/ws/v1/portfolio`: a user's live positions and PnL (ARCHITECTURE §5.3, §7).

The hot path never touches the ORM: positions are loaded on connect and on the user's
`portfolio.changed` event; price batches arrive from the process's price hub, which only marks the
changed symbols and wakes this consumer's sender task. The sender sends one `pnl` message with the
newest state, so a socket that falls behind skips to the latest numbers instead of queueing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from accounts.services import session_group
from accounts.sessions import policy
from accounts.sessions.repository import get_repository
from portfolio import domain
from portfolio.connections import get_registry
from portfolio.domain import Holding, Marked
from portfolio.payloads import position_marks_payload, position_payload, totals_payload
from portfolio.selectors import holding_list
from pricefeed.domain import Tick, now_ms
from pricefeed.hub import hub
from tradingsite.lib.numbers import price_str
from tradingsite.lib.parsers import loads_client_json

logger = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE_BYTES = 4096
CLOSE_SESSION_ENDED = 4401
CLOSE_TOO_MANY_CONNECTIONS = 4429
SYMBOL = re.compile(r"[A-Z0-9]{2,20}")


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class PortfolioConsumer(AsyncWebsocketConsumer):
    user_id: int
    seq = 0
    holdings: dict[str, Holding]
    marks: dict[str, Marked]
    sender: asyncio.Task[None] | None = None
    heartbeat: asyncio.Task[None] | None = None
    counted = False
    session_timer: asyncio.TimerHandle | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self.user_id = user.pk
        self.session_key: str = self.scope["session_key"]
        self.groups_joined = [user_group(self.user_id), session_group(policy.public_id(self.session_key))]
        self.holdings, self.marks = {}, {}
        self.watched: set[str] = set()
        self.registered: set[str] = set()  # symbols this socket is indexed under in the price hub
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()
        self.min_interval = 1 / settings.WS_MAX_HZ
        self.background: set[asyncio.Task[None]] = set()
        self.connection_id = uuid.uuid4().hex
        hub.ensure_started()
        await self.accept()
        try:
            count = await get_registry().add(self.user_id, self.connection_id)
        except (RedisError, OSError) as exc:
            # The cap protects the server; a Redis hiccup must not refuse every socket: fail open.
            logger.warning("connection count unavailable (%s); socket of user %s allowed", exc, self.user_id)
            count = 0
        if count > settings.WS_MAX_CONNECTIONS_PER_USER:
            await get_registry().remove(self.user_id, self.connection_id)
            await self.send_error(
                "too_many_connections", f"at most {settings.WS_MAX_CONNECTIONS_PER_USER} live sockets per user"
            )
            await self.close(code=CLOSE_TOO_MANY_CONNECTIONS)
            return
        self.counted = True
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        if not await self.check_session():
            return
        await self.reload_and_snapshot()
        self.sender = asyncio.create_task(self.send_changes_forever())
        self.heartbeat = asyncio.create_task(self.send_heartbeats_forever())

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "user_id"):
            return
        hub.forget(self, self.registered)
        if self.session_timer is not None:
            self.session_timer.cancel()
        for task in (self.sender, self.heartbeat, *self.background):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.counted:
            with contextlib.suppress(RedisError, OSError):  # the entry expires by itself
                await get_registry().remove(self.user_id, self.connection_id)
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- client → server ------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_CLIENT_MESSAGE_BYTES:
            await self.send_error(
                "message_invalid", f"send JSON text frames of at most {MAX_CLIENT_MESSAGE_BYTES} bytes"
            )
            return
        try:
            message = loads_client_json(text_data)
        except ValueError:
            await self.send_error("message_invalid", "the message is not valid JSON")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "resync":
            await self.send_snapshot()
        elif kind in ("watch", "unwatch"):
            await self.change_watch(kind, message.get("symbols"))
        elif kind == "throttle":
            await self.change_throttle(message.get("max_hz"))
        else:
            await self.send_error("message_type_unknown", f"unknown message type {kind!r}")

    async def change_watch(self, kind: str, symbols: Any) -> None:
        """`watch` / `unwatch` symbols for `prices` frames (capped per socket)."""
        if not isinstance(symbols, list) or not all(isinstance(s, str) and SYMBOL.fullmatch(s) for s in symbols):
            await self.send_error("symbols_invalid", "symbols must be a list of symbol names like BTCUSDT")
            return
        names = set(symbols)
        if kind == "unwatch":
            self.watched -= names
            self._index_in_hub()
            return
        limit = settings.WS_MAX_WATCHED_SYMBOLS
        if len(self.watched | names) > limit:
            await self.send_error("watch_limit", f"at most {limit} watched symbols per socket")
            return
        added = names - self.watched
        self.watched |= names
        self._index_in_hub()
        prices = await hub.prices_for(added)
        if prices:
            await self.send_frame("prices", prices=[_price_payload(t) for _, t in sorted(prices.items())])

    async def change_throttle(self, max_hz: Any) -> None:
        """`throttle`: at most `max_hz` pnl / prices messages a second (the rest is conflated)."""
        if isinstance(max_hz, bool) or not isinstance(max_hz, int | float) or not 0 < max_hz <= settings.WS_MAX_HZ:
            await self.send_error("max_hz_invalid", f"max_hz must be a number above 0, at most {settings.WS_MAX_HZ}")
            return
        self.min_interval = 1 / max_hz

    def _index_in_hub(self) -> None:
        wanted = set(self.holdings) | self.watched
        hub.unregister(self, self.registered - wanted)
        hub.register(self, wanted - self.registered)
        self.registered = wanted

    # --- channel layer events ---------------------------------------------------------------------

    async def session_ended(self, event: dict[str, Any]) -> None:
        """Logout, password change, revocation or admin force-logout, from any web process."""
        await self.close(code=CLOSE_SESSION_ENDED)

    async def check_session(self) -> bool:
        """Close when the session has expired (idle or absolute), else look again at its deadline:
        HTTP requests elsewhere may have pushed it later. Socket traffic does not keep it alive."""
        self.session_timer = None
        record = await sync_to_async(get_repository().get, thread_sensitive=False)(self.session_key)
        if record is None:
            await self.close(code=CLOSE_SESSION_ENDED)
            return False
        delay = max(0.05, record.deadline - policy.now())
        loop = asyncio.get_running_loop()
        self.session_timer = loop.call_later(delay, self._schedule_session_check)
        return True

    def _schedule_session_check(self) -> None:
        self.session_check = asyncio.get_running_loop().create_task(self.check_session())

    async def order_updated(self, event: dict[str, Any]) -> None:
        """One of the user's orders changed status (filled, rejected, expired)."""
        await self.send_frame("order", order=event["order"])

    async def portfolio_changed(self, event: dict[str, Any]) -> None:
        """The user's positions changed (a fill): reload them and send a fresh snapshot."""
        await self.reload_and_snapshot()

    # --- prices -------------------------------------------------------------------------------

    def prices_changed(self, symbols: set[str]) -> None:
        """Called by the price hub on the event loop; must not block."""
        self.dirty |= symbols
        self.wake.set()

    def feed_changed(self, state: dict[str, Any]) -> None:
        """Called by the price hub when the feed goes live, stale, simulated or replay."""
        task = asyncio.get_running_loop().create_task(self.send_frame("feed", **state))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def send_changes_forever(self) -> None:
        """One pnl (and one prices) message per wake-up with the newest numbers. While a send waits on
        a slow client, or on the throttle, changes only accumulate as symbol names (bounded by what
        the socket holds and watches): latest wins, nothing queues."""
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            started = loop.time()
            changed, self.dirty = self.dirty, set()
            try:
                await self.send_pnl(changed)
                if self.watched:
                    await self.send_prices(changed & self.watched)
            except Exception:
                logger.exception("pnl update failed for user %s", self.user_id)
            pause = self.min_interval - (loop.time() - started)
            if pause > 0.005:
                await asyncio.sleep(pause)

    async def send_prices(self, symbols: set[str]) -> None:
        prices = hub.prices
        rows = [_price_payload(prices[s]) for s in sorted(symbols) if s in prices]
        if rows:
            await self.send_frame("prices", prices=rows)

    async def send_heartbeats_forever(self) -> None:
        """A frame every WS_HEARTBEAT_SECONDS, so clients and proxies see the socket alive; it also
        keeps this socket counted in the per-user cap."""
        while True:
            await asyncio.sleep(settings.WS_HEARTBEAT_SECONDS)
            with contextlib.suppress(RedisError, OSError):  # counted again at the next heartbeat
                await get_registry().touch(self.user_id, self.connection_id)
            await self.send_frame("heartbeat")

    async def send_pnl(self, changed: set[str]) -> None:
        prices = hub.prices
        positions = []
        price_ts = 0
        for symbol in sorted(changed & self.holdings.keys()):
            holding, tick = self.holdings[symbol], prices.get(symbol)
            if tick is None:
                continue
            marked = self.marks[symbol] = domain.mark(holding, tick.price)
            positions.append(position_marks_payload(holding, tick, marked))
            price_ts = max(price_ts, tick.event_ts)
        if positions:
            await self.send_frame("pnl", positions=positions, totals=self.totals(), price_ts=price_ts)

    # --- snapshots ----------------------------------------------------------------------------

    async def reload_and_snapshot(self) -> None:
        holdings = await database_sync_to_async(holding_list)(user_id=self.user_id)
        self.holdings = {h.symbol: h for h in holdings}
        self._index_in_hub()
        await self.send_snapshot()

    async def send_snapshot(self) -> None:
        prices = await hub.prices_for(self.holdings)
        self.marks = {s: domain.mark(h, prices[s].price) for s, h in self.holdings.items() if s in prices}
        positions = [position_payload(h, prices.get(s), self.marks.get(s)) for s, h in self.holdings.items()]
        await self.send_frame("snapshot", positions=positions, totals=self.totals(), feed=hub.feed_state())

    def totals(self) -> dict[str, Any]:
        pairs = [(self.holdings[s], m) for s, m in self.marks.items()]
        return totals_payload(domain.totals(pairs), priced=len(pairs), positions=len(self.holdings))

    # --- frames -------------------------------------------------------------------------------

    async def send_error(self, code: str, message: str) -> None:
        await self.send_frame("error", code=code, message=message)

    async def send_frame(self, kind: str, **body: Any) -> None:
        self.seq += 1
        frame = {"type": kind, "seq": self.seq, "ts": now_ms(), **body}
        await self.send(text_data=orjson.dumps(frame).decode())


def _price_payload(tick: Tick) -> dict[str, Any]:
    return {"symbol": tick.symbol, "price": price_str(tick.price), "price_ts": tick.event_ts}

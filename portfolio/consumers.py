"""`/ws/v1/portfolio`: a user's live positions and PnL (ARCHITECTURE §5.3, §7).

The hot path never touches the ORM: positions are loaded on connect and on the user's
`portfolio.changed` event; price batches arrive from the process's price hub, which only marks the
changed symbols and wakes this consumer's sender task. The sender sends one `pnl` message with the
newest state, so a socket that falls behind skips to the latest numbers instead of queueing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.services import session_group
from accounts.sessions import policy
from accounts.sessions.repository import get_repository
from portfolio import domain
from portfolio.domain import Holding, Marked
from portfolio.payloads import position_marks_payload, position_payload, totals_payload
from portfolio.selectors import holding_list
from pricefeed.domain import now_ms
from pricefeed.hub import hub

logger = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE_BYTES = 4096
CLOSE_SESSION_ENDED = 4401


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class PortfolioConsumer(AsyncWebsocketConsumer):
    user_id: int
    seq = 0
    holdings: dict[str, Holding]
    marks: dict[str, Marked]
    sender: asyncio.Task[None] | None = None
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
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()
        self.background: set[asyncio.Task[None]] = set()
        hub.ensure_started()
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        if not await self.check_session():
            return
        await self.reload_and_snapshot()
        self.sender = asyncio.create_task(self.send_changes_forever())

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "user_id"):
            return
        hub.unregister(self, self.holdings)
        if self.session_timer is not None:
            self.session_timer.cancel()
        if self.sender is not None:
            self.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sender
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
            message = json.loads(text_data)
        except ValueError:
            await self.send_error("message_invalid", "the message is not valid JSON")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "resync":
            await self.send_snapshot()
        else:
            await self.send_error("message_type_unknown", f"unknown message type {kind!r}")

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
        while True:
            await self.wake.wait()
            self.wake.clear()
            changed, self.dirty = self.dirty, set()
            try:
                await self.send_pnl(changed)
            except Exception:
                logger.exception("pnl update failed for user %s", self.user_id)

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
        hub.unregister(self, self.holdings)
        self.holdings = {h.symbol: h for h in holdings}
        hub.register(self, self.holdings)
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
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

"""The live push, one socket at a time: its numbers, its frames, and when it may send. Plain classes:
a unit test drives them without a server, and the consumer (portfolio/consumers.py) only wires them
to a connection.

The hot path is a `pnl` frame. Per process, the price hub prepares each changed symbol's price once
per batch (a `Quote`: the price as an integer and as text). Per socket, `LiveBook` keeps the open
positions as integers (quantity in 1e-18, cost in 1e-36) and its totals, updated by the changed
positions' deltas; a mark is one integer product and a subtraction, exact like the REST API's
Decimal arithmetic, and formatted to the same text (tradingsite.lib.numbers.scaled_str).

Frames are conflated: a socket sends at most one `pnl` frame per `interval` (WS_PUSH_INTERVAL_MS),
carrying the newest numbers of every position that moved since its last frame. A socket whose
connection is not draining (`Outlet.writable()` false) keeps collecting symbol names and gets the
newest numbers once it drains: latest wins, nothing queues.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

import orjson

from portfolio.domain import Holding
from portfolio.domain.fixed import percent_scaled
from pricefeed.domain import PRICE_PLACES, Quote, now_ms
from tradingsite.lib.numbers import scaled_str

logger = logging.getLogger(__name__)

# What each entry of a pnl frame's `positions` holds, in order (also sent in every snapshot).
PNL_FIELDS = ("symbol", "current_price", "unrealized_pnl", "unrealized_pnl_percent")
QTY_PLACES = 18  # quantities and costs are NUMERIC(40, 18): exact as integers of 1e-18
VALUE_PLACES = QTY_PLACES + PRICE_PLACES  # a market value or PnL: quantity × price, exact
_COST_TO_VALUE = 10 ** (VALUE_PLACES - QTY_PLACES)


def _units(value: Any, places: int) -> int:
    return int(value.scaleb(places))


class LiveBook:
    """A user's open positions as scaled integers, their totals kept current by deltas.

    Per symbol: [quantity (1e-18), cost basis (1e-36), |cost basis| (1e-36), unrealized PnL (1e-36) or
    None while the symbol has no price]. Totals cover the priced positions, as REST's do."""

    __slots__ = ("cost", "entries", "ids", "invested", "priced", "unrealized")

    def __init__(self, holdings: Iterable[Holding], quotes: Mapping[str, Quote]):
        self.entries: dict[str, list[Any]] = {}
        self.ids: dict[str, int] = {}
        self.invested = self.cost = self.unrealized = self.priced = 0
        for holding in holdings:
            cost = _units(holding.cost_basis, VALUE_PLACES)
            self.entries[holding.symbol] = [_units(holding.quantity, QTY_PLACES), cost, abs(cost), None]
            self.ids[holding.symbol] = holding.position_id
            quote = quotes.get(holding.symbol)
            if quote is not None:
                self.mark(holding.symbol, quote)

    @property
    def symbols(self) -> set[str]:
        return set(self.entries)

    def mark(self, symbol: str, quote: Quote) -> str:
        """Values the position at the quote, updates the totals, and returns its `pnl` entry:
        `["SYMBOL","price","unrealized_pnl","unrealized_pnl_percent"]`."""
        entry = self.entries[symbol]
        quantity, cost, abs_cost, before = entry
        unrealized = quantity * quote.units - cost
        if before is None:
            self.priced += 1
            self.invested += abs_cost
            self.cost += cost
        else:
            self.unrealized -= before
        self.unrealized += unrealized
        entry[3] = unrealized
        percent = percent_scaled(unrealized, abs_cost) if abs_cost else 0
        return f'["{symbol}","{quote.text}","{scaled_str(unrealized, VALUE_PLACES)}","{scaled_str(percent, 4)}"]'

    def totals_json(self) -> str:
        percent = percent_scaled(self.unrealized, self.invested) if self.invested else 0
        return (
            f'{{"total_invested":"{scaled_str(self.invested, VALUE_PLACES)}",'
            f'"total_market_value":"{scaled_str(self.unrealized + self.cost, VALUE_PLACES)}",'
            f'"total_unrealized_pnl":"{scaled_str(self.unrealized, VALUE_PLACES)}",'
            f'"total_pnl_percent":"{scaled_str(percent, 4)}",'
            f'"positions":{len(self.entries)},"priced_positions":{self.priced}}}'
        )


class Outlet(Protocol):
    """Where a socket's frames go, in order."""

    def writable(self) -> bool:
        """True when the connection is draining: a new pnl frame may go now."""

    def write(self, payload: bytes) -> None:
        """Send one text frame (never refused; the caller decides when pnl frames may go)."""


class AsgiOutlet:
    """Frames through the ASGI `send` (servers without the direct path: daphne, test communicators):
    written in order by one drain task while any wait; not writable while it runs."""

    __slots__ = ("queue", "send", "task")

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[None]]):
        self.send = send
        self.queue: collections.deque[bytes] = collections.deque()
        self.task: asyncio.Task[None] | None = None

    def writable(self) -> bool:
        return self.task is None

    def write(self, payload: bytes) -> None:
        self.queue.append(payload)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.queue:
                await self.send({"type": "websocket.send", "text": self.queue.popleft().decode()})
        except Exception:  # the connection is gone: its consumer ends and forgets this socket
            self.queue.clear()
        finally:
            self.task = None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


class LiveSocket:
    """One socket: which of its symbols moved since its last frame, when it may send next, the frame
    sequence. The price hub calls `prices_changed` and `flush`; the consumer sends control frames."""

    __slots__ = (
        "book",
        "closed",
        "connection_id",
        "dirty",
        "heartbeat_due",
        "interval",
        "next_due",
        "oldest_ts",
        "on_session_ended",
        "outlet",
        "seq",
        "session_deadline",
        "session_key",
        "user_id",
        "watched",
    )

    def __init__(
        self,
        outlet: Outlet,
        book: LiveBook,
        *,
        user_id: int,
        connection_id: str,
        session_key: str,
        session_deadline: float,
        interval: float,
        heartbeat: float,
        on_session_ended: Callable[[], None],
    ):
        self.outlet = outlet
        self.book = book
        self.watched: set[str] = set()
        self.dirty: set[str] = set()
        self.oldest_ts = 0
        self.seq = 0
        self.interval = interval
        self.next_due = 0.0
        self.heartbeat_due = _clock() + heartbeat
        self.session_deadline = session_deadline
        self.user_id = user_id
        self.connection_id = connection_id
        self.session_key = session_key
        self.on_session_ended = on_session_ended
        self.closed = False

    @property
    def symbols(self) -> set[str]:
        """What the price hub tracks this socket under: held and watched symbols."""
        return self.book.symbols | self.watched

    # --- called by the price hub -------------------------------------------------------------

    def prices_changed(self, symbols: set[str], quotes: Mapping[str, Quote]) -> None:
        if not self.dirty:  # the first change since the last frame is the oldest it will carry
            self.oldest_ts = min(quotes[s].event_ts for s in symbols)
        self.dirty |= symbols

    def ready(self, now: float) -> bool:
        return now >= self.next_due and self.outlet.writable()

    def flush(self, now: float, quotes: Mapping[str, Quote]) -> None:
        """One `pnl` frame with the newest numbers of every held position that moved (and one `prices`
        frame for the watched ones), then nothing until `interval` has passed."""
        changed, self.dirty = self.dirty, set()
        self.next_due = now + self.interval
        entries = self.book.entries
        parts, newest = [], 0
        for symbol in changed:
            if symbol in entries:
                quote = quotes[symbol]
                parts.append(self.book.mark(symbol, quote))
                if quote.event_ts > newest:
                    newest = quote.event_ts
        if parts:
            self.seq += 1
            frame = (
                f'{{"type":"pnl","seq":{self.seq},"ts":{now_ms()},"price_ts":{newest},'
                f'"since_ts":{self.oldest_ts},"positions":[{",".join(parts)}],"totals":{self.book.totals_json()}}}'
            )
            self.outlet.write(frame.encode())
        watched = changed & self.watched
        if watched:
            self.send_prices({s: quotes[s] for s in sorted(watched)})

    # --- control frames (consumer, clock) ----------------------------------------------------

    def send_frame(self, kind: str, **body: Any) -> None:
        if self.closed:
            return
        self.seq += 1
        self.outlet.write(orjson.dumps({"type": kind, "seq": self.seq, "ts": now_ms(), **body}))

    def send_prices(self, quotes: Mapping[str, Quote]) -> None:
        rows = [{"symbol": s, "price": q.text, "price_ts": q.event_ts} for s, q in quotes.items()]
        if rows:
            self.send_frame("prices", prices=rows)

    def send_snapshot(self, positions: list[dict[str, Any]], totals: dict[str, Any], feed: dict[str, Any]) -> None:
        self.dirty.clear()  # the snapshot carries the newest numbers
        self.send_frame("snapshot", positions=positions, totals=totals, feed=feed, pnl_fields=PNL_FIELDS)

    def feed_changed(self, state: dict[str, Any]) -> None:
        self.send_frame("feed", **state)


def _clock() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        import time

        return time.monotonic()

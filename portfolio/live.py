"""The live push, one socket at a time: its numbers, its frames, and when it may send. Plain classes:
a unit test drives them without a server, and the consumer (portfolio/consumers.py) only wires them
to a connection.

The hot path is a `pnl` frame. Per process, the price hub gives every symbol a small integer id and
prepares each changed symbol's price once per batch (a `Quote`: digits × 10**exponent, and text).
A socket's symbols, and which of them moved, are bit masks over those ids: one integer AND per
socket per batch. Per socket, `LiveBook` keeps the open positions as exact integers and the totals,
updated by the changed positions' deltas; a mark is an integer product and a subtraction, exact like
the REST API's Decimal arithmetic, and formatted to the same text. The positions live packed in one
C array (portfolio/live_native.c) where it was built, else in Python (`PyBook`): a property test
holds both to the REST API's numbers.

Frames are conflated: a socket sends one `pnl` frame per `interval` (WS_PUSH_INTERVAL_MS), carrying
the newest numbers of every position that moved since its last frame. The interval is counted in
the feed's batches (200 ms with a batch every 100 ms: every second batch) and, where batches stop
coming, in time: a frame goes out with the prices of the batch just received, and a batch that comes
a little early or late does not cost a socket a whole extra batch of waiting. A socket whose
connection is not draining (`Outlet.writable()` false) keeps collecting which symbols moved and gets
the newest numbers once it drains: latest wins, nothing queues.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Context, Decimal
from typing import Any, Protocol

import orjson

from portfolio.domain import Holding
from portfolio.domain.fixed import PERCENT_PLACES, div_half_even, percent_scaled
from pricefeed.domain import Quote, now_ms
from pricefeed.phases import Phases
from tradingsite.lib.numbers import scaled_str
from tradingsite.lib.wsframes import text_frame_header

logger = logging.getLogger(__name__)

__all__ = ["PNL_FIELDS", "AsgiOutlet", "LiveBook", "LiveSocket", "NativeBook", "Outlet", "PyBook", "natural"]

# What each entry of a pnl frame's `positions` holds, in order (also sent in every snapshot).
PNL_FIELDS = ("symbol", "current_price", "unrealized_pnl", "unrealized_pnl_percent")
TOTAL_PLACES = 36  # totals: sums of quantity × price (each at most 18 + 18 places), exact
_POW = [10**k for k in range(80)]
_WIDE = Context(prec=80)  # normalize() rounds to its context's precision: wider than any column

Quotes = Sequence[Quote | None]  # by symbol id
Row = tuple[int, str, int, int, int, int]  # (id, symbol, q, eq, c, ec)

try:  # portfolio/live_native.c, built by `python -m portfolio.native`
    from portfolio._live_native import Book as NativeBook
    from portfolio._live_native import Wide, min_ts
except ImportError:  # pragma: no cover - exercised where no compiler built it
    NativeBook = None  # type: ignore[assignment,misc]
    Wide = ArithmeticError  # type: ignore[assignment,misc]
    logger.warning("live push: the C book is not built (python -m portfolio.native); using the Python one")

    def min_ts(mask: int, quotes: Sequence[tuple[int, int, str, int] | None], /) -> int:
        return min((q[3] for i, q in enumerate(quotes) if mask >> i & 1 and q is not None), default=0)


def natural(value: Decimal) -> tuple[int, int]:
    """A Decimal as (digits, exponent) with no trailing zeros: 1.500 → (15, -1), 100 → (1, 2)."""
    sign, digits, exponent = value.normalize(_WIDE).as_tuple()
    number = int("".join(map(str, digits))) if digits else 0
    return (-number if sign else number), int(exponent)


class PyBook:
    """The positions in Python: what the C book does, for any size of number. Totals in 10^-36."""

    def __init__(self, rows: Iterable[Row], last: dict[int, tuple[int, int]] | None = None):
        self.rows = [(i, s, q, eq, c, ec, abs(c)) for i, s, q, eq, c, ec in rows]
        self.last = last or {}  # id -> (u, E): the unrealized PnL u·10^E once priced
        priced = [row for row in self.rows if row[0] in self.last]
        self.invested = sum(_at(ac, ec) for _, _, _, _, _, ec, ac in priced)
        self.cost = sum(_at(c, ec) for _, _, _, _, c, ec, _ in priced)
        self.unrealized = sum(_at(*self.last[row[0]]) for row in priced)

    @classmethod
    def from_native(cls, state: list[tuple[int, str, int, int, int, int, int | None, int]]) -> PyBook:
        rows = [row[:6] for row in state]
        return cls(rows, {row[0]: (row[6], row[7]) for row in state if row[6] is not None})

    def marks(self, mask: int, quotes: Quotes) -> tuple[str, int]:
        pow10, parts, newest = _POW, [], 0
        for symbol_id, symbol, q, eq, c, ec, ac in self.rows:
            quote = quotes[symbol_id] if mask >> symbol_id & 1 and symbol_id < len(quotes) else None
            if quote is None:
                continue
            p, ep, text, ts = quote
            newest = max(newest, ts)
            mexp = eq + ep
            if mexp <= ec:
                exp, u = mexp, q * p - c * pow10[ec - mexp]
            else:
                exp, u = ec, q * p * pow10[mexp - ec] - c
            before = self.last.get(symbol_id)
            if before is None:
                self.invested += _at(ac, ec)
                self.cost += _at(c, ec)
            self.last[symbol_id] = (u, exp)
            self.unrealized += _at(u, exp) - (_at(*before) if before is not None else 0)
            percent = 0
            if ac:
                shift = exp - ec + 2 + PERCENT_PLACES
                percent = div_half_even(u * pow10[shift], ac) if shift >= 0 else div_half_even(u, ac * pow10[-shift])
            parts.append(f'["{symbol}","{text}","{_text(u, -exp)}","{scaled_str(percent, PERCENT_PLACES)}"]')
        return ",".join(parts), newest

    def frame(
        self, mask: int, quotes: Quotes, seq: int, ts: int, since_ts: int, websocket: bool = False
    ) -> bytes | None:
        positions, newest = self.marks(mask, quotes)
        if not positions:
            return None
        payload = (
            f'{{"type":"pnl","seq":{seq},"ts":{ts},"price_ts":{newest},"since_ts":{since_ts},'
            f'"positions":[{positions}],"totals":{self.totals_json()}}}'
        ).encode()
        return text_frame_header(len(payload)) + payload if websocket else payload

    def totals_json(self) -> str:
        percent = percent_scaled(self.unrealized, self.invested) if self.invested else 0
        return (
            f'{{"total_invested":"{scaled_str(self.invested, TOTAL_PLACES)}",'
            f'"total_market_value":"{scaled_str(self.unrealized + self.cost, TOTAL_PLACES)}",'
            f'"total_unrealized_pnl":"{scaled_str(self.unrealized, TOTAL_PLACES)}",'
            f'"total_pnl_percent":"{scaled_str(percent, 4)}",'
            f'"positions":{len(self.rows)},"priced_positions":{len(self.last)}}}'
        )


def _at(units: int, exponent: int) -> int:
    """units·10^exponent in units of 10^-TOTAL_PLACES."""
    return int(units * _POW[exponent + TOTAL_PLACES])


def _text(units: int, places: int) -> str:
    return scaled_str(units, places) if places >= 0 else str(units * _POW[-places])


class LiveBook:
    """A user's open positions and their totals (the priced positions', as REST's), kept current by
    the changed positions' deltas: in C where every number fits 64 bits, else in Python."""

    __slots__ = ("book", "mask", "symbols")

    def __init__(self, holdings: Iterable[Holding], symbol_id: Callable[[str], int], quotes: Quotes):
        rows: list[Row] = []
        for holding in holdings:
            q, eq = natural(holding.quantity)
            c, ec = natural(holding.cost_basis)
            # One string object per symbol in the process, not one per position: the frame's writer
            # reads each held symbol's text, and 250,000 scattered copies were a cache miss each
            # (a fifth of a web process's CPU at the design load; perf, bench/live.py).
            symbol = sys.intern(holding.symbol)
            rows.append((symbol_id(symbol), symbol, q, eq, c, ec))
        rows.sort()
        self.symbols = {row[1] for row in rows}
        self.mask = sum(1 << row[0] for row in rows)
        self.book: Any = PyBook(rows)
        if NativeBook is not None:
            with contextlib.suppress(OverflowError):  # a number past 64 bits: this book stays in Python
                self.book = NativeBook(rows)
        self.marks(self.mask, quotes)

    def marks(self, mask: int, quotes: Quotes) -> tuple[str, int]:
        """Values the held positions among `mask` at their quotes and updates the totals. Returns the
        pnl frame's `positions` entries (`["SYMBOL","price","unrealized_pnl","percent"],…`) and the
        newest event time among them."""
        mask &= self.mask
        try:
            return self.book.marks(mask, quotes)  # type: ignore[no-any-return]
        except Wide:
            self._to_python()
            return self.book.marks(mask, quotes)  # type: ignore[no-any-return]

    def frame(
        self, mask: int, quotes: Quotes, seq: int, ts: int, since_ts: int, websocket: bool = False
    ) -> bytes | None:
        """A whole `pnl` frame for the held positions among `mask` (marked as `marks` does), or None
        when none of them is priced. In C where the book is: one buffer, no intermediate text. With
        `websocket`, as one WebSocket text frame, header first (for `Outlet.write_frame`)."""
        mask &= self.mask
        try:
            return self.book.frame(mask, quotes, seq, ts, since_ts, websocket)  # type: ignore[no-any-return]
        except Wide:  # marking again at the same quotes changes nothing already committed
            self._to_python()
            return self.book.frame(mask, quotes, seq, ts, since_ts, websocket)  # type: ignore[no-any-return]

    def totals_json(self) -> str:
        try:
            return self.book.totals_json()  # type: ignore[no-any-return]
        except Wide:
            self._to_python()
            return self.book.totals_json()  # type: ignore[no-any-return]

    def _to_python(self) -> None:
        """A number past the C book's range: this book moves to Python, once, for good."""
        self.book = PyBook.from_native(self.book.state())


class Outlet(Protocol):
    """Where a socket's frames go, in order. An outlet that also has `write_frame(frame)` takes the
    pnl frames built whole, WebSocket header included (tradingsite/wsserver.py: one buffer from the
    C book to the transport)."""

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
    """One socket: which of its symbols moved since its last frame (a bit mask of symbol ids), when it
    may send next, the frame sequence. The price hub calls `prices_changed` and `flush`; the consumer
    sends control frames."""

    __slots__ = (
        "batch_interval",
        "book",
        "closed",
        "connection_id",
        "dirty",
        "due_batch",
        "every",
        "framed",
        "heartbeat_due",
        "interval",
        "next_due",
        "oldest_ts",
        "on_session_ended",
        "outlet",
        "phases",
        "seq",
        "session_deadline",
        "session_key",
        "user_id",
        "watched",
        "watched_mask",
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
        batch_interval: float = 0.1,
        phases: Phases | None = None,
    ):
        self.outlet = outlet
        self.framed: Callable[[bytes], None] | None = getattr(outlet, "write_frame", None)
        self.book = book
        self.watched: dict[int, str] = {}  # symbol id -> symbol, for `prices` frames
        self.watched_mask = 0
        self.dirty = 0
        self.oldest_ts = 0
        self.seq = 0
        self.interval = interval
        self.batch_interval = batch_interval  # the feed's (PRICE_FLUSH_INTERVAL_MS)
        self.every = max(1, round(interval / batch_interval))  # a frame every `every` batches
        self.phases = Phases() if phases is None else phases  # the process's (the hub's): turns kept even
        self.next_due = 0.0
        self.due_batch = -1  # the batch its next frame waits for; -1: its first frame, at the next one
        # A random phase: sockets that connected together must not all beat in the same tick.
        self.heartbeat_due = _clock() + heartbeat * random.random()  # noqa: S311 (not a secret)
        self.session_deadline = session_deadline
        self.user_id = user_id
        self.connection_id = connection_id
        self.session_key = session_key
        self.on_session_ended = on_session_ended
        self.closed = False

    @property
    def mask(self) -> int:
        """What the price hub tracks this socket under: held and watched symbols."""
        return self.book.mask | self.watched_mask

    def throttle(self, interval: float) -> None:
        """At most one frame every `interval` seconds from now on; counted in batches, its turn among
        them chosen again at its next frame."""
        self.interval = interval
        every = max(1, round(interval / self.batch_interval))
        if every != self.every:
            self.every = every
            self.phases.release(self)
            self.due_batch = -1

    def watch(self, watched: dict[int, str]) -> None:
        self.watched = watched
        self.watched_mask = sum(1 << i for i in watched)

    # --- called by the price hub -------------------------------------------------------------

    def prices_changed(self, moved: int, quotes: Quotes) -> None:
        if not self.dirty:  # the first change since the last frame is the oldest it will carry
            self.oldest_ts = min_ts(moved, quotes)
        self.dirty |= moved

    def ready(self, now: float, batch: int) -> bool:
        """Due at the `batch`-th batch of the feed (-1: between batches) or at time `now`, and draining."""
        return (self.due_batch <= batch or now >= self.next_due) and self.outlet.writable()

    def flush(self, now: float, batch: int, quotes: Quotes) -> None:
        """One `pnl` frame with the newest numbers of every held position that moved (and one `prices`
        frame for the watched ones), then nothing until `interval` has passed: in batches, or in time
        where batches do not come."""
        moved, self.dirty = self.dirty, 0
        self.next_due = now + self.interval
        every, due = self.every, self.due_batch
        if due < 0:  # the first frame: the process's least taken turn among the batches is its own
            self.due_batch = self.phases.first(self, batch, every)
        else:  # its turn kept: the first of its batches after this one. (Counted from this batch,
            # a pass that merged two batches would put every socket it served in one turn: the
            # sockets of a process gathered, within a minute, into one pass of twice the frames.)
            self.due_batch = self.phases.next(self, due + every * max(1, -(-(batch + 1 - due) // every)))
        framed = self.framed
        frame = self.book.frame(moved, quotes, self.seq + 1, now_ms(), self.oldest_ts, framed is not None)
        if frame is not None:
            self.seq += 1
            if framed is not None:
                framed(frame)
            else:
                self.outlet.write(frame)
        if moved & self.watched_mask:
            watched = sorted((s, quotes[i]) for i, s in self.watched.items() if moved >> i & 1)
            self.send_prices([(s, q) for s, q in watched if q is not None])

    # --- control frames (consumer, clock) ----------------------------------------------------

    def send_frame(self, kind: str, **body: Any) -> None:
        if self.closed:
            return
        self.seq += 1
        self.outlet.write(orjson.dumps({"type": kind, "seq": self.seq, "ts": now_ms(), **body}))

    def send_prices(self, quotes: Iterable[tuple[str, Quote]]) -> None:
        rows = [{"symbol": s, "price": q.text, "price_ts": q.event_ts} for s, q in quotes]
        if rows:
            self.send_frame("prices", prices=rows)

    def send_snapshot(self, positions: list[dict[str, Any]], totals: dict[str, Any], feed: dict[str, Any]) -> None:
        self.dirty = 0  # the snapshot carries the newest numbers
        self.send_frame("snapshot", positions=positions, totals=totals, feed=feed, pnl_fields=PNL_FIELDS)

    def feed_changed(self, state: dict[str, Any]) -> None:
        self.send_frame("feed", **state)


def _clock() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        import time

        return time.monotonic()

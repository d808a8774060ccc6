"""The live push, one socket at a time: its numbers, its frames, and when it may send. Plain classes:
a unit test drives them without a server, and the consumer (portfolio/consumers.py) only wires them
to a connection.

The hot path is a `pnl` frame. Per process, the price hub prepares each changed symbol's price once
per batch (a `Quote`: the price as digits × 10**exponent, and as text). Per socket, `LiveBook` keeps
the open positions as exact integers and its totals, updated by the changed positions' deltas; a
mark is an integer product and a subtraction, exact like the REST API's Decimal arithmetic, and
formatted to the same text. The loop over a frame's positions runs in C (portfolio/live_native.c)
where it was built, else in Python (`_frame_marks`): a test holds both to the REST API's numbers.

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
from decimal import Context, Decimal
from typing import Any, Protocol

import orjson

from portfolio.domain import Holding
from portfolio.domain.fixed import PERCENT_PLACES, div_half_even, percent_scaled
from pricefeed.domain import Quote, now_ms
from tradingsite.lib.numbers import scaled_str

logger = logging.getLogger(__name__)

# What each entry of a pnl frame's `positions` holds, in order (also sent in every snapshot).
PNL_FIELDS = ("symbol", "current_price", "unrealized_pnl", "unrealized_pnl_percent")
TOTAL_PLACES = 36  # totals: sums of quantity × price (each at most 18 + 18 places), exact
_POW = [10**k for k in range(80)]
_ZEROS = "0" * 80
_WIDE = Context(prec=80)  # normalize() rounds to its context's precision: wider than any column

NativeFrame = Callable[
    [dict[str, tuple[int, int, int, int, int]], dict[str, tuple[int, int]], Iterable[str], Mapping[str, Quote]],
    tuple[str, int, int] | None,
]
_native_frame: NativeFrame | None
try:  # the C version of `_frame_marks` (portfolio/live_native.c, built by `python -m portfolio.native`)
    from portfolio._live_native import frame as _native_frame
except ImportError:  # pragma: no cover - exercised where no compiler built it
    _native_frame = None
    logger.warning("live push: the C loop is not built (python -m portfolio.native); using the Python one")


def natural(value: Decimal) -> tuple[int, int]:
    """A Decimal as (digits, exponent) with no trailing zeros: 1.500 → (15, -1), 100 → (1, 2)."""
    sign, digits, exponent = value.normalize(_WIDE).as_tuple()
    number = int("".join(map(str, digits))) if digits else 0
    return (-number if sign else number), int(exponent)


class LiveBook:
    """A user's open positions as exact integers, and their totals kept current by deltas.

    Per symbol, `entries` holds (q, eq, c, ec, |c|): quantity q·10^eq and cost basis c·10^ec; `last`
    holds the unrealized PnL (u, E), u·10^E, once the symbol has a price. (Tuples of integers: the
    garbage collector stops tracking them, and a process holds hundreds of thousands.) Totals cover
    the priced positions, as REST's do, in units of 10^-36."""

    __slots__ = ("cost", "entries", "invested", "last", "unrealized")

    def __init__(self, holdings: Iterable[Holding], quotes: Mapping[str, Quote]):
        self.entries: dict[str, tuple[int, int, int, int, int]] = {}
        self.last: dict[str, tuple[int, int]] = {}
        self.invested = self.cost = self.unrealized = 0
        for holding in holdings:
            q, eq = natural(holding.quantity)
            c, ec = natural(holding.cost_basis)
            self.entries[holding.symbol] = (q, eq, c, ec, abs(c))
        self.marks({s for s in self.entries if s in quotes}, quotes)

    @property
    def priced(self) -> int:
        return len(self.last)

    @property
    def symbols(self) -> set[str]:
        return set(self.entries)

    def marks(self, symbols: set[str], quotes: Mapping[str, Quote]) -> tuple[str, int]:
        """Values every held position among `symbols` at its quote and updates the totals. Returns the
        pnl frame's `positions` entries (`["SYMBOL","price","unrealized_pnl","percent"],…`) and the
        newest event time among them."""
        if len(self.last) < len(self.entries):
            for symbol in symbols:
                entry = self.entries.get(symbol)
                if entry is not None and symbol not in self.last:  # priced for the first time: into the totals
                    self.invested += entry[4] * _POW[entry[3] + TOTAL_PLACES]
                    self.cost += entry[2] * _POW[entry[3] + TOTAL_PLACES]
        done = _native_frame(self.entries, self.last, symbols, quotes) if _native_frame is not None else None
        if done is None:
            text, newest, delta = _frame_marks(self.entries, self.last, symbols, quotes)
        else:
            text, newest, delta18 = done
            delta = delta18 * _POW[TOTAL_PLACES - 18]
        self.unrealized += delta
        return text, newest

    def totals_json(self) -> str:
        percent = percent_scaled(self.unrealized, self.invested) if self.invested else 0
        return (
            f'{{"total_invested":"{scaled_str(self.invested, TOTAL_PLACES)}",'
            f'"total_market_value":"{scaled_str(self.unrealized + self.cost, TOTAL_PLACES)}",'
            f'"total_unrealized_pnl":"{scaled_str(self.unrealized, TOTAL_PLACES)}",'
            f'"total_pnl_percent":"{scaled_str(percent, 4)}",'
            f'"positions":{len(self.entries)},"priced_positions":{len(self.last)}}}'
        )


def _frame_marks(
    entries: dict[str, tuple[int, int, int, int, int]],
    last: dict[str, tuple[int, int]],
    symbols: Iterable[str],
    quotes: Mapping[str, Quote],
) -> tuple[str, int, int]:
    """The Python version of the C loop (same rules, any size): the positions' pnl entries, the
    newest event time, and the change of the summed unrealized PnL in units of 10^-36."""
    pow10, parts, newest, delta = _POW, [], 0, 0
    for symbol in symbols:
        entry = entries.get(symbol)
        if entry is None:
            continue
        q, eq, c, ec, ac = entry
        p, ep, text, ts = quotes[symbol]
        newest = max(newest, ts)
        mexp = eq + ep
        if mexp <= ec:
            exp, u = mexp, q * p - c * pow10[ec - mexp]
        else:
            exp, u = ec, q * p * pow10[mexp - ec] - c
        before = last.get(symbol)
        last[symbol] = (u, exp)
        delta += _at(u, exp) - (_at(*before) if before is not None else 0)
        percent = 0
        if ac:
            shift = exp - ec + 2 + PERCENT_PLACES
            percent = div_half_even(u * pow10[shift], ac) if shift >= 0 else div_half_even(u, ac * pow10[-shift])
        parts.append(f'["{symbol}","{text}","{_text(u, -exp)}","{scaled_str(percent, PERCENT_PLACES)}"]')
    return ",".join(parts), newest, delta


def _at(units: int, exponent: int) -> int:
    """units·10^exponent in units of 10^-TOTAL_PLACES."""
    return int(units * _POW[exponent + TOTAL_PLACES])


def _text(units: int, places: int) -> str:
    return scaled_str(units, places) if places >= 0 else str(units * _POW[-places])


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
        positions, newest = self.book.marks(changed, quotes)
        if positions:
            self.seq += 1
            frame = (
                f'{{"type":"pnl","seq":{self.seq},"ts":{now_ms()},"price_ts":{newest},'
                f'"since_ts":{self.oldest_ts},"positions":[{positions}],"totals":{self.book.totals_json()}}}'
            )
            self.outlet.write(frame.encode())
        if self.watched:
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

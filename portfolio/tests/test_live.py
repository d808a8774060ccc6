"""The live push without a server: the frame form equals the REST API's numbers at the same prices
(property-based), conflation is latest-wins, and a socket that does not drain delays nobody."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from datetime import UTC, datetime
from decimal import Context
from decimal import Decimal as D
from unittest.mock import patch

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio import domain, live
from portfolio.domain import Holding
from portfolio.live import PNL_FIELDS, LiveBook, LiveSocket
from portfolio.payloads import position_payload, totals_payload
from pricefeed.domain import Batch, Quote, Tick
from pricefeed.hub import PriceHub
from tradingsite.lib.numbers import decimal_str, scaled_str

pytestmark = [pytest.mark.unit]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WIDE = Context(prec=100)

quantities = st.decimals(min_value=D("0.00000001"), max_value=D("1000000"), places=8)
prices = st.decimals(min_value=D("0.00000001"), max_value=D("10000000"), places=8)
holdings = st.lists(
    st.tuples(quantities, st.booleans(), prices, st.sampled_from([0, 8, 18])), min_size=1, max_size=8
).map(
    lambda rows: [
        Holding(
            n,
            f"S{n}USDT",
            -q if short else q,
            # a cost rounded as a partial reduce leaves it (8 places), or exact, or at the column's scale
            WIDE.multiply(-q if short else q, p).quantize(D(1).scaleb(-places), context=WIDE)
            if places
            else WIDE.multiply(-q if short else q, p),
            D(0),
            T0,
            p,
        )
        for n, (q, short, p, places) in enumerate(rows)
    ]
)
# Past 64-bit integers (the C loop hands these to the Python one): whale quantities at 18 places.
holdings_huge = st.lists(
    st.tuples(st.decimals(min_value=D("1"), max_value=D("1000000000000"), places=18), prices), min_size=1, max_size=4
).map(lambda rows: [Holding(n, f"S{n}USDT", q, WIDE.multiply(q, p), D(0), T0, p) for n, (q, p) in enumerate(rows)])


def rest_view(held: list[Holding], marks: dict[str, D]) -> tuple[dict[str, dict], dict]:
    """What GET /positions and GET /portfolio say at these prices (the Decimal path)."""
    ticks = {s: Tick(s, p, 1, 1) for s, p in marks.items()}
    marked = {h.symbol: domain.mark(h, marks[h.symbol]) for h in held if h.symbol in marks}
    positions = {h.symbol: position_payload(h, ticks.get(h.symbol), marked.get(h.symbol)) for h in held}
    pairs = [(h, marked[h.symbol]) for h in held if h.symbol in marked]
    return positions, totals_payload(domain.totals(pairs), priced=len(pairs), positions=len(held))


class Ids:
    """Symbol ids and quotes by id, as the price hub keeps them."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, symbol: str) -> int:
        return self.ids.setdefault(symbol, len(self.ids) * 3 + 1)  # spread out, not from 0

    def mask(self, symbols) -> int:
        return sum(1 << self(s) for s in symbols)

    def quotes(self, marks: dict[str, D], at: int) -> list[Quote | None]:
        for symbol in marks:
            self(symbol)
        quotes: list[Quote | None] = [None] * (max(self.ids.values(), default=0) + 1)
        for symbol, price in marks.items():
            quotes[self(symbol)] = Quote.of(Tick(symbol, price, at, at))
        return quotes


@pytest.mark.parametrize("loop", ["c", "python"])
@settings(max_examples=300, deadline=None)
@given(
    held=holdings | holdings_huge,
    first=st.lists(prices, min_size=8, max_size=8),
    moves=st.lists(st.lists(prices, min_size=8, max_size=8), min_size=1, max_size=3),
)
def test_pnl_entries_and_totals_equal_the_rest_api_at_the_same_prices(loop, held, first, moves):
    """Both loops (C where built, and Python) against GET /positions and /portfolio, number for number,
    through several moves of several symbols at once."""
    with patch.object(live, "NativeBook", live.NativeBook if loop == "c" else None):
        ids = Ids()
        for h in held:
            ids(h.symbol)
        marks = {h.symbol: first[n] for n, h in enumerate(held) if n % 3 != 2}  # some stay unpriced
        book = LiveBook(held, ids, ids.quotes(marks, 1))
        for step, move in enumerate(moves, start=2):
            moved = {h.symbol: move[n] for n, h in enumerate(held) if (n + step) % 2}
            marks.update(moved)
            positions, totals = rest_view(held, marks)
            if step % 2:  # the entries and the totals apart
                text, newest = book.marks(ids.mask(moved), ids.quotes(marks, step))
                entries, their_totals = json.loads(f"[{text}]"), json.loads(book.totals_json())
            else:  # the whole frame, as the push sends it
                frame = book.frame(ids.mask(moved), ids.quotes(marks, step), step, 99, 7)
                if frame is None:
                    assert not moved
                    continue
                body = json.loads(frame)
                assert {k: body[k] for k in ("type", "seq", "ts", "since_ts")} == {
                    "type": "pnl",
                    "seq": step,
                    "ts": 99,
                    "since_ts": 7,
                }
                entries, their_totals, newest = body["positions"], body["totals"], body["price_ts"]
            assert sorted(e[0] for e in entries) == sorted(moved)
            for entry in entries:
                assert dict(zip(PNL_FIELDS, entry, strict=True)) == {f: positions[entry[0]][f] for f in PNL_FIELDS}
            assert their_totals == totals
            assert newest == (step if moved else 0)


@pytest.mark.parametrize("loop", ["c", "python"])
@pytest.mark.parametrize("count", [1, 40, 1500])  # a length in 16 bits, and in 64 (> 65,535 bytes)
def test_a_frame_built_for_the_socket_is_one_websocket_text_frame_of_the_same_payload(loop, count):
    """The push hands the C book's buffer to the transport as it is: the header must be RFC 6455's
    (read back by the websockets library's own parser) and the payload the unframed frame's."""
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    with patch.object(live, "NativeBook", live.NativeBook if loop == "c" else None):
        held = [Holding(n, f"S{n}USDT", D("1.5"), D("150.25"), D(0), T0, D("100")) for n in range(count)]
        marks = {h.symbol: D("101.125") for h in held}
        ids, twin = Ids(), Ids()
        framed_book, plain_book = LiveBook(held, ids, ids.quotes({}, 1)), LiveBook(held, twin, twin.quotes({}, 1))
        framed = framed_book.frame(ids.mask(marks), ids.quotes(marks, 2), 1, 5, 2, True)
        plain = plain_book.frame(twin.mask(marks), twin.quotes(marks, 2), 1, 5, 2)
    assert framed is not None
    assert plain is not None
    reader = StreamReader()
    reader.feed_data(framed)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, plain)
    assert len(json.loads(plain)["positions"]) == count


def test_the_c_book_is_built_here():
    """make builds it (python -m portfolio.native); the measured figures are the C book's."""
    assert live.NativeBook is not None


def test_a_quote_past_64_bits_moves_a_c_book_to_python_without_losing_a_digit():
    ids = Ids()
    held = [Holding(1, "AUSDT", D("2"), D("20"), D(0), T0, D("10"))]
    book = LiveBook(held, ids, ids.quotes({"AUSDT": D("11")}, 1))
    assert isinstance(book.book, live.NativeBook)
    wide = D("12.123456789012345678")  # 20 digits: past a 64-bit integer
    frame = json.loads(book.frame(ids.mask(["AUSDT"]), ids.quotes({"AUSDT": wide}, 2), 1, 2, 2) or b"")
    assert isinstance(book.book, live.PyBook)
    assert frame["positions"] == [["AUSDT", "12.123456789012345678", "4.246913578024691356", "21.2346"]]
    assert frame["totals"]["total_unrealized_pnl"] == "4.246913578024691356"


@given(st.integers(min_value=-(10**60), max_value=10**60), st.integers(min_value=0, max_value=40))
def test_scaled_integers_read_as_the_one_formatter_reads_decimals(value, places):
    assert scaled_str(value, places) == decimal_str(D(value).scaleb(-places, context=WIDE))


class Wire:
    """An outlet that records frames and can stop draining."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.draining = True

    def writable(self) -> bool:
        return self.draining

    def write(self, payload: bytes) -> None:
        self.frames.append(json.loads(payload))


def live_socket(
    wire: Wire, held: list[Holding], hub: PriceHub, interval: float = 0.0, turn: float | None = None
) -> LiveSocket:
    return LiveSocket(
        wire,
        LiveBook(held, hub.symbol_id, hub.quotes),
        user_id=1,
        connection_id="c",
        session_key="k",
        session_deadline=1e12,
        interval=interval,
        heartbeat=20,
        on_session_ended=lambda: None,
        batch_interval=hub.turn_seconds if turn is None else turn,
        phases=hub.phases,
    )


def batch(at: int, **symbol_prices: str) -> Batch:
    return Batch("simulated", at, tuple(Tick(s, D(p), at, at) for s, p in symbol_prices.items()))


def holding(n: int, symbol: str, quantity: str, price: str) -> Holding:
    return Holding(n, symbol, D(quantity), D(quantity) * D(price), D(0), T0, D(price))


async def test_one_pass_serves_every_due_socket_and_a_stuck_one_gets_the_newest_numbers_later():
    hub = PriceHub(passes_per_batch=1)
    fast, stuck, idle = Wire(), Wire(), Wire()
    held = [holding(1, "AUSDT", "2", "10"), holding(2, "BUSDT", "-1", "50")]
    sockets = [live_socket(w, held, hub) for w in (fast, stuck, idle)]
    for socket, wire in zip(sockets, (fast, stuck, idle), strict=True):
        hub.track(socket, socket.mask if wire is not idle else hub.mask({"CUSDT"}))
    stuck.draining = False
    for step in range(1, 6):
        hub.apply(batch(1000 + step, AUSDT=f"1{step}", BUSDT=f"4{step}"))
    assert len(fast.frames) == 5  # interval 0: one frame per batch, each in the batch's own pass
    assert stuck.frames == []  # nothing queued for the stuck one
    assert idle.frames == []
    stuck.draining = True
    hub.pump()
    (frame,) = stuck.frames
    assert frame["positions"] == fast.frames[-1]["positions"]  # the newest numbers, once
    assert (frame["price_ts"], frame["since_ts"]) == (1005, 1001)  # and how long the oldest waited
    assert frame["totals"] == fast.frames[-1]["totals"]
    assert [f["seq"] for f in fast.frames] == [1, 2, 3, 4, 5]


async def test_a_socket_sends_at_most_once_per_interval_with_what_moved_meanwhile():
    hub = PriceHub(passes_per_batch=1)
    wire = Wire()
    held = [holding(1, "AUSDT", "1", "10"), holding(2, "BUSDT", "1", "10")]
    socket = live_socket(wire, held, hub, interval=0.2)
    hub.track(socket, socket.mask)
    hub.apply(batch(1, AUSDT="11"))
    hub.apply(batch(2, BUSDT="12"))  # within the interval: conflated
    assert len(wire.frames) == 1
    waited = time.monotonic()
    for _ in range(150):  # the hub's own timer serves it when due, without a new batch (within 3 s: a
        if len(wire.frames) == 2:  # slow moment may delay it, not skip it)
            break
        await asyncio.sleep(0.02)
    assert time.monotonic() - waited >= 0.15  # not before its interval
    await asyncio.sleep(0.05)
    assert len(wire.frames) == 2
    assert [p[0] for p in wire.frames[1]["positions"]] == ["BUSDT"]
    assert wire.frames[1]["totals"]["total_unrealized_pnl"] == "3"


async def test_sockets_keep_their_turn_when_two_batches_come_in_one_pass():
    """With a frame every second batch, a process's sockets take turns (half each batch). A busy
    process merges batches into one pass: the sockets it serves must keep their turns, not all
    gather into one pass of twice the frames."""
    hub = PriceHub(passes_per_batch=1)
    held = [holding(1, "AUSDT", "1", "10")]
    first, second = Wire(), Wire()
    a = live_socket(first, held, hub, interval=0.2)
    hub.track(a, a.mask)
    hub.apply(batch(1, AUSDT="11"))  # a's first frame: its turn is the odd batches
    b = live_socket(second, held, hub, interval=0.2)
    hub.track(b, b.mask)
    hub.apply(batch(2, AUSDT="12"))  # b's first frame: the even ones
    hub._receive(batch(3, AUSDT="13"))
    hub._receive(batch(4, AUSDT="14"))
    hub._fan_out()  # batches 3 and 4 in one pass: both due, both served
    assert (len(first.frames), len(second.frames)) == (2, 2)
    for n in range(5, 11):
        hub.apply(batch(n, AUSDT=f"1{n}"))
        served = len(first.frames) + len(second.frames)
        assert served == 4 + (n - 4), "one socket per batch, in turn"
    assert [f["price_ts"] for f in first.frames[2:]] == [5, 7, 9]
    assert [f["price_ts"] for f in second.frames[2:]] == [6, 8, 10]


async def test_sockets_that_connect_together_take_even_turns_and_keep_them_even_as_others_leave():
    """A pass's length is its number of frames: sockets of one connect storm, all first served at one
    batch, must not all wait for the same turn; and when many of one turn leave, the turns even out
    again by serving some sockets a batch early, never late."""
    hub = PriceHub(passes_per_batch=1)
    held = [holding(1, "AUSDT", "1", "10")]
    wires = [Wire() for _ in range(40)]
    sockets = [live_socket(w, held, hub, interval=0.2) for w in wires]
    for socket in sockets:
        hub.track(socket, socket.mask)
    hub.apply(batch(1, AUSDT="11"))  # the storm: every socket's first frame in one pass

    def served(at: int) -> int:
        before = sum(len(w.frames) for w in wires)
        hub.apply(batch(at, AUSDT=f"1{at}"))
        return sum(len(w.frames) for w in wires) - before

    assert [served(n) for n in range(2, 6)] == [20, 20, 20, 20]
    leaving = [s for s in sockets if hub.phases.turn(s) == 0][:16]
    for socket in leaving:
        hub.forget(socket)
    assert hub.phases.sizes(2) == [4, 20]
    staying = [w for w, s in zip(wires, sockets, strict=True) if s not in leaving]
    before = [len(w.frames) for w in staying]
    assert [served(n) for n in range(6, 12)] == [4, 20, 12, 12, 12, 12]
    gaps = [
        [b["price_ts"] - a["price_ts"] for a, b in itertools.pairwise(w.frames[n - 1 :])]
        for w, n in zip(staying, before, strict=True)
    ]
    assert max(max(g) for g in gaps) == 2, "no gap grew"
    assert sum(1 in g for g in gaps) == 8, "the 8 that changed turns got one frame a batch early"


@override_settings(PRICE_FLUSH_INTERVAL_MS=100)
async def test_a_batchs_later_pass_comes_before_the_next_batch_and_serves_its_own_turn():
    """With two passes per batch, a frame every 200 ms is due every fourth pass: a process's sockets
    take four turns, each pass writes a quarter of them (half as many as one pass per batch would),
    and the second pass of a batch comes half a batch later, with that batch's prices."""
    hub = PriceHub(passes_per_batch=2)
    assert hub.turn_seconds == 0.05
    held = [holding(1, "AUSDT", "1", "10")]
    wires = [Wire() for _ in range(40)]
    # a frame every fourth pass, counted in passes; in time (where batches stop) only after 2 s, so that
    # a slow test machine does not make them due by time instead
    sockets = [live_socket(w, held, hub, interval=2, turn=0.5) for w in wires]
    for socket in sockets:
        hub.track(socket, socket.mask)

    def frames() -> int:
        return sum(len(w.frames) for w in wires)

    hub.apply(batch(1, AUSDT="11"))  # the storm: every socket's first frame, then four even turns
    assert frames() == 40
    await asyncio.sleep(0.07)  # its later pass: nothing moved since
    served = []
    for n in range(2, 7):
        before = frames()
        hub.apply(batch(n, AUSDT=f"1{n}"))
        first = frames() - before
        await asyncio.sleep(0.07)  # past the batch's second pass (50 ms after its first), before the next batch
        served.append((first, frames() - before - first))
    # batch 2's first pass also serves the turn of batch 1's second (which had nothing new to send);
    # those sockets keep that turn (their next frame a batch and a half later, not a gap stretched)
    assert served == [(20, 10), (10, 10), (10, 10), (10, 10), (10, 10)]
    assert hub.phases.sizes(4) == [10, 10, 10, 10]
    for wire in wires:  # a frame every second batch, in the same turn, once the storm's are out
        gaps = [b["price_ts"] - a["price_ts"] for a, b in itertools.pairwise(wire.frames[1:])]
        assert gaps[0] in (1, 2), gaps
        assert set(gaps[1:]) <= {2}, gaps


async def test_every_pass_serves_its_sockets_in_the_same_order():
    """A pass writes ~1,250 frames in ~30 ms at the design load: a socket served first in one pass and
    last in the next would see its gap stretched by the whole pass. The hub serves them in the order
    they were tracked, every pass, whatever order they left and rejoined the waiting list in."""
    hub = PriceHub(passes_per_batch=1)
    order: list[int] = []

    class Recording(Wire):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.n = n

        def write(self, payload: bytes) -> None:
            order.append(self.n)

    symbols = ["AUSDT", "BUSDT", "CUSDT"]
    sockets = []
    for n in range(60):
        held = [holding(1, symbols[n % 3], "1", "10"), holding(2, symbols[(n + 1) % 3], "1", "10")]
        socket = live_socket(Recording(n), held, hub)
        hub.track(socket, socket.mask)
        sockets.append(socket)
    passes = []
    for step in range(1, 30):
        moved = {symbols[step % 3]: f"1{step}", symbols[(step * 7) % 3]: f"2{step}"}  # a different subset each time
        order.clear()
        hub.apply(batch(step, **moved))
        passes.append(list(order))
    for served in passes:
        assert served == sorted(served), "tracking order in every pass"
    assert all(passes)

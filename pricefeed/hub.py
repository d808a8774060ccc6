"""One price hub per web process: the process's only price subscription and its live-push fan-out.

It keeps the latest tick per symbol, gives every symbol a small integer id, and per changed symbol
makes a `Quote` (the price as an integer and as text) once per batch for every socket. It is the only
owner of the symbol ↔ listener mapping (`track`, `forget`): a listener is tracked under a bit mask
of symbol ids. Per batch each tracked listener learns which of its symbols moved (one integer AND),
and in the batch's fan-out passes (WS_PASSES_PER_BATCH: the first at the batch, the others evenly
until the next one) each listener whose turn it is and whose connection is draining builds and writes
its frame right there — no task per socket. Listeners not yet due, or whose connection is not
draining, stay pending and are served by a later pass (or the timer), with the newest numbers.
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings

from pricefeed.bus import get_bus
from pricefeed.domain import Batch, FeedStatus, Quote, Tick, now_ms
from pricefeed.phases import Phases
from tradingsite import metrics
from tradingsite.lib.memory import watch_collections

logger = logging.getLogger(__name__)

# A socket's frames follow the batches: due at a batch's pass when enough passes have come since its
# last frame (WS_PUSH_INTERVAL_MS of 200, a batch every 100 ms and one pass per batch: every other
# batch; two passes per batch: every fourth pass, a quarter of the sockets in each), so its frames
# go out with prices just received and a batch that comes early or late (a busy feeder, a long
# pass) does not leave it waiting a whole batch more. (Counted in time with 30 ms of slack, 7 % of the
# gaps between frames were 300 ms at the design load.) The timer between batches serves sockets
# already GRACE_SECONDS past their interval in time (a late or stalled feed: with the batch counted,
# what the socket has goes out now instead of waiting for the batch), and polls sockets whose
# connections were not draining every PUMP_SECONDS.
GRACE_SECONDS = 0.02
# The feed's state, heartbeats and session checks: a session that ends closes its sockets within ~0.3 s.
CLOCK_SECONDS = 0.25
PUMP_SECONDS = 0.05
# A pass, or the event loop between two clock ticks, that held the process this long is a late frame
# for its sockets: written to the log (at most once a second each), with the clock's lateness in
# /metrics (tradingsite_event_loop_lag_seconds).
STALL_SECONDS = 0.1


_slot: tuple[int, Any] | None = None  # this process's slot and the lock file it holds for its life


def pass_slot(folder: Path) -> int:
    """This process's slot among the socket processes of this machine: the lowest one whose lock file
    in `folder` (VAR_DIR) no live process holds. The kernel releases a dead process's lock, so a
    restarted process takes the slot it left. Taken once per process; 0 where `folder` is unusable."""
    global _slot
    if _slot is not None:
        return _slot[0]
    for slot in range(64):
        try:
            handle = open(folder / f"push-slot-{slot}.lock", "a")  # noqa: SIM115 (held open: the lock)
        except OSError:
            return 0
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _slot = (slot, handle)
        logger.info("live push: this process runs its passes in slot %d of this machine", slot)
        return slot
    return 0


def pass_spread(slot: int) -> float:
    """Where in the spread window (WS_PASS_SPREAD_MS) a process in `slot` runs its passes, as a
    fraction of it: 0, 1/2, 1/4, 3/4, 1/8, ... (the bits of `slot` reversed), evenly spread for any
    number of processes. Measured (bench.live, two processes, 5,000 sockets on 2 cores, 90 s): with
    both passes at the batch, each waited for a core for 27-35 % of its time (schedstat), and 0.16 %
    of the gaps between a socket's frames were over 250 ms; with the second process 30 ms later, none
    (max 240 ms), at 21 instead of 28 µs of CPU per frame and no later prices (newest p99 84 ms);
    15 ms later, 0.02 %; 50 ms later, 0.03 % with newest p99 157 ms. Over 300 s with a 60-ms window
    (the default), no frame sent later than 250 ms after the socket's last; with REST alongside, REST
    and the push as good or better than without (README, Performance)."""
    fraction, bit = 0.0, 0.5
    while slot:
        if slot & 1:
            fraction += bit
        slot, bit = slot >> 1, bit / 2
    return fraction


class PriceListener(Protocol):
    def prices_changed(self, moved: int, quotes: list[Quote | None], /) -> None: ...

    next_due: float  # when its interval has passed, in the loop's time

    def ready(self, now: float, batch: int, /) -> bool: ...

    def flush(self, now: float, batch: int, quotes: list[Quote | None], /) -> None: ...

    def feed_changed(self, state: dict[str, Any], /) -> None: ...


class PriceHub:
    def __init__(self, passes_per_batch: int | None = None) -> None:
        self._passes_per_batch = passes_per_batch  # None: WS_PASSES_PER_BATCH
        self.prices: dict[str, Tick] = {}
        self.symbol_ids: dict[str, int] = {}
        self.quotes: list[Quote | None] = []  # by symbol id
        self.status: FeedStatus | None = None
        self.priced_ts: int | None = None  # when the last batch that carried prices was flushed
        self._tracked: dict[PriceListener, int] = {}  # listener -> mask of symbol ids
        # Listeners with a change to send, in the order they got it: each pass serves its due sockets in
        # the same order every time (tracking order), so a socket's place in a ~30 ms pass does not move
        # from one frame to the next and stretch the gap between its frames (a set's order did).
        self._pending: dict[PriceListener, None] = {}
        self.phases = Phases()  # the listeners' turns among the passes
        # The pass counter the listeners' turns are counted in: `passes_per_batch` per batch received,
        # the first at the batch, the others timed evenly until the next one (_later_pass).
        self.turn = 0
        self._turn_timers: list[asyncio.TimerHandle] = []
        self._incoming: dict[str, Tick] = {}  # ticks received, not yet fanned out (latest wins)
        self._fan_out_scheduled = False
        self.pass_delay = 0.0  # after a batch's arrival, this process's pass (its slot: pass_spread)
        self._pump_timer: asyncio.TimerHandle | None = None
        self._feed_state: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self.every_tick: list[Callable[[float], None]] = []
        # For /metrics: what this process's push has done, and how many asyncio tasks it runs.
        self.batches_applied = 0
        self.flushes = 0
        self.conflated = 0
        self.tasks_running = 0
        self._reported = (0, 0, 0)  # batches, flushes, conflated: as far as /metrics has them
        self._stall_logged: dict[str, float] = {}  # kind -> when last written
        # WS_PASS_TRACE: one line per pass, written out by the clock (bench.live --trace)
        self._trace: list[str] | None = None
        self._trace_path = ""
        self._arrived = (0, 0)  # the last batch: when it came (Unix ms) and when the feeder flushed it
        self._marked = 0.0  # how long the last batch's prices_changed calls took
        self._schedstat: int | None = None  # the loop thread's CPU and run-queue wait (traced passes)

    # --- life cycle ---------------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start listening on the running loop (idempotent; cheap enough to call per connection)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        self._stop = asyncio.Event()
        self.trace_to(settings.WS_PASS_TRACE)
        self.prices.clear()
        self.symbol_ids.clear()
        self.quotes.clear()
        self._tracked.clear()
        self._pending.clear()
        self.phases.clear()
        self._incoming = {}
        self._fan_out_scheduled = False
        self._pump_timer = None
        self.turn, self._turn_timers = 0, []
        # What the feed said to another loop is not known on this one (a test's earlier hub had left
        # its state behind, and a socket of the next one heard a "stale" it had no part in).
        self.status, self.priced_ts, self._feed_state = None, None, None
        self._tasks = [
            loop.create_task(self._listen(), name="price-hub"),
            loop.create_task(self._clock(), name="price-hub-clock"),
        ]
        if settings.PRICE_FEED_IN_PROCESS:
            self._tasks.append(loop.create_task(_run_embedded_feeder(), name="embedded-price-feeder"))
        logger.info("price hub started (in-process feed: %s)", settings.PRICE_FEED_IN_PROCESS)

    async def stop(self) -> None:
        self._stop.set()
        if self._pump_timer is not None:
            self._pump_timer.cancel()
            self._pump_timer = None
        self._cancel_later_passes()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=5)
            for task in stuck:
                logger.error("price hub task %s did not stop within 5 s", task.get_name())
        self._tasks = []
        self._loop = None

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        async for batch in get_bus().subscribe(self._stop):
            try:
                self._receive(batch)
            except Exception:
                logger.exception("price batch could not be read")
            if self._trace is not None:
                self._arrived = (now_ms(), batch.flushed_ts)
            if not self._fan_out_scheduled:
                # The fan-out runs at the loop's next turn: batches that arrived meanwhile (the
                # subscription hands over every waiting one at once) merge into one pass, latest tick
                # per symbol. A busy process serves fewer, fresher passes; it never falls behind.
                self._fan_out_scheduled = True
                if self.pass_delay:
                    loop.call_at(loop.time() + self.pass_delay, self._fan_out)
                else:
                    loop.call_soon(self._fan_out)

    async def _clock(self) -> None:
        """The feed's state (a quiet feed sends no batch to say so), and the timed work of the
        process's sockets (heartbeats, session checks) in one timer, not one per socket."""
        if self.status is None:
            try:
                self.status = await get_bus().afeed_status()
            except Exception:
                logger.warning("feed status unavailable at start", exc_info=True)
        ticks = 0
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            expected = loop.time() + CLOCK_SECONDS
            await asyncio.sleep(CLOCK_SECONDS)
            now = loop.time()
            metrics.loop_lag.observe(max(0.0, now - expected))
            self._stalled("the event loop", now - expected)
            ticks += 1
            if ticks % 4 == 0:
                self.tasks_running = len(asyncio.all_tasks())
                self._report()
                self.write_trace()
            for callback in (self._check_feed, *self.every_tick):
                try:
                    callback(now)
                except Exception:
                    logger.exception("timed work failed: %s", callback)

    def _stalled(self, what: str, seconds: float, frames: int | None = None) -> None:
        if seconds < STALL_SECONDS:
            return
        wall = time.time()
        if wall - self._stall_logged.get(what, 0.0) < 1.0:
            return
        self._stall_logged[what] = wall
        served = f" ({frames} frames)" if frames is not None else ""
        # each one written (not folded as repeats of one message are): when it came is the point
        message = f"live push: {what} held the process {seconds * 1000:.0f} ms{served}"
        logger.warning(message, extra={"stall": what, "stall_ms": round(seconds * 1000, 1)})

    def trace_to(self, path: str) -> None:
        """From now on each pass is a line in the file at `path` (written once a second by the clock;
        bench.live reads it); "": none."""
        self._trace_path = path
        self._trace = [] if path else None
        if path and self._schedstat is None:
            self._schedstat = _open_schedstat()

    def write_trace(self) -> None:
        if not self._trace:
            return
        lines, self._trace = self._trace, []
        try:
            with open(self._trace_path, "a") as out:
                out.write("".join(lines))
        except OSError:
            logger.warning("live push: the pass trace could not be written", exc_info=True)

    def _report(self) -> None:
        """The counters into /metrics (tradingsite/metrics.py), once a second, off the hot path."""
        batches, flushes, conflated = self._reported
        metrics.price_batches.inc(self.batches_applied - batches)
        metrics.frames_pushed.inc(self.flushes - flushes)
        metrics.changes_conflated.inc(self.conflated - conflated)
        self._reported = (self.batches_applied, self.flushes, self.conflated)
        metrics.push_listeners.set(len(self._tracked))
        metrics.asyncio_tasks.set(self.tasks_running)

    def _check_feed(self, now: float = 0.0) -> None:
        """Tell every listener when the feed's state (live / stale / simulated / replay) changes."""
        state = self.feed_state()
        if state["state"] == self._feed_state:
            return
        first, self._feed_state = self._feed_state is None, state["state"]
        if not first:
            for listener in list(self._tracked):
                listener.feed_changed(state)

    # --- listeners ----------------------------------------------------------------------------

    @property
    def passes_per_batch(self) -> int:
        return self._passes_per_batch or settings.WS_PASSES_PER_BATCH

    @property
    def turn_seconds(self) -> float:
        """The time between two of this process's passes while batches come on time: a listener's
        frame interval counted in turns (LiveSocket's `batch_interval`)."""
        return settings.PRICE_FLUSH_INTERVAL_MS / 1000 / self.passes_per_batch

    def symbol_id(self, symbol: str) -> int:
        """The symbol's id in this process (given on first use, never reused)."""
        found = self.symbol_ids.get(symbol)
        if found is None:
            found = self.symbol_ids[symbol] = len(self.quotes)
            self.quotes.append(None)
            tick = self.prices.get(symbol)
            if tick is not None:
                self.quotes[found] = Quote.of(tick)
        return found

    def mask(self, symbols: Iterable[str]) -> int:
        return sum(1 << self.symbol_id(s) for s in set(symbols))

    def quote(self, symbol: str) -> Quote | None:
        found = self.symbol_ids.get(symbol)
        return None if found is None else self.quotes[found]

    def track(self, listener: PriceListener, mask: int) -> None:
        """From now on, `listener` hears of moves in exactly these symbols (replacing any earlier set)."""
        if not self._tracked and settings.WS_PASS_SPREAD_MS and not settings.PRICE_FEED_IN_PROCESS:
            # A process that serves sockets takes its slot (the HTTP pool's processes never do).
            window = min(settings.WS_PASS_SPREAD_MS / 1000, self.turn_seconds)
            self.pass_delay = pass_spread(pass_slot(Path(settings.VAR_DIR))) * window
        self._tracked[listener] = mask

    def forget(self, listener: PriceListener) -> None:
        self._tracked.pop(listener, None)
        self._pending.pop(listener, None)
        self.phases.release(listener)

    @property
    def listeners(self) -> int:
        return len(self._tracked)

    async def prices_for(self, symbols: Iterable[str]) -> dict[str, Tick]:
        """Latest known prices; symbols not seen since start are read once from the store."""
        wanted = set(symbols)
        missing = wanted - self.prices.keys()
        if missing:
            for tick in (await get_bus().aget_many(missing)).values():
                self._remember(tick)
        return {s: self.prices[s] for s in wanted if s in self.prices}

    def feed_state(self) -> dict[str, Any]:
        status = self.status
        if status is None:
            return {"state": "stale", "source": None, "updated_ts": None}
        now, max_age = now_ms(), settings.PRICE_MAX_AGE_SECONDS * 1000
        state = status.state(now, max_age)
        if self.priced_ts is not None and now - self.priced_ts > max_age:
            state = "stale"  # the feeder flushes, but no price came for PRICE_MAX_AGE_SECONDS
        return {"state": state, "source": status.source, "updated_ts": status.updated_ts}

    # --- the hot path -------------------------------------------------------------------------

    def apply(self, batch: Batch) -> None:
        """One batch, fanned out at once."""
        self._receive(batch)
        self._fan_out()

    def _receive(self, batch: Batch) -> None:
        self.status = FeedStatus(batch.source, batch.flushed_ts)
        if batch.ticks:
            self.priced_ts = batch.flushed_ts
        if self._feed_state is not None and self._feed_state != self.status.state(batch.flushed_ts, 1):
            self._check_feed()  # back from stale, or another source: say so now, not a second later
        incoming = self._incoming
        for tick in batch.ticks:
            waiting = incoming.get(tick.symbol)
            if waiting is None or waiting.event_ts <= tick.event_ts:
                incoming[tick.symbol] = tick
        self.batches_applied += 1

    def _fan_out(self) -> None:
        self._fan_out_scheduled = False
        ticks, self._incoming = self._incoming, {}
        ids = self.symbol_ids
        moved, newest = 0, 0
        for symbol, tick in ticks.items():
            if self._remember(tick) and symbol in ids:
                moved |= 1 << ids[symbol]
                newest = max(newest, tick.event_ts)
        if not moved:
            return
        quotes = self.quotes
        pending = self._pending
        waiting, hits = len(pending), 0
        marking = time.perf_counter()
        for listener, mask in self._tracked.items():
            hit = moved & mask  # one integer AND per socket
            if hit:
                listener.prices_changed(hit, quotes)
                pending[listener] = None
                hits += 1
        self.conflated += hits - (len(pending) - waiting)  # hit while still waiting: merged into its next frame
        self._marked = time.perf_counter() - marking
        # The batch's first turn; counted by batches received, so that a pass that merged two serves
        # the listeners due at either (and the later passes of a batch not yet run: theirs too).
        per_batch = self.passes_per_batch
        self.turn = self.batches_applied * per_batch
        self._cancel_later_passes()
        loop = asyncio.get_running_loop()
        started = loop.time()
        if self.pump(at_batch=True):
            metrics.push_latency.observe(max(0, now_ms() - newest) / 1000)
        if per_batch > 1:
            step = self.turn_seconds
            self._turn_timers = [
                loop.call_at(started + k * step, self._later_pass, self.turn + k) for k in range(1, per_batch)
            ]

    def _later_pass(self, turn: int) -> None:
        """A batch's next pass: the listeners whose turn it is, with the newest prices."""
        self.turn = turn
        self._marked = 0.0  # (traced: the batch's prices_changed calls went before its first pass)
        self.pump(at_batch=True)

    def _cancel_later_passes(self) -> None:
        for timer in self._turn_timers:
            timer.cancel()
        self._turn_timers = []

    def pump(self, at_batch: bool = False) -> int:
        """The fan-out pass: every pending listener that is due and writable sends its frame now. At a
        turn (a batch's passes), those due by turn or by time; between them (the timer), those
        GRACE_SECONDS past due in time. Returns how many were served."""
        if self._pump_timer is not None:
            self._pump_timer.cancel()
            self._pump_timer = None
        if not self._pending:
            return 0
        loop = asyncio.get_running_loop()
        sched = _sched(self._schedstat) if self._trace is not None else (0, 0)
        started = time.perf_counter()
        now, quotes, batch = loop.time(), self.quotes, self.turn
        due_now, due_batch = (now, batch) if at_batch else (now - GRACE_SECONDS, -1)
        served = []
        soonest = math.inf  # when the first of those left becomes due in time
        for listener in self._pending:
            if listener.ready(due_now, due_batch):
                try:
                    listener.flush(now, batch, quotes)
                except Exception:
                    logger.exception("a socket's frame could not be sent")
                served.append(listener)
            elif listener.next_due < soonest:
                soonest = listener.next_due
        self.flushes += len(served)
        took = time.perf_counter() - started
        self._stalled("a pass", took, len(served))
        pending = self._pending
        for listener in served:
            del pending[listener]
        if self._trace is not None:
            # start (Unix ms), ms, frames, left waiting, at a batch, batch, its arrival and flush (Unix ms),
            # ms of its prices_changed calls before this pass, ms on a CPU and ms waiting for one in it
            arrived, flushed = self._arrived
            ran, waited = (b - a for a, b in zip(sched, _sched(self._schedstat), strict=True))
            self._trace.append(
                f"{time.time() * 1000 - took * 1000:.1f} {took * 1000:.2f} {len(served)} {len(pending)} "
                f"{int(at_batch)} {batch} {arrived} {flushed} {self._marked * 1000 if at_batch else 0:.2f} "
                f"{ran / 1e6:.2f} {waited / 1e6:.2f}\n"
            )
        if self._pending:  # one timer: at the next time-due socket, or polling those not draining
            wake = soonest + GRACE_SECONDS
            self._pump_timer = loop.call_at(wake if wake > now else now + PUMP_SECONDS, self.pump)
        return len(served)

    def _remember(self, tick: Tick) -> bool:
        current = self.prices.get(tick.symbol)
        if current is not None and current.event_ts > tick.event_ts:
            return False  # never let an older tick overwrite a newer one
        self.prices[tick.symbol] = tick
        found = self.symbol_ids.get(tick.symbol)
        if found is not None:  # a symbol no socket ever asked about needs no quote
            self.quotes[found] = Quote.of(tick)
        return True


hub = PriceHub()


def _open_schedstat() -> int | None:
    try:
        return os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return None


def _sched(fd: int | None) -> tuple[int, int]:
    """The calling thread's time on a CPU and waiting for one, in ns (Linux: 0, 0 elsewhere)."""
    if fd is None:
        return 0, 0
    ran, waited, _ = os.pread(fd, 100, 0).split()
    return int(ran), int(waited)


def tune_threads() -> None:
    """The threads that serve this process's requests (tradingsite/handlers.py): a few, not one per
    core plus four; and a shorter GIL switch interval, so a thread back from the database or Redis
    gets the interpreter soon instead of waiting out another's 5 ms slice. Chosen with bench.rest."""
    from concurrent.futures import ThreadPoolExecutor

    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=settings.WEB_THREADS, thread_name_prefix="request")
    )
    sys.setswitchinterval(float(settings.WEB_SWITCH_INTERVAL_MS) / 1000)


def tune_garbage_collector() -> None:
    """Everything loaded at start-up lives as long as the process: frozen out of the collector's way.
    And collections are rarer: a web process holds a few hundred thousand long-lived objects for
    its sockets, and with the default threshold (700 allocations) the fan-out's short-lived sets and
    lists triggered collections that walked them all, a quarter of the process's CPU at the design
    load (py-spy, bench/live.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    watch_collections()


async def _run_embedded_feeder() -> None:
    from pricefeed.feeder import Feeder
    from pricefeed.sources.simulated import SimulatedSource, bundled_symbols

    source = SimulatedSource(bundled_symbols(), settings.SIMULATED_RATE, settings.SIMULATED_SEED)
    await Feeder(source, get_bus(), settings.PRICE_FLUSH_INTERVAL_MS).run()


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PriceHubMiddleware:
    """Starts the hub on the server's loop: at ASGI lifespan start-up where the server has it
    (uvicorn), else on the first request (daphne has no lifespan)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if os.environ.get("WEB_POOL") != "http":  # the HTTP pool (tradingsite/serve.py) serves no socket
            hub.ensure_started()
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                tune_garbage_collector()
                tune_threads()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await hub.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

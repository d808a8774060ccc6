"""Memory management around bulk work."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_paused = 0
logger = logging.getLogger(__name__)
LONG_PAUSE_SECONDS = 0.05  # a collection this long holds every socket of the process past its pass: logged


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while a bulk computation builds hundreds of thousands of acyclic
    objects (a realized-gains report of 100,000 trades): each collection walks all of them, which
    doubled the report's time (bench.rest --report-trades). Reference counting still frees them; the
    collector resumes when the last such computation in the process ends."""
    global _paused
    with _lock:
        _paused += 1
        gc.disable()
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if not _paused:
                gc.enable()


def watch_collections() -> None:
    """Time each cyclic garbage collection of this process: `tradingsite_gc_pause_seconds` by
    generation, and a warning for one that held the process LONG_PAUSE_SECONDS or more (a live-push
    process serves its sockets every 100 ms: such a pause is a late frame for all of them)."""
    global _pauses
    from tradingsite import metrics

    _pauses = metrics.gc_pause
    if _timed not in gc.callbacks:
        gc.callbacks.append(_timed)


_collection_started = 0.0
_pauses: Any = None


def _timed(phase: str, info: dict[str, int]) -> None:
    global _collection_started
    if phase == "start":
        _collection_started = time.perf_counter()
        return
    took = time.perf_counter() - _collection_started
    _pauses.labels(str(info["generation"])).observe(took)
    if took >= LONG_PAUSE_SECONDS:
        tracked = sum(len(gc.get_objects(g)) for g in (0, 1, 2))
        # each one written (not folded as repeats of one message are): rare, and each one matters
        message = "gc: generation {} collection held the process {:.0f} ms ({} collected; {} objects tracked)"
        logger.warning(
            message.format(info["generation"], took * 1000, info["collected"], tracked),
            extra={"gc_generation": info["generation"], "gc_ms": round(took * 1000, 1)},
        )

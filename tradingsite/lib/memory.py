"""Memory management around bulk work."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0


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

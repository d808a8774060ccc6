"""A pass or an event-loop hold long enough to make frames late is written to the log, with when."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from portfolio.tests.test_live import Wire, batch, holding, live_socket
from pricefeed.hub import STALL_SECONDS, PriceHub


def test_a_long_hold_is_logged_once_a_second_each_with_its_length(caplog: pytest.LogCaptureFixture) -> None:
    hub = PriceHub()
    with caplog.at_level(logging.WARNING, logger="pricefeed.hub"):
        hub._stalled("a pass", STALL_SECONDS / 2, 10)  # short enough: nothing
        hub._stalled("a pass", 0.25, 1200)
        hub._stalled("a pass", 0.3, 1300)  # within the second: not again
        hub._stalled("the event loop", 0.18)  # another kind: its own line
    lines = [r for r in caplog.records if r.name == "pricefeed.hub"]
    assert [r.getMessage() for r in lines] == [
        "live push: a pass held the process 250 ms (1200 frames)",
        "live push: the event loop held the process 180 ms",
    ]
    assert (vars(lines[0])["stall"], vars(lines[0])["stall_ms"]) == ("a pass", 250.0)


async def test_a_traced_pass_is_a_line_with_its_timing(tmp_path: Path) -> None:
    """WS_PASS_TRACE (bench.live --trace): each pass written with when and how long, its frames, the
    batch it served and its time on a CPU and waiting for one."""
    hub = PriceHub(passes_per_batch=1)
    hub.trace_to(str(tmp_path / "passes.log"))
    wire = Wire()
    socket = live_socket(wire, [holding(1, "AUSDT", "2", "10")], hub)
    hub.track(socket, socket.mask)
    hub.apply(batch(1000, AUSDT="11"))
    hub.write_trace()
    (line,) = (tmp_path / "passes.log").read_text().splitlines()
    start, ms, frames, waiting, at_batch, turn, _arrived, _flushed, marking, cpu, wait = map(float, line.split())
    assert (frames, waiting, at_batch, turn) == (1, 0, 1, 1)
    assert len(wire.frames) == 1
    assert min(ms, marking, cpu, wait) >= 0
    assert start > 1.7e12  # Unix ms

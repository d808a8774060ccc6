"""A pass or an event-loop hold long enough to make frames late is written to the log, with when."""

from __future__ import annotations

import logging

import pytest

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

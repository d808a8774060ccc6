"""The small version of `python -m bench.feed` that runs in CI: the same topology (fake Binance, the
Procfile's feeder, Redis, a subscriber) at a tenth of the design rate for a few seconds. It checks the
bench works and the feed batches as designed; it asserts no latency figure (bench/ reports those)."""

import os

import pytest

from bench.feed import measure

pytestmark = pytest.mark.integration


def test_the_feed_bench_runs_and_batches_every_100ms(services_started):
    report = measure(seconds=3, rate=250, symbols=50)
    assert 8 <= report["batches_per_second"] <= 11
    assert report["sent_updates_per_second"] > 200
    # Latest-wins: at most one update per symbol per batch, so fewer go out than came in.
    assert report["updates_per_batch_mean"] <= 50
    assert report["feeder_counters"]["invalid_frames"] == 0
    assert report["feeder_counters"]["reconnects"] == 0
    assert os.environ["DATABASE_URL"]  # ran on the session's own servers

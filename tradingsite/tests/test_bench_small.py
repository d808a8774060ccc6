"""Small versions of the full-scale benchmarks, run in CI so `bench/` keeps working: the same
topology and code paths at a fraction of the load for a few seconds. They check that the benches run
and that nothing failed; latency figures are the full runs' business (README, performance)."""

import argparse

import pytest

pytestmark = pytest.mark.integration


def test_the_order_bench_runs(services_started):
    from bench.orders import measure

    report = measure(argparse.Namespace(seconds=3, concurrency=1, users=4, server="uvicorn", rate=5))
    assert report["statuses"].get("orders 202", 0) >= 10
    assert report["statuses"].get("portfolio 200", 0) >= 10
    assert set(report["statuses"]) == {"orders 202", "portfolio 200"}  # no error statuses


def test_the_live_bench_runs(services_started):
    from bench.live import run

    args = argparse.Namespace(
        users=40,
        positions=10,
        symbols=50,
        rate=250,
        seconds=4,
        server="uvicorn",
        web=1,
        clients=1,
        rest_rate=2,
        client_nice=10,
        no_ceiling=False,
    )
    report = run(args, ceiling_seconds=3)
    ours = report["ours"]
    assert ours["opened"] == 40
    assert ours["errors"] == 0
    assert ours["disconnects"] == 0
    assert ours["pnl_per_second"] > 0
    assert ours["latency_ms"]["p50"] is not None
    assert report["ceiling"]["messages_per_second"] > 0
    assert set(report["rest"]) >= {"orders", "portfolio"}

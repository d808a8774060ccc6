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


@pytest.mark.parametrize("proxy", ["none", "nginx", "nginx-split"])
def test_the_live_bench_runs(services_started, proxy):
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
        push_interval_ms=200,
        flush_interval_ms=100,
        pass_spread_ms=0,
        # directly: two passes per batch (as shipped) and the pass trace; through nginx: one pass
        passes_per_batch=2 if proxy == "none" else 1,
        trace=proxy == "none",
        no_ceiling=proxy != "none",
        proxy=proxy,
        # the split fronts (one nginx for the sockets, one for REST) reach the pools on Unix sockets
        upstream="unix" if proxy == "nginx-split" else "tcp",
        proxy_workers=1 if proxy == "nginx-split" else 0,
        proxy_nice=-1 if proxy == "nginx" else 0,
        web_nice=1 if proxy == "none" else 0,
    )
    report = run(args, ceiling_seconds=3)
    ours = report["ours"]
    assert ours["opened"] == 40
    assert ours["errors"] == 0
    assert ours["disconnects"] == 0
    assert ours["pnl_per_second"] > 0
    assert ours["latency_ms"]["p50"] is not None
    assert set(report["rest"]) >= {"orders", "portfolio"}
    assert report["rest"].get("timeouts", {"count": 0})["count"] == 0
    assert report["rest"].get("errors", {"count": 0})["count"] == 0
    if proxy != "none":
        assert report["proxy_cpu_us_per_pnl_frame"] is not None
    else:
        assert report["ceiling"]["messages_per_second"] > 0
        assert isinstance(ours["passes_around_late"], list)


def test_the_floor_bench_runs():
    from bench.floor import measure

    args = argparse.Namespace(
        sockets=40, servers=2, clients=1, seconds=3, spread_ms=20, client_nice=10, frame_bytes=400
    )
    run = measure(args, burn_us=5)
    assert run["opened"] == 40
    assert run["errors"] == 0
    assert run["disconnects"] == 0
    assert run["pnl_per_second"] > 100  # 40 sockets, a frame every 200 ms each: 200/s
    assert run["gap_ms"]["p50"] is not None

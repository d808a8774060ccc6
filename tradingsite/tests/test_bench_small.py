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
    from bench.live import arguments, run

    flags = "--users 40 --positions 10 --symbols 50 --rate 250 --seconds 4 --web 1 --clients 1 --rest-rate 2"
    flags += " --pass-spread-ms 0"
    if proxy == "none":  # two passes per batch (as shipped), the pass trace, the ceiling, the CPU control
        flags += " --trace --web-nice 1 --cpu-burn 10"
    else:  # one pass per batch, no ceiling
        flags += f" --passes-per-batch 1 --no-ceiling --proxy {proxy}"
    if proxy == "nginx":
        flags += " --proxy-nice -1"
    if proxy == "nginx-split":  # the split fronts reach the pools on Unix sockets
        flags += " --upstream unix --proxy-workers 1 --api-front-nice -1"
    args = arguments().parse_args(flags.split())
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
        assert report["cpu_percent_of_one_core"]["burn0"] > 0


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

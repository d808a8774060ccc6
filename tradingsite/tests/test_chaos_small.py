"""The fault suite (bench/chaos.py) at CI's size: every scenario on the local cluster, 40 live
sockets and 10 orders/s through nginx, outages of 5 s (Binance: 15 s). The full size —
2,000 sockets, 15 s outages, Binance gone 2 minutes — is `python -m bench.chaos`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tradingsite.testing.processes import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def test_every_fault_scenario_passes_at_small_scale(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--small", "--results", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    print(done.stdout[-6000:])
    reports = list(tmp_path.glob("chaos-*.json"))
    assert reports, done.stdout[-6000:] + done.stderr[-6000:]
    report = json.loads(reports[0].read_text())
    failed = {
        r["scenario"]: [k for k, ok in r["checks"].items() if not ok] for r in report["scenarios"] if not r["passed"]
    }
    assert not failed, failed
    assert [r["scenario"] for r in report["scenarios"]] == ["redis-state", "redis-bus", "postgres", "binance", "worker",
                                                            "ws-sigterm"]  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

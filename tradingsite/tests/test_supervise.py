"""deploy/supervise.py: the local cluster's `restart: unless-stopped`, with real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tradingsite.testing.processes import ROOT

pytestmark = pytest.mark.integration

# Exits 3 on its first two runs (after a moment: not a failed start), then stays up and counts.
FLAKY = """
import pathlib, sys, time
runs = pathlib.Path(sys.argv[1])
n = int(runs.read_text() or 0) + 1 if runs.exists() else 1
runs.write_text(str(n))
if n <= 2:
    time.sleep(0.3)
    sys.exit(3)
while True:
    time.sleep(0.1)
"""


def _supervise(*command: str, settle: float = 0.1) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.supervise", "--name", "flaky", "--settle", str(settle), "--", *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("not within the time")


def test_a_process_that_exits_unasked_is_started_again_and_each_restart_is_one_line(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    supervisor = _supervise(sys.executable, "-c", FLAKY, str(runs))
    try:
        _wait_for(lambda: runs.exists() and runs.read_text() == "3", 15)  # pauses of 1 s, then 2 s
        time.sleep(0.5)
        assert supervisor.poll() is None
    finally:
        supervisor.send_signal(signal.SIGTERM)
        out, _ = supervisor.communicate(timeout=15)
    lines = [line for line in out.splitlines() if line.startswith("supervise:")]
    assert len(lines) == 2, out
    assert lines[0].startswith("supervise: flaky exited (status 3) after 0.")
    assert lines[0].endswith("; restart 1 in 1 s")
    assert lines[1].endswith("; restart 2 in 2 s")
    assert runs.read_text() == "3"  # not restarted after the stop


def test_sigterm_stops_the_process_and_nothing_is_restarted(tmp_path: Path) -> None:
    started = tmp_path / "started"
    script = f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"
    supervisor = _supervise(sys.executable, "-c", script)
    _wait_for(started.exists, 15)
    supervisor.send_signal(signal.SIGTERM)  # to the supervisor alone: it passes it on
    out, _ = supervisor.communicate(timeout=15)
    assert supervisor.returncode == 128 + signal.SIGTERM  # the command's own end, as a shell reports it
    assert "exited" not in out


def test_a_command_that_fails_on_its_first_start_is_not_retried() -> None:
    supervisor = _supervise(sys.executable, "-c", "import sys; sys.exit(2)", settle=5)
    out, _ = supervisor.communicate(timeout=15)
    assert supervisor.returncode == 2
    assert "flaky failed on its first start (status 2): not restarted" in out

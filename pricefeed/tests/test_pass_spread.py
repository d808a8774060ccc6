"""The socket processes of one machine run their fan-out passes at different points of each batch
interval (pricefeed/hub.py: pass_slot, pass_spread)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pricefeed.hub import pass_spread
from tradingsite.testing.processes import ROOT, base_env

TAKE_SLOT = (
    "import sys, time; from pathlib import Path; from pricefeed.hub import pass_slot; "
    "print(pass_slot(Path(sys.argv[1])), flush=True); sys.stdin.read()"
)


def test_the_slots_spread_the_passes_evenly_whatever_the_number_of_processes():
    assert [pass_spread(k) for k in range(8)] == [0, 0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875]


def test_each_process_takes_the_lowest_free_slot_and_a_dead_ones_slot_is_free_again(tmp_path: Path):
    env = base_env(DJANGO_SETTINGS_MODULE="tradingsite.settings", VAR_DIR=str(tmp_path))

    def start() -> tuple[subprocess.Popen[str], int]:
        proc = subprocess.Popen(
            [sys.executable, "-c", TAKE_SLOT, str(tmp_path)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        return proc, int(proc.stdout.readline())

    procs = []
    try:
        first, slot = start()
        procs.append(first)
        assert slot == 0
        second, slot = start()
        procs.append(second)
        assert slot == 1
        first.kill()  # no clean exit: the kernel releases its lock
        first.wait()
        third, slot = start()
        procs.append(third)
        assert slot == 0
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()

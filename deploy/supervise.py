"""Keep one process running: what `restart: unless-stopped` is to docker compose, for the local cluster.

    python -m deploy.supervise --name worker -- celery --app tradingsite worker ...

Runs the command in the supervisor's own process group, and when it exits without having been
asked to stop, logs why and starts it again after a pause (1 s, doubling to 30 s; back to 1 s after
a run of a minute or more). SIGTERM or SIGINT to the supervisor ends the supervision: nothing is
restarted after it. SIGTERM is passed on to the command (a second one, when the whole process group
was signalled as `deploy/local-cluster` does, changes nothing for Celery or uvicorn); SIGINT is not
(a terminal sends it to the group already, and Celery takes a second one as "now"). A command that
fails on its first start (within `--settle` seconds) is not retried either: the supervisor exits
with its status, so a configuration error shows at once instead of looping. Each restart is one
line on stdout:

    supervise: worker exited (status 1) after 83.2 s; restart 1 in 1 s

`deploy/cluster.py` starts every app process under it; `bench.chaos` counts those lines to report
the restarts a fault caused.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from types import FrameType

RESTART_MARK = "supervise: {name} exited"  # how a restart's line starts (deploy/cluster.py counts them)
RESTART_LINE = RESTART_MARK + " ({why}) after {ran:.1f} s; restart {count} in {pause:g} s"
FIRST_PAUSE, LONGEST_PAUSE, HEALTHY_RUN = 1.0, 30.0, 60.0


class Supervisor:
    def __init__(self, name: str, command: list[str], settle: float) -> None:
        self.name, self.command, self.settle = name, command, settle
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping: int | None = None  # the signal that asked us to stop

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = signum
        if signum == signal.SIGTERM and self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        restarts, pause, first = 0, FIRST_PAUSE, True
        while self.stopping is None:
            started = time.monotonic()
            self.child = subprocess.Popen(self.command)
            status = self.child.wait()
            ran = time.monotonic() - started
            if self.stopping is not None:
                break
            if first and ran < self.settle and status != 0:
                print(f"supervise: {self.name} failed on its first start (status {status}): not restarted", flush=True)
                return status if status > 0 else 1
            first = False
            pause = FIRST_PAUSE if ran >= HEALTHY_RUN else pause
            restarts += 1
            why = f"signal {-status}" if status < 0 else f"status {status}"
            print(RESTART_LINE.format(name=self.name, why=why, ran=ran, count=restarts, pause=pause), flush=True)
            deadline = time.monotonic() + pause
            while self.stopping is None and time.monotonic() < deadline:
                time.sleep(0.1)
            pause = min(LONGEST_PAUSE, pause * 2)
        status = self.child.wait() if self.child is not None else 0
        return 128 - status if status < 0 else status  # killed by a signal: the shell's 128 + its number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.supervise", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--name", required=True, help="what the log lines call it")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="a first run shorter than this that fails is not retried (seconds)")  # fmt: skip
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command and its arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (after --)")
    return Supervisor(args.name, command, args.settle).run()


if __name__ == "__main__":
    sys.exit(main())

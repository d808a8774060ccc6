"""A PostgreSQL server gone silently must not hold a request for TCP's ~15 minutes.

A host lost or a partition sends nothing: no FIN, no RST. The pool's check as it hands a connection
out (tradingsite/lib/postgresql: is the socket readable?) sees a quiet socket and hands it out, and
a query on it waits for TCP's retransmissions. `DATABASE_DEAD_PEER_SECONDS` (libpq's keepalives and
`tcp_user_timeout`, tradingsite/settings.py) ends such a connection within that many seconds.

The silence is real: a queueing discipline on the loopback drops every packet of one connection
(matched by its client port), both ways, the way a lost host's packets vanish; it is removed after.
A Django process (`manage.py shell`) opens its pooled connection, the test silences it, and the
process runs a query: with the setting the query fails within the bound and the next one goes
through on a new connection; with the options turned off in the URL (the control) the same query is
still waiting past the bound, so the silence is what the options end."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradingsite.testing.processes import ROOT, production_env

pytestmark = pytest.mark.integration

DEAD_PEER_SECONDS = 3

SCRIPT = r"""
import os, socket, sys, time
from django.db import connection
connection.ensure_connection()
with socket.socket(fileno=os.dup(connection.connection.pgconn.socket)) as sock:
    print("port", sock.getsockname()[1], flush=True)
sys.stdin.readline()  # the test has silenced the connection
started = time.monotonic()
try:
    with connection.cursor() as cursor:
        cursor.execute("select 1")
    print("answered", round(time.monotonic() - started, 1), flush=True)
except Exception as exc:
    print("failed", type(exc).__name__, round(time.monotonic() - started, 1), repr(str(exc)), flush=True)
connection.close()  # as Django does at the end of a request: the broken connection leaves the pool
with connection.cursor() as cursor:
    cursor.execute("select 1")
    print("then", cursor.fetchone()[0], flush=True)
"""


@contextlib.contextmanager
def silenced(port: int) -> Iterator[None]:
    """Every packet from or to loopback port `port` held back: an HTB root (the other traffic takes its
    direct queue, unshaped) with one class at 8 bits a second, and the port's packets classified into
    it. They wait in its queue and go when the rule is removed: nothing arrives and the sender is
    told nothing, as with a lost host. (Dropping them at the qdisc would not do: TCP sees a local
    drop and gives up after its resource probes, 0.5 s × tcp_retries2, ~8 s here, which a lost host
    never gives. This kernel has HTB and u32, not netem or the drop action, for the ingress side.)"""
    tc = shutil.which("tc") or "/usr/sbin/tc"

    def run(*args: str) -> None:
        subprocess.run([tc, *args], check=True, capture_output=True, text=True)

    run("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb")
    try:
        run(
            "class",
            "add",
            "dev",
            "lo",
            "parent",
            "1:",
            "classid",
            "1:2",
            "htb",
            "rate",
            "8bit",
            "burst",
            "1",
            "cburst",
            "1",
        )
        for direction in ("sport", "dport"):
            run("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                "match", "ip", direction, str(port), "0xffff", "flowid", "1:2")  # fmt: skip
        yield
    finally:
        run("qdisc", "del", "dev", "lo", "root")


def django_process(database_url: str, var_dir: Path) -> tuple[subprocess.Popen[str], queue.Queue[str], int]:
    """The script running in a production-configured Django process: the process, its output lines,
    and the client port of the pooled connection it holds."""
    env = production_env(
        database_url=database_url,
        redis_url=os.environ["REDIS_URL"],
        var_dir=str(var_dir),
        DATABASE_DEAD_PEER_SECONDS=str(DEAD_PEER_SECONDS),
        LOG_LEVEL="ERROR",
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = lines(process)
    try:
        return process, out, int(line_of(out, "port ")[1])
    except BaseException:
        process.kill()
        raise


def ask(process: subprocess.Popen[str]) -> None:
    """The script runs its query."""
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()


def lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's output lines as they come (read on a thread: a hung query must fail the test
    at `line_of`'s deadline, not hang it)."""
    out: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            out.put(line)
        out.put("")  # the end

    threading.Thread(target=read, daemon=True).start()
    return out


def line_of(out: queue.Queue[str], *starts: str, timeout: float = 30) -> list[str]:
    """The script's next line that starts with one of `starts` (the process also logs, as JSON)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = out.get(timeout=left)
        except queue.Empty:
            break
        if not line:
            raise AssertionError("the Django process ended first")
        if line.startswith(starts):
            return line.split()
    raise AssertionError(f"no {starts} line within {timeout} s")


def test_a_query_on_a_silently_dropped_connection_fails_within_the_bound_and_the_next_goes_through(
    services_started, tmp_path
):
    process, out, port = django_process(os.environ["DATABASE_URL"], tmp_path)
    try:
        with silenced(port):
            ask(process)
            failed = line_of(out, "failed ", "answered ", timeout=DEAD_PEER_SECONDS + 10)
        then = line_of(out, "then ")
        assert process.wait(30) == 0
    finally:
        process.kill()
    assert failed[:2] == ["failed", "OperationalError"], failed
    assert DEAD_PEER_SECONDS - 1 <= float(failed[2]) <= DEAD_PEER_SECONDS + 3, " ".join(failed)
    assert then == ["then", "1"]


def test_without_the_options_the_same_query_is_still_waiting_past_the_bound(services_started, tmp_path):
    # The control: the URL's own options win over the setting's (tradingsite/settings.py).
    process, out, port = django_process(os.environ["DATABASE_URL"] + "?keepalives=0&tcp_user_timeout=0", tmp_path)
    try:
        with silenced(port):
            ask(process)
            with pytest.raises(AssertionError, match="no"):
                line_of(out, "failed ", "answered ", timeout=DEAD_PEER_SECONDS + 4)
    finally:
        process.kill()
        process.wait(10)

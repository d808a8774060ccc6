"""The production web servers: uvicorn on a listening socket whose send buffer is set small.

    python -m tradingsite.serve --pool http [--port 8000] [--workers 2]   (the Procfile's `web`)
    python -m tradingsite.serve --pool ws [--port 8001] [--workers 2]     (the Procfile's `ws`)
    python -m tradingsite.serve [--pool all]                               (both on one port)
    python -m tradingsite.serve --pool ws --uds /run/tradingsite/ws.sock   (a Unix socket instead)

Two pools, same code and settings: `ws` serves the live sockets (/ws/), `http` everything else
(pages, API, admin), so requests never wait behind the push's fan-out on a busy event loop. The
front proxy (deploy/nginx/) routes /ws/ to the one and the rest to the other; on several
machines the load balancer does the same. `--pool all` serves both from one pool (a small
deployment, the tests). `--workers N` runs N processes on the one listening socket.

`--uds PATH` listens on a Unix socket instead of a port (with `--workers N`: PATH.1 … PATH.N, one per
worker), for a front proxy on the same machine: a frame written to a Unix socket costs the pool less
CPU than one written over loopback TCP, where the sender also runs the receiver's TCP/IP input
(bench.live, REST alongside: 19.9–22.5 µs of the socket pool's CPU per pnl frame behind nginx on
Unix sockets, 24.0–25.4 µs direct over TCP).

Why not the `uvicorn` command: Linux autotunes a TCP socket's send buffer up to `tcp_wmem`'s
maximum (4 MB here). A live socket whose client falls behind would then have megabytes of old PnL
queued in the kernel before the server feels any back-pressure, and the client would read
minutes-old numbers in order (measured with bench/live.py: latency growing without bound). Sockets
accepted from a listener inherit its SO_SNDBUF, so the listener is made here with a small one
(`WEB_SEND_BUFFER_BYTES`, 64 KB): a slow client pushes back within a few messages, the consumer's
sender waits, and changes are conflated to the latest numbers.

Options as the Procfile had them: no proxy headers (the client IP comes from TRUSTED_PROXY_COUNT),
no access log, 64 KB WebSocket messages at most, 5 s graceful shutdown (sockets closed with 1012),
idle keep-alive connections kept 75 s (longer than the proxy keeps its own: it closes first).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import socket
import stat
import sys
from pathlib import Path

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from tradingsite.lib import logs

logger = logging.getLogger("uvicorn.error")


def listener(host: str, port: int, send_buffer: int, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def unix_listener(path: str, send_buffer: int) -> socket.socket:
    """A listening Unix socket at `path` (a socket file left there by an instance that was killed is
    replaced; any other file is an error). Its connections do not inherit its send buffer as TCP's
    do: GuardedHttpProtocol sets it on each (httpserver.SEND_BUFFER)."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise SystemExit(f"--uds {path}: a file that is not a socket is there")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind(path)
    os.chmod(path, 0o660)  # the proxy's user in the app's group, nobody else
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def unix_paths(path: str, workers: int) -> list[str]:
    return [path] if workers == 1 else [f"{path}.{i}" for i in range(1, workers + 1)]


def listeners(host: str, port: int, send_buffer: int, count: int) -> list[socket.socket]:
    """`count` sockets on one port (SO_REUSEPORT), one per worker: the kernel spreads new
    connections over them by a hash of each connection's addresses, so every worker gets its share.
    On one shared socket the workers race to accept, and whoever wins a burst keeps those
    keep-alive connections: 100 connections opened at once went 67 / 33 to two workers
    (bench.rest), and the busier one set the latency for all."""
    first = listener(host, port, send_buffer, reuse_port=True)
    port = first.getsockname()[1]  # (port 0: the one the system chose, for them all)
    return [first, *(listener(host, port, send_buffer, reuse_port=True) for _ in range(count - 1))]


# A socket whose workers died this many times in a row without ever finishing start-up: the app cannot
# start (an import that fails, a setting that is wrong), and starting it again only leaves the port
# accepting connections nobody serves.
FAILED_STARTS = 3


class BalancedMultiprocess(Multiprocess):
    """uvicorn's supervisor, each worker on its own listening socket (`listeners`); a worker that
    dies is started again on the same socket (its accept queue waits for it meanwhile). The parts of
    uvicorn's that start workers are repeated here with the worker's own socket.

    A worker that dies before it has finished start-up, FAILED_STARTS times in a row on a socket,
    stops the supervisor with STARTUP_FAILURE as its exit status (`exit_code`), as does one that exits
    with STARTUP_FAILURE itself: the process manager sees a server that cannot start instead of one
    that restarts it for ever while clients wait on its port."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]):
        super().__init__(config, sockets)
        self.processes_num = len(sockets)
        self.exit_code = 0
        self._ready = [False] * len(sockets)  # has the socket's current worker finished start-up?
        self._failed_starts = [0] * len(sockets)  # its workers that died before that, in a row

    def _worker(self, index: int) -> Process:
        return Process(self.config, [self.sockets[index]])

    def init_processes(self) -> None:
        for index in range(self.processes_num):
            process = self._worker(index)
            process.start()
            self.processes.append(process)

    def restart_all(self) -> None:
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._worker(index)
            new.start()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                logger.error("a new worker was not ready in time; keeping worker [%s]", old.pid)
                return
            old.terminate()
            old.join()
            forget_metrics_of(old.pid)
            self.processes[index] = new
            self._ready[index], self._failed_starts[index] = True, 0

    def keep_subprocess_alive(self) -> None:
        for index, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            # uvicorn's health check answers whether the worker has finished start-up (None: no answer)
            started = (
                process._healthcheck(self.config.timeout_worker_healthcheck) if process.process.is_alive() else None
            )
            if started is not None:
                if started and not self._ready[index]:
                    self._ready[index], self._failed_starts[index] = True, 0
                continue
            process.kill()  # hung: killed; dead: reaped
            process.join()
            forget_metrics_of(process.pid)
            if not self._ready[index]:
                self._failed_starts[index] += 1
            if process.exitcode == STARTUP_FAILURE or self._failed_starts[index] >= FAILED_STARTS:
                # the app cannot start: neither will its replacement
                logger.error(
                    "worker [%s] failed to start (exit status %s, %d in a row on its socket), stopping",
                    process.pid,
                    process.exitcode,
                    self._failed_starts[index],
                )
                self.exit_code = STARTUP_FAILURE
                self.should_exit.set()
                return
            logger.info("worker [%s] died; starting another on its socket", process.pid)
            self._ready[index] = False
            self.processes[index] = self._worker(index)
            self.processes[index].start()

    def handle_ttin(self) -> None:
        logger.warning("SIGTTIN ignored: the worker count is the number of listening sockets (--workers)")

    def handle_ttou(self) -> None:
        logger.warning("SIGTTOU ignored: the worker count is the number of listening sockets (--workers)")


def forget_metrics_of(pid: int | None) -> None:
    """A dead worker's live gauges (sockets open, push listeners, tasks: prometheus_client's `live*`
    modes) leave /metrics; without this its last values were summed in for the instance's life."""
    if pid is not None and "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def metrics_folder(pool: str, port: int | str) -> None:
    """The instance's processes count /metrics into files of one folder (prometheus_client's
    multi-process mode), emptied at start: counters begin at zero with the instance."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        return
    var = Path(os.environ.get("VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
    folder = var / "metrics" / f"{pool}-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def config_for(pool: str, workers: int) -> uvicorn.Config:
    production = bool(os.environ.get("DATABASE_URL"))
    log_format = os.environ.get("LOG_FORMAT") or ("json" if production else "plain")
    return uvicorn.Config(
        "tradingsite.asgi:application",
        proxy_headers=False,
        # uvicorn's httptools protocol with header / body timeouts and a per-address connection cap.
        http="tradingsite.httpserver:GuardedHttpProtocol",
        access_log=False,
        ws_max_size=65536,
        # uvicorn's sans-I/O protocol plus the live push's direct send path (tradingsite/wsserver.py);
        # the HTTP pool takes no WebSocket at all.
        ws="none" if pool == "http" else "tradingsite.wsserver:PushWebSocketProtocol",
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=5,
        # Idle keep-alive connections are closed by the proxy first (nginx's upstream keepalive_timeout
        # is 60 s): a server that closed first could do it just as nginx sends a request on the
        # connection, and nginx answers a POST that met a closed connection with 502 (not retried).
        timeout_keep_alive=75,
        log_config=logs.config(os.environ.get("LOG_LEVEL") or "INFO", log_format),
        lifespan="on",
        workers=workers,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 (a server behind the proxy listens on all interfaces)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--pool", choices=["all", "http", "ws"], default="all")
    parser.add_argument("--workers", type=int, default=1, help="processes on the listening socket")
    parser.add_argument("--uds", metavar="PATH", help="listen on a Unix socket (PATH.1 … PATH.N with N workers)")
    args = parser.parse_args()
    os.environ["WEB_POOL"] = args.pool  # read by the live push: an http pool starts no price hub
    from tradingsite.httpserver import SEND_BUFFER

    metrics_folder(args.pool, Path(args.uds).name if args.uds else args.port)
    config = config_for(args.pool, args.workers)
    if args.uds:
        sockets = [unix_listener(path, SEND_BUFFER) for path in unix_paths(args.uds, args.workers)]
    elif args.workers > 1:
        sockets = listeners(args.host, args.port, SEND_BUFFER, args.workers)
    else:
        sockets = [listener(args.host, args.port, SEND_BUFFER)]
    if len(sockets) > 1:
        supervisor = BalancedMultiprocess(config, sockets)
        supervisor.run()
        if supervisor.exit_code:
            sys.exit(supervisor.exit_code)
    else:
        uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()

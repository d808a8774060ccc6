"""Throwaway PostgreSQL and Redis servers for one test session, started from the binaries on PATH
(PostgreSQL's also from `pg_config --bindir`). Data lives in a temporary folder, fsync off."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


class ServiceUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceUnavailable(f"process exited with code {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise ServiceUnavailable(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def _postgres_bindir(tools: tuple[str, ...] = ("initdb", "pg_ctl")) -> Path:
    """A folder holding all of `tools` (PATH may hold wrappers of only some of them)."""
    candidates: list[str] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            candidates.append(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if all((Path(folder) / tool).exists() for tool in tools):
            return Path(folder)
    raise ServiceUnavailable(
        f"PostgreSQL server binaries ({', '.join(tools)}) not found on PATH, in `pg_config --bindir` or "
        "/usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: apt-get install -y postgresql) "
        "or point TEST_DATABASE_URL at a server you run (postgres://user@host:port/db)."
    )


class PostgresServer:
    """initdb + pg_ctl in a temp folder. PostgreSQL refuses to run as root, so as root it runs as the
    `postgres` system user that the server package creates."""

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self.port = free_port()
        self.datadir = Path(tempfile.mkdtemp(prefix="tradingsite-pg-"))
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise ServiceUnavailable(
                    "running as root and there is no `postgres` user to run PostgreSQL as: "
                    "create one or set TEST_DATABASE_URL"
                ) from None
            os.chown(self.datadir, owner.pw_uid, owner.pw_gid)
            runuser = shutil.which("runuser") or "runuser"
            self.run_as = [runuser, "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        # cwd: the postgres user may not be allowed into the current folder.
        result = subprocess.run([*self.run_as, *args], capture_output=True, text=True, cwd=self.datadir, check=False)
        if result.returncode != 0:
            raise ServiceUnavailable(f"{Path(args[0]).name} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> PostgresServer:
        data = str(self.datadir / "data")
        self._run(str(self.bindir / "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        log = str(self.datadir / "postgres.log")
        self._run(str(self.bindir / "pg_ctl"), "-D", data, "-o", options, "-l", log, "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        with contextlib.suppress(ServiceUnavailable):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.datadir, ignore_errors=True)


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable(
                "redis-server not found on PATH. Install it (Debian/Ubuntu: apt-get install -y redis-server) "
                "or point TEST_REDIS_URL at a server you run (redis://host:port/db; it is flushed per test)."
            )
        self.binary = binary
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, 15, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            if self.proc.poll() is None:
                self.proc.kill()

"""Helpers for tests that run the project's own processes (servers, the feeder, `make run`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)


def procfile_command(name: str) -> list[str]:
    """A Procfile line as the process manager runs it: through sh (for ${VAR:-default}), exec'd so
    that signals reach the process itself."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return ["/bin/sh", "-c", f"exec {command.strip()}"]
    raise KeyError(f"no {name!r} process in the Procfile")


# Both pools in one process on one port (tradingsite/serve.py --pool all): a deployment without a
# front proxy, for tests that speak HTTP and WebSocket to the same server.
ONE_POOL = ["/bin/sh", "-c", "exec python -m tradingsite.serve --pool all --host 127.0.0.1 --port $PORT"]


class Process:
    """A child in its own process group, its output collected line by line on a thread."""

    def __init__(self, command: list[str], *, env: dict[str, str], cwd: Path = ROOT):
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if needle in line:
                    return line
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"process exited ({self.proc.returncode}) before printing {needle!r}:\n{self.output}"
                )
            time.sleep(0.1)
        raise AssertionError(f"no {needle!r} after {timeout:.0f}s:\n{self.output[-5000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment: no project variables leak in from the test session."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_CACHE_DIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return {**env, **extra}


def fresh_database(server_url: str, prefix: str) -> str:
    """Creates an empty database on the server of `server_url`; returns its URL."""
    import secrets

    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(database_url: str) -> None:
    import psycopg

    server_url, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production_env(*, database_url: str, redis_url: str, var_dir: str, **extra: str) -> dict[str, str]:
    """The environment of a production deployment, for processes on this machine's loopback."""
    import secrets

    return base_env(
        PATH=f"{VENV_BIN}:{os.environ['PATH']}",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        VAR_DIR=var_dir,
        SECURE_SSL_REDIRECT="0",  # plain HTTP on loopback; HTTPS settings have their own test
        SECURE_COOKIES="0",
        PYTHONUNBUFFERED="1",
        **{"PRICE_SOURCE": "simulated", **extra},  # Binance is unreachable from tests and benches
    )


def prepare_database(env: dict[str, str], seed: str) -> str:
    """`migrate`, then `seed` (Python for `manage.py shell -c`) against the database of `env`; returns
    what the seed printed."""
    out = ""
    for args in (["migrate", "--noinput", "-v", "0"], ["shell", "-c", seed]):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"manage.py {args[0]} failed:\n{done.stderr[-3000:]}")
        out = done.stdout
    return out

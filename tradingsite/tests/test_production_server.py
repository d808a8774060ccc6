"""Production wiring end to end: real PostgreSQL and Redis, the Procfile's own commands."""

import os
import secrets
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from tradingsite.testing.processes import ROOT, VENV_BIN, Process, base_env, procfile_command
from tradingsite.testing.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration


@pytest.fixture
def production_env(tmp_path, services_started):
    """A database of its own beside pytest-django's, and the environment a deployment would have."""
    server_url = os.environ["DATABASE_URL"]
    name = f"prodcheck_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = base_env(
        PATH=f"{VENV_BIN}:{os.environ['PATH']}",
        DATABASE_URL=server_url.rsplit("/", 1)[0] + f"/{name}",
        REDIS_URL=os.environ["REDIS_URL"],
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        VAR_DIR=str(tmp_path),
        PYTHONUNBUFFERED="1",
    )
    yield env
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_migrate_check_and_healthz_on_the_production_asgi_server(production_env):
    migrate = manage(production_env, "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    check = manage(production_env, "check")
    assert check.returncode == 0, check.stderr
    assert "System check identified no issues" in check.stdout

    port = free_port()
    web = Process(procfile_command("web"), env={**production_env, "PORT": str(port)})
    try:
        wait_for_port(port, 30, web.proc)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert "daphne" in health.headers.get("server", "")

        ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 503  # no feeder yet: prices missing
        assert ready.json()["checks"]["database"] == {"ok": True}
        assert ready.json()["checks"]["cache"] == {"ok": True}

        feeder = Process(procfile_command("feeder"), env=production_env)
        try:
            deadline = time.monotonic() + 30
            while (ready := httpx.get(f"http://127.0.0.1:{port}/readyz")).status_code != 200:
                assert time.monotonic() < deadline, ready.text + feeder.output
                time.sleep(0.2)
            assert ready.json()["checks"]["prices"]["state"] == "simulated"
        finally:
            assert feeder.stop() == 0, feeder.output  # SIGTERM: final flush, clean exit
    finally:
        web.stop()

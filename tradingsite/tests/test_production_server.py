"""Production wiring end to end: real PostgreSQL and Redis, the Procfile's own commands."""

import subprocess
import sys
import time

import httpx
import pytest

from tradingsite.testing.processes import ROOT, Process, procfile_command
from tradingsite.testing.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration


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
        assert "uvicorn" in health.headers.get("server", "")

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

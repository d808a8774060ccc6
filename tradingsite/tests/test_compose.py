"""docker-compose.yml is valid for Compose, and the environment it gives the apps passes Django's
deployment checks. (No Docker daemon needed: `config` only reads and resolves the file.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tradingsite.testing.processes import ROOT, base_env

pytestmark = pytest.mark.integration  # subprocesses; `check --deploy` builds the OpenAPI schema

APP_SERVICES = ("migrate", "web", "ws", "feeder", "worker", "beat")


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    raise AssertionError(
        "neither `docker compose` nor `docker-compose` is installed (Debian/Ubuntu: apt-get install -y "
        "docker-compose; .ci/run does)"
    )


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`docker compose config` in a copy of the project files, with .env made from .env.example as
    the README says."""
    folder = tmp_path_factory.mktemp("compose")
    shutil.copy(ROOT / "docker-compose.yml", folder)
    shutil.copy(ROOT / "Dockerfile", folder)
    shutil.copytree(ROOT / "deploy", folder / "deploy", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".env.example", folder / ".env")
    result = subprocess.run(
        [*compose_command(), "config"], cwd=folder, capture_output=True, text=True, check=False, env=base_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_config_passes_and_has_the_whole_topology(resolved: dict):
    services = resolved["services"]
    expected = {"postgres", "postgres-replica", "redis-state", "redis-bus", "nginx", "stream", *APP_SERVICES}
    assert expected <= services.keys()
    for name in ("postgres", "postgres-replica", "redis-state", "redis-bus", "web", "ws", "nginx", "stream"):
        assert "healthcheck" in services[name], name
    assert {"pgdata", "pgreplica", "redisdata", "static"} <= resolved["volumes"].keys()
    web = services["web"]["environment"]
    assert web["DATABASE_URL"].startswith("postgres://tradingsite:")
    assert "@postgres:5432/" in web["DATABASE_URL"]
    assert "@postgres-replica:5432/" in web["DATABASE_REPLICA_URL"]
    assert (web["REDIS_URL"], web["PRICE_REDIS_URL"]) == ("redis://redis-state:6379/0", "redis://redis-bus:6379/0")
    assert web["TRUSTED_PROXY_COUNT"] == "1"  # nginx, and nothing else, in front
    # the pages' live sockets go to the stream front, published on the port STREAM_URL names
    published = {str(port["published"]) for port in services["stream"]["ports"]}
    assert web["STREAM_URL"] == ":8001"
    assert published == {"8001"}
    assert "appendonly" in " ".join(services["redis-state"]["command"])  # sessions survive a restart


@pytest.mark.parametrize("service", ["web", "ws", "worker"])
def test_check_deploy_passes_with_the_compose_environment(resolved: dict, service: str, tmp_path: Path):
    env = {k: str(v) for k, v in resolved["services"][service]["environment"].items() if v is not None}
    env["SECRET_KEY"] = "x7Kq2mP9vR4tW8yZ1bN5cF3hJ6gL0dS-aE_uI7oX2qT9wV4rY8zM1nB5"  # .env's stands in for one
    env["VAR_DIR"] = env["STATIC_ROOT"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=base_env(**env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_of_a_plain_ws_stream_front_behind_https(resolved: dict, tmp_path: Path):
    """Pages over HTTPS (SECURE_SSL_REDIRECT, as in compose) cannot open ws://: check --deploy says so."""
    env = {k: str(v) for k, v in resolved["services"]["web"]["environment"].items() if v is not None}
    env["SECRET_KEY"] = "x7Kq2mP9vR4tW8yZ1bN5cF3hJ6gL0dS-aE_uI7oX2qT9wV4rY8zM1nB5"
    env["VAR_DIR"] = env["STATIC_ROOT"] = str(tmp_path)
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    plain = subprocess.run(command, cwd=ROOT, env=base_env(**{**env, "STREAM_URL": "ws://stream.example.com"}),
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert plain.returncode != 0
    assert "pricefeed.W001" in plain.stdout + plain.stderr
    secure = subprocess.run(command, cwd=ROOT, env=base_env(**{**env, "STREAM_URL": "wss://stream.example.com"}),
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert secure.returncode == 0, secure.stdout + secure.stderr

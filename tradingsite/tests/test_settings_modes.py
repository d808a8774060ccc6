"""The two run modes are configuration only: each case loads the settings in a fresh interpreter."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "health": settings.DATABASES["default"].get("CONN_HEALTH_CHECKS"),
    "cache": settings.CACHES["default"]["BACKEND"],
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "broker": settings.CELERY_BROKER_URL,
    "bus": settings.PRICE_BUS,
    "in_process": settings.PRICE_FEED_IN_PROCESS,
    "debug": settings.DEBUG,
    "session": settings.SESSION_ENGINE,
    "stream": settings.STREAM_URL,
}))
"""


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tradingsite.settings", "VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env={**environ, **env}, capture_output=True, text=True, check=False
    )


def test_no_variables_give_the_embedded_demo(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "engine": "django.db.backends.sqlite3",
        "health": None,
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "layer": "channels.layers.InMemoryChannelLayer",
        "eager": True,
        "broker": "memory://",
        "bus": "memory",
        "in_process": True,
        "debug": False,
        "session": "accounts.sessions.backend",
        "stream": "",
    }


@pytest.mark.parametrize("value", ["wss://stream.example.com", "ws://127.0.0.1:8090/", ":8001"])
def test_the_stream_front_is_a_url_or_a_port_on_the_pages_host(tmp_path, value):
    result = load_settings(tmp_path, STREAM_URL=value)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stream"] == value.rstrip("/")


def test_database_and_redis_urls_give_the_production_wiring(tmp_path):
    result = load_settings(
        tmp_path,
        DATABASE_URL="postgres://u:p@db.internal:5432/trading",
        REDIS_URL="redis://cache.internal:6379/0",
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="trading.example.com",
    )
    assert result.returncode == 0, result.stderr
    wiring = json.loads(result.stdout)
    assert wiring["engine"] == "tradingsite.lib.postgresql"
    assert wiring["health"] is True
    assert wiring["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert wiring["layer"] == "channels_redis.core.RedisChannelLayer"
    assert wiring["eager"] is False
    assert wiring["broker"] == "redis://cache.internal:6379/0"
    assert (wiring["bus"], wiring["in_process"], wiring["debug"]) == ("redis", False, False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "postgres://u@h/d"}, "REDIS_URL is not set"),
        ({"REDIS_URL": "redis://h:6379/0"}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "postgres://u@h/d", "REDIS_URL": "redis://h/0"}, "SECRET_KEY is not set"),
        (
            {"DATABASE_URL": "postgres://u@h/d", "REDIS_URL": "redis://h/0", "SECRET_KEY": "k"},
            "ALLOWED_HOSTS is empty",
        ),
        (
            {"DATABASE_URL": "mysql://u@h/d", "REDIS_URL": "redis://h/0", "SECRET_KEY": "k", "ALLOWED_HOSTS": "x"},
            "DATABASE_URL must be a postgres:// URL",
        ),
        ({"DEBUG": "perhaps"}, "DEBUG='perhaps' is not a boolean"),
        ({"STREAM_URL": "https://stream.example.com"}, "give the stream front as ws[s]://host[:port] or as :PORT"),
        ({"STREAM_URL": "wss://stream.example.com/ws/"}, "STREAM_URL='wss://stream.example.com/ws'"),
    ],
)
def test_incomplete_production_configuration_fails_clearly(tmp_path, env, message):
    result = load_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_the_demo_on_a_busy_port_says_which_port_and_how_to_pick_another(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        environ = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path)}
        result = subprocess.run(
            [sys.executable, "manage.py", "demo", "--port", str(port)],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is taken" in result.stderr
    assert f"make run PORT={port + 1}" in result.stderr
    assert "Traceback" not in result.stderr

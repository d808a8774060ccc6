"""Shared fixtures. The real PostgreSQL / Redis servers come from tradingsite/testing/plugin.py."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import psycopg
import pytest

from tradingsite.testing.processes import VENV_BIN, base_env


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users are created in many tests; a slow hasher there buys nothing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user(username="owner", password="owner-password-1")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="other", password="other-password-1")


@pytest.fixture
async def price_hub() -> AsyncIterator[object]:
    """The process's price hub, started on this test's loop and stopped after it."""
    from pricefeed.hub import hub

    hub.ensure_started()
    yield hub
    await hub.stop()


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
        SECURE_SSL_REDIRECT="0",  # plain HTTP on loopback; HTTPS settings have their own test
        SECURE_COOKIES="0",
        PYTHONUNBUFFERED="1",
    )
    yield env
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

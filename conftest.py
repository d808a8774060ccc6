"""Shared fixtures. The real PostgreSQL / Redis servers come from tradingsite/testing/plugin.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest


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

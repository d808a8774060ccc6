"""Shared fixtures. The real PostgreSQL / Redis servers come from tradingsite/testing/plugin.py."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tradingsite.testing.processes import drop_database, fresh_database
from tradingsite.testing.processes import production_env as production_env_for


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users are created in many tests; a slow hasher there buys nothing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_symbol_cache():
    """Each test's database is rolled back under the process-wide symbol cache: start it empty."""
    from pricefeed.selectors import symbol_cache_clear

    symbol_cache_clear()


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
def chromium():
    """Headless Chromium for one test. (Playwright's sync API runs an event loop on this thread while
    it is open: a longer-lived one would break later tests that start their own loop.)"""
    from playwright.sync_api import sync_playwright

    from tradingsite.testing.browser import CHROMIUM_FLAGS, chromium_path

    # Playwright's sync API keeps an event loop on this thread; the ORM calls that tests and fixtures
    # make beside it are still synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def browser_page(chromium, live_server):
    """A fresh browser context (no cookies) and page, and the live server's URL."""
    context = chromium.new_context()
    page = context.new_page()
    yield page, live_server.url
    context.close()


@pytest.fixture
def production_env(tmp_path, services_started):
    """A database of its own beside pytest-django's, and the environment a deployment would have."""
    database_url = fresh_database(os.environ["DATABASE_URL"], "prodcheck")
    yield production_env_for(database_url=database_url, redis_url=os.environ["REDIS_URL"], var_dir=str(tmp_path))
    drop_database(database_url)

"""Rate limits counted in Redis: failed logins per (username, client IP), API calls per user."""

from typing import Any

import pytest
from django.test import Client

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def login(username: str, password: str, **headers: Any):
    return Client().post(
        "/api/v1/auth/login", {"username": username, "password": password}, content_type="application/json", **headers
    )


def test_repeated_failures_for_one_user_from_one_ip_get_429_with_retry_after(owner, other_user, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    for _ in range(5):
        assert login("owner", "wrong-password").status_code == 401
    refused = login("owner", "owner-password-1")  # even the right password waits out the cool-off
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW
    assert refused["Retry-After"].isdigit()
    assert login("other", "other-password-1").status_code == 200  # another user is not locked out
    elsewhere = login("owner", "owner-password-1", REMOTE_ADDR="192.0.2.44")
    assert elsewhere.status_code == 200  # nor is the victim, from their own address


def test_a_client_supplied_forwarded_for_is_ignored_without_trusted_proxies(owner, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.LOGIN_FAILURE_LIMIT = 3
    for i in range(3):
        login("owner", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    assert login("owner", "wrong", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_behind_one_proxy_only_the_address_it_saw_counts(owner, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_FAILURE_LIMIT = 3
    for i in range(3):  # the attacker rotates what they write; the proxy appends their real address
        login("owner", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}, 203.0.113.5")
    assert login("owner", "wrong", HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.5").status_code == 429
    assert login("owner", "owner-password-1", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200


def test_the_login_page_is_limited_the_same_way(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    page = Client()
    for _ in range(2):
        assert page.post("/accounts/login/", {"username": "owner", "password": "nope"}).status_code == 401
    response = page.post("/accounts/login/", {"username": "owner", "password": "owner-password-1"})
    assert response.status_code == 429
    assert response["Retry-After"].isdigit()


def test_api_calls_are_limited_per_user(owner, other_user, settings):
    settings.API_RATE_LIMIT = 3
    client = Client()
    client.force_login(owner)
    assert [client.get("/api/v1/auth/me").status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get("/api/v1/auth/me")
    assert limited.status_code == 429
    assert limited["Retry-After"].isdigit()
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == "rate_limited"
    other = Client()
    other.force_login(other_user)
    assert other.get("/api/v1/auth/me").status_code == 200

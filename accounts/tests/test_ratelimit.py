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


def test_a_bearer_request_reads_its_session_and_counts_its_limit_in_one_round_trip(owner, other_user, settings):
    import redis

    settings.API_RATE_LIMIT = 4
    token = login("owner", "owner-password-1").json()["token"]
    bearer: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    server = redis.Redis.from_url(settings.REDIS_URL)

    def calls() -> dict[str, int]:
        return {k: v["calls"] for k, v in server.info("commandstats").items() if k != "cmdstat_info"}

    assert Client().get("/api/v1/auth/me", **bearer).status_code == 200  # the script loaded once
    before = calls()
    assert Client().get("/api/v1/auth/me", **bearer).status_code == 200
    after = calls()
    # One EVALSHA, and inside it (Redis counts a script's commands too) the session's HGETALL and the
    # limit's INCR: no other call (the separate counting used INCR and EXPIRE in a pipeline).
    assert {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)} == {
        "cmdstat_evalsha": 1, "cmdstat_hgetall": 1, "cmdstat_incr": 1,
    }  # fmt: skip
    assert [Client().get("/api/v1/auth/me", **bearer).status_code for _ in range(3)] == [200, 200, 429]
    cookie = Client()
    cookie.force_login(owner)  # the same user by cookie counts against the same limit
    assert cookie.get("/api/v1/auth/me").status_code == 429
    other = Client()
    other.force_login(other_user)
    assert other.get("/api/v1/auth/me").status_code == 200

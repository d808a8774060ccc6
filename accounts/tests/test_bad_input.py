"""Whatever a client sends to the auth endpoints: a 4xx with per-field errors, never a 500, nothing written."""

import pytest
from django.test import Client

from accounts.models import User

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

GOOD = {"username": "newtrader", "password": "correct-horse-battery-9"}


def post(path: str, body, **extra):
    kwargs = {"data": body, "content_type": "application/json"} if not isinstance(body, bytes) else {}
    if isinstance(body, bytes):
        return Client().generic("POST", path, body, content_type="application/json", **extra)
    return Client().post(path, **kwargs, **extra)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        (b"", None),
        (b"[1, 2]", "non_field_errors"),
        (b'"just a string"', "non_field_errors"),
        ({}, "username"),
        ({"password": GOOD["password"]}, "username"),
        ({"username": "newtrader"}, "password"),
        ({**GOOD, "username": 12345}, "username"),
        ({**GOOD, "username": True}, "username"),
        ({**GOOD, "username": ["a"]}, "username"),
        ({**GOOD, "password": {"x": 1}}, "password"),
        ({**GOOD, "username": "x" * 31}, "username"),
        ({**GOOD, "username": "ab"}, "username"),
        ({**GOOD, "password": "p" * 129}, "password"),
        ({**GOOD, "username": "\u0430lice"}, "username"),  # Cyrillic а: a look-alike of "alice"
        ({**GOOD, "username": "ａlice"}, "username"),  # fullwidth a
        ({**GOOD, "username": "alice\u200b"}, "username"),  # zero-width space
        ({**GOOD, "username": "al\x00ice"}, "username"),
        ({**GOOD, "username": "alice bob"}, "username"),
        ({**GOOD, "email": "not-an-email"}, "email"),
        ({**GOOD, "password": "short"}, "password"),
        ({**GOOD, "password": "12345678901234"}, "password"),
    ],
)
def test_register_rejects_bad_input_with_field_errors(db, body, field):
    response = post("/api/v1/auth/register", body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] in {"invalid_input", "malformed_request", "password_invalid"}
    if field:
        assert field in error["details"], error
    assert not User.objects.exists()


def test_usernames_are_unique_whatever_their_case(owner):
    response = post("/api/v1/auth/register", {**GOOD, "username": "OWNER"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "username_taken"
    assert "username" in response.json()["error"]["details"]
    assert User.objects.count() == 1


def test_register_creates_the_account_and_logs_in(db):
    response = post("/api/v1/auth/register", GOOD)
    assert response.status_code == 201, response.content
    assert response.json()["user"]["username"] == "newtrader"
    assert response.json()["token"]
    assert User.objects.get().check_password(GOOD["password"])
    assert User.objects.get().password.startswith("argon2") or User.objects.get().password.startswith("md5")


@pytest.mark.parametrize(
    "body",
    [b"{", {}, {"username": None, "password": None}, {"username": "x" * 151, "password": "y"}, {"username": 1}],
)
def test_login_rejects_bad_input(db, body):
    response = post("/api/v1/auth/login", body)
    assert response.status_code == 400, response.content


def test_password_change_with_bad_input_changes_nothing(owner):
    client = Client()
    client.force_login(owner)
    for body in (
        {},
        {"current_password": "wrong-one-1", "new_password": "a-fine-new-secret-7"},
        {"current_password": "owner-password-1", "new_password": "short"},
    ):
        response = client.post("/api/v1/auth/password", body, content_type="application/json")
        assert response.status_code == 400, response.content
    owner.refresh_from_db()
    assert owner.check_password("owner-password-1")


def test_argon2_hashes_passwords(settings, django_user_model):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    user = django_user_model.objects.create_user(username="hashed", password="some-password-77")
    assert user.password.startswith("argon2$argon2id$")


def test_login_and_register_need_csrf_when_a_browser_sends_them(owner):
    browser = Client(enforce_csrf_checks=True)
    body = {"username": "owner", "password": "owner-password-1"}
    forged = browser.post("/api/v1/auth/login", body, content_type="application/json", HTTP_ORIGIN="http://testserver")
    assert forged.status_code == 403
    token = browser.get("/api/v1/auth/csrf").json()["csrf_token"]
    ok = browser.post(
        "/api/v1/auth/login",
        body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
        HTTP_ORIGIN="http://testserver",
    )
    assert ok.status_code == 200
    page = Client(enforce_csrf_checks=True)
    assert page.post("/accounts/login/", body).status_code == 403


def test_cookie_authenticated_api_writes_need_csrf_and_bearer_ones_do_not(owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.post("/api/v1/auth/logout").status_code == 403
    token = (
        Client()
        .post(
            "/api/v1/auth/login", {"username": "owner", "password": "owner-password-1"}, content_type="application/json"
        )
        .json()["token"]
    )
    bearer = Client(enforce_csrf_checks=True)
    assert bearer.post("/api/v1/auth/logout", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 204

"""The account pages call the same services as the API."""

from urllib.parse import unquote

import pytest
from django.test import Client

from accounts.models import User

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_register_page_creates_the_account_and_logs_in():
    client = Client()
    response = client.post("/accounts/register/", {"username": "pagetrader", "password": "a-fine-password-42"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert User.objects.filter(username="pagetrader").exists()


def test_register_page_shows_field_errors():
    response = Client().post("/accounts/register/", {"username": "\u0430lice", "password": "short"})
    assert response.status_code == 400
    assert "ASCII" in response.content.decode()
    assert not User.objects.exists()


def test_login_page_refuses_wrong_passwords_and_keeps_next_on_site(owner):
    client = Client()
    assert client.post("/accounts/login/", {"username": "owner", "password": "nope"}).status_code == 401
    response = client.post(
        "/accounts/login/?next=https://evil.example/", {"username": "owner", "password": "owner-password-1"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_pages_need_a_login():
    for path in ("/", "/accounts/sessions/", "/accounts/password/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_sessions_page_lists_and_revokes_and_password_page_ends_other_sessions(owner):
    laptop, phone = Client(HTTP_USER_AGENT="laptop-browser"), Client(HTTP_USER_AGENT="phone-browser")
    for c in (laptop, phone):
        c.post("/accounts/login/", {"username": "owner", "password": "owner-password-1"})
    page = laptop.get("/accounts/sessions/").content.decode()
    assert "laptop-browser" in page
    assert "phone-browser" in page
    differ = {"current_password": "owner-password-1", "new_password": "a-new-password-for-me"}
    refused = laptop.post("/accounts/password/", {**differ, "confirm_password": "a-new-password-for-mE"})
    assert refused.status_code == 400
    assert "The two new passwords differ." in refused.content.decode()
    assert phone.get("/accounts/sessions/").status_code == 200  # nothing changed
    changed = laptop.post("/accounts/password/", {**differ, "confirm_password": "a-new-password-for-me"})
    assert changed.status_code == 302
    assert laptop.get("/accounts/sessions/").status_code == 200
    assert phone.get("/accounts/sessions/").status_code == 302  # logged out
    assert laptop.post("/accounts/logout/").status_code == 302
    assert laptop.get("/").status_code == 302


def test_admin_login_goes_through_the_rate_limited_login_page():
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/"


def test_a_signed_in_user_who_is_not_staff_is_told_so_at_the_admin(owner, admin_user):
    user = Client()
    user.force_login(owner)
    response = user.get("/admin/", follow=True)
    assert [url for url, _ in response.redirect_chain] == ["/admin/login/?next=/admin/"]
    assert response.status_code == 403
    assert "which is not an admin account" in response.content.decode()

    anonymous = Client().get("/admin/", follow=True)
    assert anonymous.status_code == 200
    assert unquote(anonymous.redirect_chain[-1][0]) == "/accounts/login/?next=/admin/"

    staff = Client()
    staff.force_login(admin_user)
    assert staff.get("/admin/").status_code == 200

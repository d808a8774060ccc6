"""Server-side sessions on the real Redis: rotation, logout, password change, expiry, device list,
revocation, admin force-logout."""

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from accounts.sessions import policy
from accounts.sessions.repository import get_repository

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PASSWORD = "owner-password-1"


def api_login(client: Client, username: str = "owner", password: str = PASSWORD, **headers: Any) -> str:
    response = client.post(
        "/api/v1/auth/login", {"username": username, "password": password}, content_type="application/json", **headers
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def me(client: Client, token: str | None = None) -> int:
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get("/api/v1/auth/me", **headers).status_code


@pytest.fixture
def clock(monkeypatch):
    """The sessions' clock, movable: `clock.advance(seconds)`."""

    class Clock:
        offset = 0.0

        def advance(self, seconds: float) -> None:
            self.offset += seconds

    state = Clock()
    real = policy.now
    monkeypatch.setattr(policy, "now", lambda: real() + state.offset)
    return state


def test_login_rotates_the_session_key(client, owner, redis_client):
    session = client.session
    session["theme"] = "dark"
    session.save()
    before = session.session_key
    client.cookies["sessionid"] = before
    token = api_login(client)
    after = client.cookies["sessionid"].value
    assert after == token
    assert after != before
    assert not redis_client.exists(f"session:{before}")
    assert redis_client.exists(f"session:{after}")


def test_the_old_key_is_refused_after_logout(client, owner, redis_client):
    token = api_login(client)
    assert me(client) == 200
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert me(client) in (401, 403)
    assert me(Client(), token) == 401
    assert not redis_client.exists(f"session:{token}")


def test_password_change_ends_the_other_sessions_and_keeps_this_one(owner, redis_client):
    laptop, phone, script = Client(), Client(), Client()
    api_login(laptop, HTTP_USER_AGENT="laptop")
    api_login(phone, HTTP_USER_AGENT="phone")
    script_token = api_login(Client())
    response = laptop.post(
        "/api/v1/auth/password",
        {"current_password": PASSWORD, "new_password": "a-much-better-secret-9"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert me(laptop) == 200  # the session that changed it goes on (with a new key)
    assert me(phone) in (401, 403)
    assert me(script, script_token) == 401
    assert len(get_repository().keys_for_user(owner.pk)) == 1


def test_a_bearer_client_changing_its_password_keeps_its_token(owner, redis_client):
    token = api_login(Client())
    other = api_login(Client())
    client = Client()
    response = client.post(
        "/api/v1/auth/password",
        {"current_password": PASSWORD, "new_password": "a-much-better-secret-9"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["token"] == token
    assert me(client, token) == 200
    assert me(client, other) == 401


def test_an_idle_session_ends_and_activity_slides_it(client, owner, clock, settings, redis_client):
    settings.SESSION_IDLE_TIMEOUT = 30 * 60
    api_login(client)
    clock.advance(20 * 60)
    assert me(client) == 200  # activity: the idle clock starts again
    clock.advance(20 * 60)
    assert me(client) == 200  # 40 min after login, 20 after the last request
    clock.advance(30 * 60 + 1)
    assert me(client) in (401, 403)


def test_a_session_ends_at_its_absolute_lifetime_however_active(client, owner, clock, settings, redis_client):
    settings.SESSION_IDLE_TIMEOUT = 30 * 60
    settings.SESSION_ABSOLUTE_LIFETIME = 7 * 24 * 3600
    token = api_login(client)
    for _ in range(7 * 24 * 3 - 1):  # a request every 20 minutes for 7 days
        clock.advance(20 * 60)
        assert me(Client(), token) == 200
    clock.advance(20 * 60)
    assert me(Client(), token) == 401


def test_the_session_list_shows_devices_and_which_one_is_this(owner, settings, redis_client):
    settings.TRUSTED_PROXY_COUNT = 1
    laptop, phone = Client(), Client()
    api_login(laptop, HTTP_USER_AGENT="Firefox on laptop", HTTP_X_FORWARDED_FOR="203.0.113.7")
    api_login(phone, HTTP_USER_AGENT="Safari on phone", HTTP_X_FORWARDED_FOR="198.51.100.9")
    sessions = laptop.get("/api/v1/auth/sessions").json()
    assert [(s["user_agent"], s["ip"], s["current"]) for s in sessions] == [
        ("Firefox on laptop", "203.0.113.7", True),
        ("Safari on phone", "198.51.100.9", False),
    ]
    assert all(len(s["id"]) == 24 and s["created_at"] and s["last_seen_at"] and s["expires_at"] for s in sessions)
    assert laptop.cookies["sessionid"].value not in str(sessions)  # the list never shows the credential


def test_revoking_a_session_from_the_list_ends_it(owner, other_user, redis_client):
    laptop, phone = Client(), Client()
    api_login(laptop)
    api_login(phone)
    phone_id = next(s["id"] for s in laptop.get("/api/v1/auth/sessions").json() if not s["current"])
    assert laptop.delete(f"/api/v1/auth/sessions/{phone_id}").status_code == 204
    assert me(phone) in (401, 403)
    assert me(laptop) == 200
    assert laptop.delete(f"/api/v1/auth/sessions/{phone_id}").status_code == 404
    intruder = Client()
    api_login(intruder, "other", "other-password-1")
    laptop_id = laptop.get("/api/v1/auth/sessions").json()[0]["id"]
    assert intruder.delete(f"/api/v1/auth/sessions/{laptop_id}").status_code == 404  # not theirs
    assert me(laptop) == 200


def test_admin_force_logout_ends_every_session_and_is_logged(admin_client, admin_user, owner, other_user, redis_client):
    owner_clients = [Client(), Client()]
    for c in owner_clients:
        api_login(c)
    bystander = Client()
    api_login(bystander, "other", "other-password-1")
    response = admin_client.post(
        "/admin/accounts/user/", {"action": "force_logout", "_selected_action": [owner.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "Ended 2 session(s) of 1 user(s)." in response.content.decode()
    assert all(me(c) in (401, 403) for c in owner_clients)
    assert me(bystander) == 200
    entry = LogEntry.objects.get(object_id=str(owner.pk))
    assert (entry.user_id, entry.change_message) == (admin_user.pk, "Force logout: ended 2 session(s).")
    assert entry.action_time is not None


def test_admin_lists_a_users_sessions_and_revokes_one(admin_client, admin_user, owner, redis_client):
    laptop, phone = Client(), Client()
    api_login(laptop, HTTP_USER_AGENT="laptop-agent")
    api_login(phone, HTTP_USER_AGENT="phone-agent")
    page = admin_client.get(f"/admin/accounts/user/{owner.pk}/sessions/").content.decode()
    assert "laptop-agent" in page
    assert "phone-agent" in page
    phone_id = next(s["id"] for s in phone.get("/api/v1/auth/sessions").json() if s["current"])
    admin_client.post(f"/admin/accounts/user/{owner.pk}/sessions/", {"session": phone_id})
    assert me(phone) in (401, 403)
    assert me(laptop) == 200
    assert LogEntry.objects.filter(object_id=str(owner.pk), change_message=f"Revoked session {phone_id}.").exists()


def test_logging_in_over_another_users_session_hands_out_the_new_key(owner, other_user, redis_client):
    client = Client()
    first = client.post(
        "/api/v1/auth/login", {"username": "owner", "password": "owner-password-1"}, content_type="application/json"
    )
    second = client.post(
        "/api/v1/auth/login", {"username": "other", "password": "other-password-1"}, content_type="application/json"
    )
    token = second.json()["token"]
    assert token not in (None, "None", first.json()["token"])
    assert second.json()["expires_at"] is not None
    me = Client().get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.json()["username"] == "other"

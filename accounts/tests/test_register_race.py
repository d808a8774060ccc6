"""Concurrent registrations of one name: exactly one account, and every loser gets the same 400 as a
registration that comes later."""

import threading
from collections import Counter

import pytest
from django.db import connections
from django.test import Client

from accounts.models import User

pytestmark = [pytest.mark.integration]


def test_concurrent_registrations_of_one_name_make_one_user_and_400s(transactional_db, settings):
    # The real hasher: its cost is the window between the existence check and the insert.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    names = ["racer", "Racer", "RACER", "racer"] * 4
    start = threading.Barrier(len(names), timeout=30)
    answers: list[tuple[int, str | None]] = []

    def register(name: str) -> None:
        start.wait()
        body = {"username": name, "password": "correct-horse-battery-9"}
        response = Client().post("/api/v1/auth/register", body, content_type="application/json")
        code = response.json()["error"]["code"] if response.status_code >= 400 else None
        answers.append((response.status_code, code))
        connections.close_all()

    threads = [threading.Thread(target=register, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(answers) == Counter({(201, None): 1, (400, "username_taken"): len(names) - 1})
    assert User.objects.filter(username__iexact="racer").count() == 1

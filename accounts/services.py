from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction


@transaction.atomic
def demo_user_ensure(*, username: str, password: str) -> User:
    """The demo account, with its password reset to the one printed at start-up."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.set_password(password)
    user.save(update_fields=["password"])
    return user

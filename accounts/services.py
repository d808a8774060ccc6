"""Writes about users and their sessions. Ending a session always tells its open sockets (close
4401), through the channel layer, so it works whichever web process holds them."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import HASH_SESSION_KEY, authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts import ratelimit
from accounts.models import User
from accounts.sessions.backend import SessionStore
from accounts.sessions.policy import public_id
from accounts.sessions.repository import get_repository
from tradingsite.lib.client_ip import client_ip
from tradingsite.lib.errors import ApplicationError
from tradingsite.lib.layer import group_send


class LoginThrottled(ApplicationError):
    def __init__(self, wait: int):
        super().__init__("rate_limited", f"Too many failed logins. Try again in {wait} seconds.", {"retry_after": wait})
        self.wait = wait


def session_group(session_public_id: str) -> str:
    return f"session.{session_public_id}"


def _tell_sockets_session_ended(keys: Iterable[str]) -> None:
    for key in keys:
        group_send(session_group(public_id(key)), {"type": "session.ended"})


def session_end(*, session_key: str) -> None:
    get_repository().delete(session_key)
    transaction.on_commit(lambda: _tell_sockets_session_ended([session_key]))


def user_sessions_end(*, user_id: int, keep_key: str | None = None) -> int:
    repository = get_repository()
    ended = [key for key in repository.keys_for_user(user_id) if key != keep_key]
    for key in ended:
        repository.delete(key)
    transaction.on_commit(lambda: _tell_sockets_session_ended(ended))
    return len(ended)


def session_revoke(*, user: User, session_public_id: str) -> None:
    for key in get_repository().keys_for_user(user.pk):
        if public_id(key) == session_public_id:
            session_end(session_key=key)
            return
    raise ApplicationError("not_found", "No such session.")


@transaction.atomic
def users_force_logout(*, users: Iterable[User], actor: User) -> int:
    """Ends every session of these users and records who did it in the admin log."""
    total = 0
    for user in users:
        ended = user_sessions_end(user_id=user.pk)
        total += ended
        admin_log(actor=actor, user=user, message=f"Force logout: ended {ended} session(s).")
    return total


def admin_log(*, actor: User, user: User, message: str) -> None:
    """An entry in the admin's history of `user`: who did what, and when (LogEntry.action_time)."""
    LogEntry.objects.log_actions(
        user_id=actor.pk, queryset=[user], action_flag=CHANGE, change_message=message, single_object=True
    )


def user_login(*, request: HttpRequest, username: str, password: str) -> User:
    """Password login with a cool-off per (username, client IP); rotates the session key."""
    ip = client_ip(request.META)
    wait = ratelimit.login_retry_after(username, ip)
    if wait is not None:
        raise LoginThrottled(wait)
    user = authenticate(request, username=username, password=password)
    if user is None:
        ratelimit.login_failed(username, ip)
        raise ApplicationError("invalid_credentials", "Wrong username or password.")
    login(request, user)  # a fresh session key, whatever the request came with
    if request.session.session_key is None:
        # Logging in over another user's session flushes it, and Django would only create the new
        # one when the response goes out: create it now, so the caller can hand out its key.
        request.session.save()
    return user


def user_logout(*, request: HttpRequest, bearer_key: str | None = None) -> None:
    key = bearer_key or request.session.session_key
    if key:
        session_end(session_key=key)
    if not bearer_key:
        logout(request)


def user_register(*, username: str, password: str, email: str = "") -> User:
    if User.objects.filter(username__iexact=username).exists():
        raise _username_taken()
    user = User(username=username, email=email)
    _validate_password(password, user, field="password")
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # A concurrent registration of the same name (in any case) won the insert: the database's
        # case-insensitive unique index decides, and the loser hears what a later one would.
        raise _username_taken() from None
    return user


def _username_taken() -> ApplicationError:
    return ApplicationError("username_taken", "That username is taken.", {"username": ["That username is taken."]})


def user_password_change(
    *, request: HttpRequest, user: User, current_password: str, new_password: str, bearer_key: str | None = None
) -> str:
    """Sets the new password, ends every other session of the user, keeps the current one.
    Returns the current session's key (a cookie session gets a new one)."""
    if not user.check_password(current_password):
        raise ApplicationError(
            "current_password_invalid",
            "The current password is wrong.",
            {"current_password": ["The current password is wrong."]},
        )
    _validate_password(new_password, user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    if bearer_key:
        session = SessionStore(bearer_key)
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        current = bearer_key
    else:
        update_session_auth_hash(request, user)
        current = str(request.session.session_key)
    user_sessions_end(user_id=user.pk, keep_key=current)
    return current


def _validate_password(password: str, user: User, *, field: str) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ApplicationError(
            "password_invalid", "The password is not acceptable.", {field: list(exc.messages)}
        ) from None


@transaction.atomic
def demo_user_ensure(*, username: str, password: str) -> User:
    """The demo account, with its password reset to the one printed at start-up."""
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(password)
    user.save(update_fields=["password"])
    return user

"""The request as views past authentication see it, typed once (as healthchecks' `ApiRequest`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from rest_framework.request import Request

if TYPE_CHECKING:
    from accounts.models import User


class AuthenticatedRequest(Request):
    """A DRF request that `IsAuthenticated` let through: `user` is one of ours, never anonymous.
    Only an annotation: views receive DRF's own Request object."""

    user: User


class AuthenticatedHttpRequest(HttpRequest):
    """A page request behind `login_required` (or the admin's staff check): the user is ours."""

    user: User

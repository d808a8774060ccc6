"""Users in the admin, with "Force logout" for the selected users and each user's sessions listed
with a per-session revoke. Every ending is recorded in the admin log (who, when, how many)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from accounts import selectors, services
from accounts.models import User
from tradingsite.lib.errors import ApplicationError
from tradingsite.lib.requests import AuthenticatedHttpRequest


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    actions = ["force_logout"]
    list_display = ["username", "email", "is_active", "is_staff", "last_login", "date_joined"]
    readonly_fields = ["sessions_link"]
    fieldsets = (*(DjangoUserAdmin.fieldsets or ()), ("Sessions", {"fields": ["sessions_link"]}))

    @admin.action(description="Force logout (end every session, close live sockets)", permissions=["change"])
    def force_logout(self, request: AuthenticatedHttpRequest, queryset: QuerySet[User]) -> None:
        ended = services.users_force_logout(users=list(queryset), actor=request.user)
        self.message_user(request, f"Ended {ended} session(s) of {queryset.count()} user(s).", messages.SUCCESS)

    @admin.display(description="Sessions")
    def sessions_link(self, user: User) -> str:
        if not user.pk:
            return "—"
        url = reverse("admin:accounts_user_sessions", args=[user.pk])
        return format_html('<a href="{}">List and revoke sessions</a>', url)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.sessions_view)
        return [path("<int:user_id>/sessions/", view, name="accounts_user_sessions"), *super().get_urls()]

    def sessions_view(self, request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
        if not self.has_change_permission(request):
            return HttpResponse(status=403)
        user = get_object_or_404(User, pk=user_id)
        if request.method == "POST":
            self._revoke(request, user, request.POST.get("session", ""))
            return HttpResponseRedirect(request.path)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": f"Sessions of {user.username}",
            "subject": user,
            "opts": self.model._meta,
            "sessions": selectors.session_list(user_id=user.pk, current_key=None),
        }
        return TemplateResponse(request, "admin/accounts/user_sessions.html", context)

    def _revoke(self, request: AuthenticatedHttpRequest, user: User, session_id: str) -> None:
        try:
            services.session_revoke(user=user, session_public_id=session_id)
        except ApplicationError:
            self.message_user(request, "That session had already ended.", messages.WARNING)
            return
        services.admin_log(actor=request.user, user=user, message=f"Revoked session {session_id}.")
        self.message_user(request, "Session revoked.", messages.SUCCESS)

"""Pages: log in, register, change password, my sessions. Each calls the same services as the API."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.models import username_validator
from tradingsite.lib.errors import ApplicationError
from tradingsite.lib.requests import AuthenticatedHttpRequest


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150)
    password = forms.CharField(max_length=128, strip=False, widget=forms.PasswordInput)


class RegisterForm(forms.Form):
    username = forms.CharField(min_length=3, max_length=30, validators=[username_validator])
    email = forms.EmailField(required=False)
    password = forms.CharField(max_length=128, strip=False, widget=forms.PasswordInput)


class PasswordForm(forms.Form):
    current_password = forms.CharField(max_length=128, strip=False, widget=forms.PasswordInput)
    new_password = forms.CharField(max_length=128, strip=False, widget=forms.PasswordInput)
    confirm_password = forms.CharField(
        label="New password again", max_length=128, strip=False, widget=forms.PasswordInput
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password") != data.pop("confirm_password", None):
            self.add_error("confirm_password", "The two new passwords differ.")
        return data


def _apply_error(form: forms.Form, error: ApplicationError) -> None:
    fields = {k: v for k, v in error.details.items() if k in form.fields}
    for field, messages in fields.items():
        for message in messages:
            form.add_error(field, message)
    if not fields:
        form.add_error(None, error.message)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    ok = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
    return target if ok else "/"


@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.user_login(request=request, **form.cleaned_data)
            return redirect(_next_url(request))
        except ApplicationError as error:
            _apply_error(form, error)
            status = error.http_status
            response = render(request, "accounts/login.html", {"form": form, "next": _next_url(request)}, status=status)
            for name, value in error.headers.items():
                response[name] = value
            return response
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/login.html", {"form": form, "next": _next_url(request)}, status=status)


def admin_login_page(request: HttpRequest) -> HttpResponse:
    """Where the admin sends anyone it will not serve. Staff log in through the same rate-limited login
    as everyone; a signed-in user who is not staff is told so (403), rather than bounced between the
    admin and the login page."""
    if not request.user.is_authenticated:
        query = request.META.get("QUERY_STRING", "")
        return redirect(f"{reverse('accounts:login')}?{query}" if query else reverse("accounts:login"))
    if request.user.is_staff:
        return redirect(_next_url(request) if request.GET.get("next") else "admin:index")
    return render(request, "accounts/admin_refused.html", status=403)


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    services.user_logout(request=request)
    return redirect("accounts:login")


def _form_page(
    request: HttpRequest, form: forms.Form, template: str, action: Callable[[dict[str, Any]], None], done: str
) -> HttpResponse:
    """A form that calls one service: redirect on success, else the form with its errors (400)."""
    if request.method == "POST" and form.is_valid():
        try:
            action(form.cleaned_data)
            return redirect(done)
        except ApplicationError as error:
            _apply_error(form, error)
    status = 400 if request.method == "POST" else 200
    return render(request, template, {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def register_page(request: HttpRequest) -> HttpResponse:
    def register(data: dict[str, Any]) -> None:
        login(request, services.user_register(**data), backend="django.contrib.auth.backends.ModelBackend")

    form = RegisterForm(request.POST or None)
    return _form_page(request, form, "accounts/register.html", register, "portfolio:home")


@login_required
@require_http_methods(["GET", "POST"])
def password_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    def change(data: dict[str, Any]) -> None:
        services.user_password_change(request=request, user=request.user, **data)

    form = PasswordForm(request.POST or None)
    return _form_page(request, form, "accounts/password.html", change, "accounts:sessions")


@login_required
@require_http_methods(["GET", "POST"])
def sessions_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        with contextlib.suppress(ApplicationError):  # already gone: the list below shows what is left
            services.session_revoke(user=request.user, session_public_id=request.POST.get("session", ""))
        return redirect("accounts:sessions")
    sessions = selectors.session_list(user_id=request.user.pk, current_key=request.session.session_key)
    return render(request, "accounts/sessions.html", {"sessions": sessions})

from django.urls import path

from accounts import apis

urlpatterns = [
    path("auth/csrf", apis.AuthCsrfApi.as_view(), name="auth-csrf"),
    path("auth/login", apis.AuthLoginApi.as_view(), name="auth-login"),
    path("auth/logout", apis.AuthLogoutApi.as_view(), name="auth-logout"),
    path("auth/register", apis.AuthRegisterApi.as_view(), name="auth-register"),
    path("auth/password", apis.AuthPasswordApi.as_view(), name="auth-password"),
    path("auth/sessions", apis.AuthSessionListApi.as_view(), name="auth-sessions"),
    path("auth/sessions/<str:session_id>", apis.AuthSessionRevokeApi.as_view(), name="auth-session"),
    path("auth/me", apis.AuthMeApi.as_view(), name="auth-me"),
]

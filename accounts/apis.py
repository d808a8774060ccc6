"""`/api/v1/auth/…`: login, logout, register, password change, the user's sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import CSRFCheck
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import User, username_validator
from accounts.sessions.repository import get_repository
from tradingsite.lib.requests import AuthenticatedRequest
from tradingsite.lib.schema import errors
from tradingsite.lib.serializers import StrictCharField


def enforce_browser_csrf(request: Request) -> None:
    """CSRF for unauthenticated writes (login, register) when a browser sends them: a request with
    cookies or an Origin header. Scripts without either cannot be forged cross-site."""
    if not request.COOKIES and "origin" not in request.headers:
        return
    check = CSRFCheck(lambda _: None)  # type: ignore[arg-type]
    check.process_request(request._request)
    reason = check.process_view(request._request, None, (), {})  # type: ignore[arg-type]
    if reason:
        raise exceptions.PermissionDenied(f"CSRF failed: {reason}")


def session_payload(request: Request, user: User) -> dict[str, Any]:
    key = str(request.session.session_key)
    record = get_repository().get(key)
    return {
        "user": UserOutput(user).data,
        "token": key,
        "token_type": "Bearer",
        "expires_at": datetime.fromtimestamp(record.deadline, UTC).isoformat() if record else None,
        "idle_timeout": settings.SESSION_IDLE_TIMEOUT,
    }


def bearer_key(request: Request) -> str | None:
    return request.auth if isinstance(request.auth, str) else None


class UserOutput(serializers.ModelSerializer[User]):
    email = serializers.CharField(help_text="Empty when none was given.")

    class Meta:
        model = User
        fields = ["id", "username", "email", "date_joined"]


class SessionOutput(serializers.Serializer[Any]):
    id = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    ip = serializers.CharField()
    user_agent = serializers.CharField()
    current = serializers.BooleanField()


class LoginOutput(serializers.Serializer[Any]):
    user = UserOutput()
    token = serializers.CharField(help_text="The session key, for `Authorization: Bearer <token>`.")
    token_type = serializers.CharField()
    expires_at = serializers.DateTimeField(help_text="When the session ends if no request comes before.")
    idle_timeout = serializers.IntegerField()


class AuthCsrfApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Get a CSRF token (cookie + body) for browser writes",
        operation_id="auth_csrf",
        responses={200: inline_serializer("CsrfToken", {"csrf_token": serializers.CharField()})},
    )
    def get(self, request: Request) -> Response:
        return Response({"csrf_token": get_token(request._request)})


class AuthLoginApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="AuthLoginInput")
    class InputSerializer(serializers.Serializer[Any]):
        username = StrictCharField(max_length=150)
        password = StrictCharField(max_length=128)

    @extend_schema(request=InputSerializer, responses={200: LoginOutput}, summary="Log in", operation_id="auth_login")
    def post(self, request: Request) -> Response:
        enforce_browser_csrf(request)
        data = _valid(self.InputSerializer, request)
        user = services.user_login(request=request._request, username=data["username"], password=data["password"])
        return Response(session_payload(request, user))


class AuthLogoutApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None}, summary="End the current session", operation_id="auth_logout")
    def post(self, request: AuthenticatedRequest) -> Response:
        services.user_logout(request=request._request, bearer_key=bearer_key(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuthRegisterApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="AuthRegisterInput")
    class InputSerializer(serializers.Serializer[Any]):
        username = StrictCharField(min_length=3, max_length=30, validators=[username_validator])
        password = StrictCharField(max_length=128)
        email = serializers.EmailField(required=False, allow_blank=True, max_length=254)

    @extend_schema(
        request=InputSerializer,
        responses={201: LoginOutput},
        summary="Create an account and log in",
        operation_id="auth_register",
    )
    def post(self, request: Request) -> Response:
        enforce_browser_csrf(request)
        data = _valid(self.InputSerializer, request)
        services.user_register(username=data["username"], password=data["password"], email=data.get("email", ""))
        user = services.user_login(request=request._request, username=data["username"], password=data["password"])
        return Response(session_payload(request, user), status=status.HTTP_201_CREATED)


class AuthPasswordApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="AuthPasswordInput")
    class InputSerializer(serializers.Serializer[Any]):
        current_password = StrictCharField(max_length=128)
        new_password = StrictCharField(max_length=128)

    @extend_schema(
        request=InputSerializer,
        responses={200: LoginOutput},
        summary="Change password",
        operation_id="auth_password_change",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = _valid(self.InputSerializer, request)
        key = services.user_password_change(
            request=request._request,
            user=request.user,
            current_password=data["current_password"],
            new_password=data["new_password"],
            bearer_key=bearer_key(request),
        )
        payload = session_payload(request, request.user)
        payload["token"] = key
        return Response(payload)


class AuthSessionListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={200: SessionOutput(many=True)}, summary="My sessions (devices)", operation_id="auth_sessions_list"
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        current = bearer_key(request) or request.session.session_key
        sessions = selectors.session_list(user_id=request.user.pk, current_key=current)
        return Response(SessionOutput(sessions, many=True).data)


class AuthSessionRevokeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={204: None, **errors(404)}, summary="End one of my sessions", operation_id="auth_session_end"
    )
    def delete(self, request: AuthenticatedRequest, session_id: str) -> Response:
        services.session_revoke(user=request.user, session_public_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuthMeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserOutput}, summary="Who am I", operation_id="auth_me")
    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(UserOutput(request.user).data)


def _valid(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)

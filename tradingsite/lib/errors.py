"""The one error type of the project and how the API renders it.

Every error body is `{"error": {"code": ..., "message": ..., "details": {...}}}` (ARCHITECTURE §5.2).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A refusal the client can act on: a stable machine code, a human message, optional details."""

    http_status: int = status.HTTP_422_UNPROCESSABLE_ENTITY

    def __init__(
        self, code: str, message: str, details: dict[str, Any] | None = None, *, http_status: int | None = None
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        if http_status is not None:
            self.http_status = http_status

    @property
    def headers(self) -> dict[str, str]:
        retry_after = self.details.get("retry_after")
        return {"Retry-After": str(int(retry_after))} if retry_after is not None else {}

    def as_body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


_DRF_CODES = {
    exceptions.ValidationError: "invalid_input",
    exceptions.ParseError: "malformed_request",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(exc.as_body(), status=exc.http_status, headers=exc.headers)
    response = exception_handler(exc, context)
    if response is None:
        return None  # not a client error: let it surface as a real 500 and be logged
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body(code, "The request is invalid.", details)
    elif isinstance(exc, exceptions.Throttled):
        wait = int(response.headers.get("Retry-After", "1"))
        response.data = error_body(code, f"Too many requests. Try again in {wait} seconds.", {"retry_after": wait})
    else:
        detail = getattr(exc, "detail", str(exc))
        response.data = error_body(code, str(detail))
    return response

"""The one error type of the project, the registry of its codes, and how the API renders it.

Every error body is `{"error": {"code": ..., "message": ..., "details": {...}}}`. Code raise a code
(`ApplicationError("price_stale", ...)`); the HTTP status belongs to the code, here, and nowhere else.
The README's list of codes is tested against these tables.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rest_framework import exceptions
from rest_framework.response import Response


class Code(NamedTuple):
    status: int
    meaning: str


HTTP_CODES: dict[str, Code] = {
    "invalid_input": Code(400, "a field or parameter is missing or malformed; `details` names each one"),
    "malformed_request": Code(400, "the body is not JSON this API can read (syntax, nesting deeper than 64)"),
    "cursor_invalid": Code(400, "a pagination cursor that this server did not issue"),
    "quantity_invalid": Code(400, 'a quantity that is not a plain decimal string like "0.015"'),
    "quantity_not_positive": Code(400, "a quantity of zero"),
    "percentage_invalid": Code(400, "a close percentage that is not a decimal in (0, 100]"),
    "symbols_invalid": Code(400, "a symbol list that is empty, too long or not letters and digits"),
    "status_invalid": Code(400, "a status filter outside the listed values"),
    "year_invalid": Code(400, "a report year that is not a year from 1970 to 9998"),
    "method_invalid": Code(400, "a cost-basis method other than fifo, lifo, hifo or average"),
    "username_taken": Code(400, "registration under a name that exists (whatever its case)"),
    "password_invalid": Code(400, "a new password that the password rules refuse"),
    "current_password_invalid": Code(400, "a password change whose current password is wrong"),
    "not_authenticated": Code(401, "no session cookie or bearer token"),
    "authentication_failed": Code(401, "a session that has ended or never existed"),
    "invalid_credentials": Code(401, "a login with a wrong username or password"),
    "permission_denied": Code(403, "not allowed, or a cookie write without a valid CSRF token"),
    "not_found": Code(404, "no such object among yours"),
    "position_not_found": Code(404, "no open position in that symbol"),
    "method_not_allowed": Code(405, "the path does not take that method"),
    "not_acceptable": Code(406, "an Accept header this endpoint cannot answer"),
    "request_timeout": Code(
        408, "headers or body sent slower than WEB_HEADER_TIMEOUT_SECONDS / WEB_BODY_TIMEOUT_SECONDS"
    ),
    "request_too_large": Code(413, "a body over the limit, refused before it is read"),
    "unsupported_media_type": Code(415, "a body that is not JSON"),
    "symbol_unknown": Code(422, "a symbol that is not listed"),
    "symbol_halted": Code(422, "a symbol that is listed but not trading"),
    "quantity_off_step": Code(422, "a quantity that is not a multiple of the symbol's step size"),
    "quantity_below_minimum": Code(422, "a quantity under the symbol's minimum (orders that add exposure)"),
    "notional_below_minimum": Code(422, "an order worth less than the symbol's minimum (orders that add exposure)"),
    "price_stale": Code(422, "no price for the symbol newer than PRICE_MAX_AGE_SECONDS"),
    "insufficient_buying_power": Code(422, "the order, with your pending orders, needs more equity than you have"),
    "position_insufficient": Code(422, "a close larger than the open position, or of a flat one"),
    "client_order_id_conflict": Code(422, "a client_order_id already used for a different order"),
    "watchlist_full": Code(422, "a watch list already holding WS_MAX_WATCHED_SYMBOLS symbols"),
    "too_many_connections": Code(429, "more than WEB_MAX_CONNECTIONS_PER_ADDRESS connections from one address"),
    "rate_limited": Code(429, "too many requests; `Retry-After` says how many seconds to wait"),
    "overloaded": Code(503, "this server process has WEB_MAX_IN_FLIGHT requests in hand; retry after `Retry-After`"),
    "server_error": Code(500, "a fault of ours, logged with the response's `X-Request-ID`; tell us that id"),
    "service_unavailable": Code(503, "a database or Redis the request needs is unreachable; retry after `Retry-After`"),
}

# An order's `reject_reason` (it was accepted, then refused at the fill): the codes above that the
# fill re-checks, and expiry.
REJECT_REASONS: dict[str, str] = {
    "insufficient_buying_power": "the account could not carry the order when its turn came",
    "position_insufficient": "a reduce-only order found less to close than it asked for",
    "order_expired": "the order waited longer than ORDER_TTL_SECONDS and was not filled",
}

# `error` frames on the WebSocket (the socket stays open).
SOCKET_CODES: dict[str, str] = {
    "message_invalid": "not a JSON text frame of at most 4096 bytes",
    "message_type_unknown": "a `type` the server does not know",
    "symbols_invalid": "`symbols` is not a list of symbol names",
    "watch_limit": "more watched symbols than WS_MAX_WATCHED_SYMBOLS",
    "max_hz_invalid": "a throttle outside (0, WS_MAX_HZ]",
    "too_many_connections": "more sockets than WS_MAX_CONNECTIONS_PER_USER (then close 4429)",
    "rate_limited": "over WS_CLIENT_MESSAGES_PER_SECOND messages (bursts of twice that); 100 more in a row close 1008",
}


class ApplicationError(Exception):
    """A refusal the client can act on: a registered code, a human message, optional details."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None):
        if code not in HTTP_CODES:
            raise ValueError(f"unregistered error code {code!r} (tradingsite.lib.errors.HTTP_CODES)")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    @property
    def http_status(self) -> int:
        return HTTP_CODES[self.code].status

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
    response = _error_response(exc, context)
    request = context.get("request")
    if response is not None and request is not None:
        # An error is JSON whatever the endpoint's other formats (a CSV export's 401 is not a CSV).
        from tradingsite.lib.renderers import OrjsonRenderer

        request.accepted_renderer, request.accepted_media_type = OrjsonRenderer(), "application/json"
    return response


def _error_response(exc: Exception, context: dict[str, Any]) -> Response | None:
    from rest_framework.views import exception_handler  # (DRF's views need Django set up)

    if isinstance(exc, ApplicationError):
        return Response(exc.as_body(), status=exc.http_status, headers=exc.headers)
    response = exception_handler(exc, context)
    if response is None:
        return None  # not a client error: let it surface as a real 500 and be logged
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "invalid_input")
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


def codes_markdown() -> str:
    """The README's list of codes (`python -m tradingsite.lib.errors` prints it; a test compares)."""
    lines = ["| code | HTTP | when |", "|---|---|---|"]
    lines += [f"| `{code}` | {c.status} | {c.meaning} |" for code, c in HTTP_CODES.items()]
    lines += ["", "| order `reject_reason` | when |", "|---|---|"]
    lines += [f"| `{code}` | {meaning} |" for code, meaning in REJECT_REASONS.items()]
    lines += ["", "| socket `error` frame code | when |", "|---|---|"]
    lines += [f"| `{code}` | {meaning} |" for code, meaning in SOCKET_CODES.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(codes_markdown())

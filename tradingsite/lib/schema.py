"""What the OpenAPI schema says about every operation beyond its success: the error body, and which
error statuses each operation can answer. A test holds real responses against it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from tradingsite.lib.errors import HTTP_CODES


def decimal_string(**options: Any) -> serializers.CharField:
    """Money, prices and quantities: a decimal string in plain notation ("0.015"), never a float."""
    options.setdefault("help_text", "A decimal number as a string, plain notation.")
    return serializers.CharField(**options)


class ErrorDetail(serializers.Serializer[Any]):
    code = serializers.ChoiceField(choices=sorted(HTTP_CODES), help_text="Stable, machine-readable.")
    message = serializers.CharField(help_text="For humans; may change.")
    details = serializers.DictField(help_text="Per-field errors or the rule's numbers.")


class ErrorOutput(serializers.Serializer[Any]):
    error = ErrorDetail()


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses an operation answers beyond the ones every operation can (see `add_errors`)."""
    return {status: OpenApiResponse(ErrorOutput, description=_described(status)) for status in statuses}


def _described(status: int) -> str:
    return ", ".join(f"`{code}`" for code, c in HTTP_CODES.items() if c.status == status)


# Any operation can answer these: bad input or a NUL in the URL (400), no or an ended session (401),
# CSRF or not allowed (403), an Accept header it cannot answer (406), the per-user rate limit (429), a
# process at its load bound or a dependency down (503); with a body, too large (413) or not JSON (415).
_EVERY_OPERATION = (400, 401, 403, 406, 429, 503)
_WITH_A_BODY = (413, 415)


def add_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation lists the error statuses it can answer,
    each with the one error body."""
    ref = {"$ref": "#/components/schemas/ErrorOutput"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            statuses = _EVERY_OPERATION + (_WITH_A_BODY if "requestBody" in operation else ())
            for status in statuses:
                operation["responses"].setdefault(
                    str(status),
                    {"description": _described(status), "content": {"application/json": {"schema": ref}}},
                )
    return result

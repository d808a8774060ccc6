"""Times clients send in query parameters."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from tradingsite.lib.errors import ApplicationError


def parse_client_time(raw: str, *, field: str) -> datetime:
    """An ISO 8601 time with a zone, as an aware UTC datetime; anything else (no zone, Feb 30, an
    offset that pushes it past year 9999) is a 400 `invalid_input` naming the field."""
    try:
        value = parse_datetime(raw)
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise ApplicationError(
        "invalid_input",
        "The request is invalid.",
        {field: ["Use an ISO 8601 time with a zone, like 2026-01-31T00:00:00Z."]},
    )

"""Cursor pagination that refuses a tampered cursor with 400 `cursor_invalid` instead of crashing.

DRF's cursor is base64 of a query string; its position is handed to the database as is. Here the
position must be a time the database can hold (our lists are ordered by a time, then the id)."""

from __future__ import annotations

from datetime import UTC, datetime

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from tradingsite.lib.errors import ApplicationError

MAX_CURSOR_CHARS = 512


class TimeCursorPagination(CursorPagination):
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Cursor | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is not None and len(raw) > MAX_CURSOR_CHARS:
            raise _invalid()
        try:
            cursor = super().decode_cursor(request)
        except (NotFound, ValueError, TypeError, OverflowError):
            raise _invalid() from None
        if cursor is not None and cursor.position is not None and not _is_time(str(cursor.position)):
            raise _invalid()
        return cursor


def _is_time(text: str) -> bool:
    try:
        value = datetime.fromisoformat(text)
        return value.tzinfo is not None and value.astimezone(UTC).year > 1
    except (ValueError, OverflowError):
        return False


def _invalid() -> ApplicationError:
    return ApplicationError("cursor_invalid", "This cursor was not issued by this server: start from the first page.")

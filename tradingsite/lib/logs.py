"""Logs as one JSON object per line (production) or plain text (the embedded demo), each line with
the id of the request it belongs to.

The request id comes from the front proxy (nginx sets `X-Request-ID` to its `$request_id`), or is
made here when there is none; it is sent back in the response's `X-Request-ID`, carried into the
Celery tasks the request queues (a message header) and set again in the worker around each task,
so one id finds a request's lines in nginx's, the web process's and the worker's logs.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # imported by settings: nothing of Django's at run time
    from django.http import HttpRequest, HttpResponse

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _from_header(value: str | None) -> str:
    if value and _VALID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the stack: every line logged while serving a request carries its id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = _from_header(request.headers.get("x-request-id"))
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = rid
        return response


class RepeatFilter(logging.Filter):
    """Warnings and errors that repeat — every request during an outage, every reconnect of a
    socket, every /readyz probe — are written once per `window` seconds per kind (logger, message
    template, exception type), the next one saying how many were left out. An outage is a few
    lines, not a traceback per request; what happens once is written as it happens."""

    MAX_KINDS = 1000

    def __init__(self, window: float = 30.0) -> None:
        super().__init__()
        self.window = window
        self.kinds: dict[tuple[str, str, str], list[float]] = {}  # kind → [written at, left out since]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        kind = (record.name, str(record.msg), exc)
        now = record.created
        seen = self.kinds.get(kind)
        if seen is not None and now - seen[0] < self.window:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} (and {int(seen[1])} more like it in the last {self.window:.0f} s)"
        if len(self.kinds) >= self.MAX_KINDS:
            self.kinds.clear()
        self.kinds[kind] = [now, 0]
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", "request_id", "process", ...extra, "exc"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "process": record.process,
        }
        rid = getattr(record, "request_id", None)
        if rid:
            body["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            body["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(body, default=str).decode()


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{text} [request {rid}]" if rid else text


def config(level: str, fmt: str) -> dict[str, Any]:
    """The LOGGING dict: one console handler, this format, request ids on every line."""
    formatter = "tradingsite.lib.logs.JsonFormatter" if fmt == "json" else "tradingsite.lib.logs.PlainFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "tradingsite.lib.logs.RequestIdFilter"},
            "repeats": {"()": "tradingsite.lib.logs.RepeatFilter"},
        },
        "formatters": {"main": {"()": formatter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["request_id", "repeats"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            # uvicorn's own lines (start-up, errors) in the same format, through the root handler
            "uvicorn": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
        },
    }


def celery_signals() -> None:
    """The request id into each task message queued while serving a request, and back out around the
    task in the worker."""
    from celery import signals

    def _carry(headers: dict[str, Any] | None = None, **kwargs: object) -> None:
        rid = request_id.get()
        if rid and headers is not None:
            headers["request_id"] = rid

    def _enter(task: Any = None, **kwargs: object) -> None:
        if task is not None:
            request_id.set(getattr(task.request, "request_id", None) or task.request.id)

    def _leave(**kwargs: object) -> None:
        request_id.set(None)

    signals.before_task_publish.connect(_carry, weak=False)
    signals.task_prerun.connect(_enter, weak=False)
    signals.task_postrun.connect(_leave, weak=False)

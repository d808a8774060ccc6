"""`/api/v1/`: orders, positions, account, portfolio, trades. Validate → service/selector → respond."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portfolio import selectors, services
from portfolio.domain.lots import Method
from portfolio.models import RealizedReport
from portfolio.payloads import TRADE_COLUMNS, TRADE_FIELDS, order_payload, trade_json, trade_row_payload
from portfolio.schemas import (
    AccountOutput,
    CloseOutcomeOutput,
    OrderOutput,
    OrderPage,
    PositionOutput,
    ReportJobOutput,
    ReportOutput,
    TotalsOutput,
    TradePage,
    WatchlistOutput,
)
from tradingsite.lib.csv_renderer import CsvRenderer
from tradingsite.lib.errors import ApplicationError
from tradingsite.lib.pagination import TimeCursorPagination
from tradingsite.lib.renderers import OrjsonRenderer
from tradingsite.lib.requests import AuthenticatedRequest
from tradingsite.lib.schema import errors
from tradingsite.lib.serializers import StrictCharField
from tradingsite.lib.times import parse_client_time

CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class NewestFirst(TimeCursorPagination):
    ordering = ("-created_at", "-id")


METHODS = [method.value for method in Method]  # the cost-basis methods, as the API spells them


class TradesNewestFirst(TimeCursorPagination):
    ordering = selectors.TRADES_ORDERING


def _json_body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    return request.data


def _not_found(what: str) -> ApplicationError:
    return ApplicationError("not_found", f"No such {what}.")


class OrderListApi(APIView):
    @extend_schema_serializer(component_name="OrderInput")
    class InputSerializer(serializers.Serializer[Any]):
        symbol = StrictCharField(max_length=20)
        side = serializers.ChoiceField(choices=["buy", "sell"])
        quantity = StrictCharField(max_length=40, help_text='A decimal string, e.g. "0.015".')
        client_order_id = StrictCharField(max_length=64, required=False, validators=[])

        def validate_client_order_id(self, value: str) -> str:
            if not CLIENT_ORDER_ID.fullmatch(value):
                raise serializers.ValidationError("Use 1 to 64 letters, digits, '.', '_', ':' or '-'.")
            return value

    @extend_schema(
        request=InputSerializer,
        responses={202: OrderOutput, 200: OrderOutput, **errors(422)},
        summary="Place a market order (202: accepted and pending; 200: this client_order_id already exists)",
        operation_id="order_place",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = self.InputSerializer(data=_json_body(request))
        serializer.is_valid(raise_exception=True)
        order, created = services.order_place(
            user=request.user, request=services.OrderRequest(**serializer.validated_data)
        )
        return Response(order_payload(order), status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(
        responses={200: OrderPage},
        parameters=[
            OpenApiParameter("status", str, enum=["pending", "filled", "rejected", "expired"]),
            OpenApiParameter("symbol", str),
            OpenApiParameter("cursor", str, description="From `next` or `previous` of a page."),
            OpenApiParameter("limit", int, description="Page size, at most 1000 (default 100)."),
        ],
        summary="My orders, newest first (cursor-paginated)",
        operation_id="orders_list",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        orders = selectors.order_queryset(
            user_id=request.user.pk,
            status=request.query_params.get("status"),
            symbol=request.query_params.get("symbol"),
        )
        return _paginated(request, self, orders, NewestFirst(), order_payload)


class OrderDetailApi(APIView):
    @extend_schema(responses={200: OrderOutput, **errors(404)}, summary="One of my orders", operation_id="order_get")
    def get(self, request: AuthenticatedRequest, order_id: int) -> Response:
        order = selectors.order_queryset(user_id=request.user.pk).filter(pk=order_id).first()
        if order is None:
            raise _not_found("order")
        return Response(order_payload(order))


class OrderByClientIdApi(APIView):
    @extend_schema(
        responses={200: OrderOutput, **errors(404)},
        summary="One of my orders, by client_order_id",
        operation_id="order_get_by_client_id",
    )
    def get(self, request: AuthenticatedRequest, client_order_id: str) -> Response:
        orders = selectors.order_queryset(user_id=request.user.pk)
        order = orders.filter(client_order_id=client_order_id).first()
        if order is None:
            raise _not_found("order")
        return Response(order_payload(order))


class PositionListApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["open", "closed", "all"])],
        responses={200: PositionOutput(many=True)},
        summary="My positions with live prices and PnL (default: open)",
        operation_id="positions_list",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        wanted = request.query_params.get("status", "open")
        if wanted not in ("open", "closed", "all"):
            raise exceptions.ValidationError({"status": ["Use open, closed or all."]})
        return Response(selectors.position_list(user_id=request.user.pk, status=wanted))

    @extend_schema(
        request=None,
        responses={207: CloseOutcomeOutput(many=True)},
        summary="Close every open position: one reduce-only order each, and what became of each (207)",
        operation_id="positions_close_all",
    )
    def delete(self, request: AuthenticatedRequest) -> Response:
        outcomes = services.positions_close_all(user=request.user)
        return Response([_close_outcome(o) for o in outcomes], status=status.HTTP_207_MULTI_STATUS)


def _close_outcome(outcome: services.CloseOutcome) -> dict[str, Any]:
    if outcome.error is not None:
        error = outcome.error.as_body()["error"]
        return {"symbol": outcome.symbol, "status": outcome.error.http_status, "order": None, "error": error}
    assert outcome.order is not None
    return {"symbol": outcome.symbol, "status": 202, "order": order_payload(outcome.order), "error": None}


class PositionDetailApi(APIView):
    @extend_schema(
        responses={200: PositionOutput, **errors(404)},
        summary="My open position in one symbol",
        operation_id="position_get",
    )
    def get(self, request: AuthenticatedRequest, symbol: str) -> Response:
        position = selectors.position_get(user_id=request.user.pk, symbol=symbol)
        if position is None:
            raise _not_found("open position")
        return Response(position)

    @extend_schema(
        parameters=[
            OpenApiParameter("quantity", str, description="A decimal string; default: all of it."),
            OpenApiParameter("percentage", str, description="Of the open quantity, in (0, 100]."),
        ],
        request=None,
        responses={202: OrderOutput, **errors(404, 422)},
        summary="Close all or part of a position (reduce-only: never flips it)",
        operation_id="position_close",
    )
    def delete(self, request: AuthenticatedRequest, symbol: str) -> Response:
        order = services.position_close(
            user=request.user,
            symbol=symbol,
            quantity=request.query_params.get("quantity"),
            percentage=request.query_params.get("percentage"),
        )
        return Response(order_payload(order), status=status.HTTP_202_ACCEPTED)


class AccountApi(APIView):
    @extend_schema(
        responses={200: AccountOutput}, summary="Cash, equity, buying power, realized PnL", operation_id="account_get"
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(selectors.account_summary(user_id=request.user.pk))

    @extend_schema_serializer(component_name="AccountPreferencesInput")
    class InputSerializer(serializers.Serializer[Any]):
        cost_basis_method = serializers.ChoiceField(choices=METHODS)

    @extend_schema(
        request=InputSerializer,
        responses={200: AccountOutput},
        summary="Set the realized-gains report's default method",
        operation_id="account_update",
    )
    def patch(self, request: AuthenticatedRequest) -> Response:
        serializer = self.InputSerializer(data=_json_body(request))
        serializer.is_valid(raise_exception=True)
        services.account_preferences_update(user=request.user, **serializer.validated_data)
        return Response(selectors.account_summary(user_id=request.user.pk))


class WatchlistApi(APIView):
    @extend_schema(responses={200: WatchlistOutput}, summary="My watch list", operation_id="watchlist_get")
    def get(self, request: AuthenticatedRequest) -> Response:
        return Response({"symbols": selectors.watchlist(user_id=request.user.pk)})


class WatchlistSymbolApi(APIView):
    @extend_schema(
        request=None,
        responses={200: WatchlistOutput, **errors(422)},
        summary="Add a symbol to my watch list (at most WS_MAX_WATCHED_SYMBOLS; already there: unchanged)",
        operation_id="watchlist_add",
    )
    def put(self, request: AuthenticatedRequest, symbol: str) -> Response:
        return Response({"symbols": services.watchlist_add(user=request.user, symbol=symbol)})

    @extend_schema(
        responses={200: WatchlistOutput},
        summary="Remove a symbol from my watch list (not there: unchanged)",
        operation_id="watchlist_remove",
    )
    def delete(self, request: AuthenticatedRequest, symbol: str) -> Response:
        return Response({"symbols": services.watchlist_remove(user=request.user, symbol=symbol)})


class _ReportRenderers(APIView):
    """JSON, or a report's rows as CSV under REPORT_FIELDS."""

    renderer_classes = [OrjsonRenderer, CsvRenderer]

    def get_renderer_context(self) -> dict[str, Any]:
        return {**super().get_renderer_context(), "csv_header": selectors.REPORT_FIELDS}


class RealizedReportApi(_ReportRenderers):
    """A year's realized gains. Computed in the request up to REPORT_SYNC_MAX_TRADES trades (the
    history up to the year's end); beyond that a worker builds it: 202 with the job, and the same
    request answers with the report once it is ready (or read the job at its `url`)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("year", int, required=True, description="Fills that closed in this year (UTC)."),
            OpenApiParameter("method", str, enum=METHODS, description="Default: the account's."),
        ],
        responses={
            (200, "application/json"): ReportOutput,
            (200, "text/csv"): OpenApiTypes.STR,
            (202, "application/json"): ReportJobOutput,
        },
        summary="Realized gains of a year by lot (JSON, or the rows as CSV with Accept: text/csv)",
        operation_id="report_realized",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        year = _report_year(request.query_params.get("year"))
        method = _report_method(request.query_params.get("method"), request.user.pk)
        user_id = request.user.pk
        if selectors.report_trade_count(user_id=user_id, year=year) <= settings.REPORT_SYNC_MAX_TRADES:
            return _report_response(request, selectors.realized_report(user_id=user_id, year=year, method=method))
        through = selectors.newest_trade_id(user_id=user_id)
        built = selectors.realized_report_cached(user_id=user_id, year=year, method=method, through_trade_id=through)
        if built is not None:
            return _report_response(request, built)
        return _job_response(services.realized_report_request(user=request.user, year=year, method=method))

    @extend_schema_serializer(component_name="ReportInput")
    class InputSerializer(serializers.Serializer[Any]):
        year = serializers.IntegerField(help_text="Fills that closed in this year (UTC).")
        method = serializers.ChoiceField(choices=METHODS, required=False, help_text="Default: the account's.")

    @extend_schema(
        request=InputSerializer,
        responses={
            202: OpenApiResponse(ReportJobOutput, description="Queued, or being built: poll its `url`."),
            200: OpenApiResponse(ReportJobOutput, description="Already built over the same trades: `report` holds it."),
        },
        summary="Have a worker build the report, whatever the history's length",
        operation_id="report_realized_request",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        body = _json_body(request)
        raw_year, raw_method = body.get("year"), body.get("method")
        year = _report_year(str(raw_year) if type(raw_year) is int else raw_year if type(raw_year) is str else None)
        method = _report_method(
            raw_method if raw_method is None or isinstance(raw_method, str) else "?", request.user.pk
        )
        return _job_response(services.realized_report_request(user=request.user, year=year, method=method))


class RealizedReportJobApi(_ReportRenderers):
    @extend_schema(
        responses={
            (200, "application/json"): ReportJobOutput,
            (200, "text/csv"): OpenApiTypes.STR,
            (202, "application/json"): ReportJobOutput,
            **errors(404),
        },
        summary="A report built by a worker: 202 while pending; when ready, its rows as CSV with Accept: text/csv",
        operation_id="report_get",
    )
    def get(self, request: AuthenticatedRequest, report_id: uuid.UUID) -> Response:
        job = selectors.realized_report_job(user_id=request.user.pk, report_id=report_id)
        if job is None:
            raise _not_found("report")
        if job.status == RealizedReport.Status.READY and request.accepted_renderer.format == "csv":
            return _report_response(request, job)
        return _job_response(job)


def _report_response(request: Request, report: dict[str, Any] | RealizedReport) -> Response:
    csv = request.accepted_renderer.format == "csv"
    if isinstance(report, RealizedReport):
        if not csv:
            return Response(orjson.Fragment(report.payload))  # stored as the JSON it is sent as
        report = cast(dict[str, Any], orjson.loads(report.payload))
    if not csv:
        return Response(report)
    rows = [{**row, "lot_ids": " ".join(map(str, row["lot_ids"]))} for row in report["rows"]]
    response = Response(rows)
    response["Content-Disposition"] = f'attachment; filename="realized-{report["year"]}-{report["method"]}.csv"'
    return response


def _job_response(job: RealizedReport) -> Response:
    """A job in JSON whatever the Accept header: the CSV form is the report's, once it is ready."""
    ready = job.status == RealizedReport.Status.READY
    url = reverse("report", kwargs={"report_id": job.pk})
    body = {
        "id": str(job.pk),
        "status": job.status,
        "year": job.year,
        "method": job.method,
        "trades": job.trade_count,
        "created_at": job.created_at.astimezone(UTC).isoformat(),
        "finished_at": job.finished_at.astimezone(UTC).isoformat() if job.finished_at else None,
        "url": url,
        "report": orjson.Fragment(job.payload) if ready else None,
    }
    if job.status != RealizedReport.Status.PENDING:
        return Response(body)
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url, "Retry-After": "1"})


def _report_year(raw: str | None) -> int:
    if raw is None or not raw.isascii() or not raw.isdigit() or not 1970 <= int(raw[:6]) <= 9998:
        raise ApplicationError("year_invalid", "Give the year as four digits, like 2026.", {"year": raw})
    return int(raw)


def _report_method(raw: str | None, user_id: int) -> Method:
    if raw is None:
        return Method(selectors.account_cost_basis_method(user_id=user_id))
    try:
        return Method(raw)
    except ValueError:
        raise ApplicationError("method_invalid", "Use fifo, lifo, hifo or average.", {"method": raw}) from None


class PortfolioApi(APIView):
    @extend_schema(
        responses={200: TotalsOutput}, summary="Portfolio totals, as on the WebSocket", operation_id="portfolio_get"
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(selectors.portfolio_summary(user_id=request.user.pk))


class TradeListApi(APIView):
    renderer_classes = [OrjsonRenderer, CsvRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("symbol", str),
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Executed at or after (ISO 8601, a zone)."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Executed before."),
            OpenApiParameter("cursor", str, description="From `next` or `previous` of a page."),
            OpenApiParameter("limit", int, description="Page size, at most 1000 (default 100)."),
        ],
        responses={(200, "application/json"): TradePage, (200, "text/csv"): OpenApiTypes.STR},
        summary="My trades, newest first (cursor-paginated JSON, or every row as CSV with Accept: text/csv)",
        operation_id="trades_list",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        trades = selectors.trade_queryset(
            user_id=request.user.pk,
            symbol=request.query_params.get("symbol"),
            start=_when(request, "from"),
            end=_when(request, "to"),
        )
        if request.accepted_renderer.format == "csv":
            response = StreamingHttpResponse(selectors.trade_csv(trades), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="trades.csv"'
            return response  # type: ignore[return-value]  # DRF passes any HttpResponse through
        if connection.vendor == "postgresql":  # each row's JSON written by the database, passed through
            built = trades.annotate(json=trade_json()).values_list(
                "executed_at", "order__client_order_id", "json", named=True
            )
            return _paginated(request, self, built, TradesNewestFirst(), lambda row: orjson.Fragment(row.json))
        # Plain values, not model instances: a page of 100 trades reads as one query and no objects.
        rows = trades.values_list(*TRADE_COLUMNS, named=True)
        return _paginated(request, self, rows, TradesNewestFirst(), lambda row: trade_row_payload(tuple(row)))

    def get_renderer_context(self) -> dict[str, Any]:
        return {**super().get_renderer_context(), "csv_header": TRADE_FIELDS}


def _when(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    return parse_client_time(raw, field=name) if raw else None


def _paginated(
    request: Request, view: APIView, queryset: QuerySet[Any], paginator: TimeCursorPagination, render: Any
) -> Response:
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([render(item) for item in page or []])

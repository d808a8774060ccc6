"""Market data: symbols, prices and the feed's state (ARCHITECTURE §5.2)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pricefeed import selectors
from pricefeed.models import Symbol
from tradingsite.lib.errors import ApplicationError
from tradingsite.lib.numbers import decimal_str

MAX_PRICE_SYMBOLS = 100


def _symbol_payload(symbol: Symbol) -> dict[str, object]:
    return {
        "symbol": symbol.symbol,
        "base_asset": symbol.base_asset,
        "quote_asset": symbol.quote_asset,
        "status": symbol.status,
        "tick_size": decimal_str(symbol.tick_size),
        "step_size": decimal_str(symbol.step_size),
        "min_qty": decimal_str(symbol.min_qty),
        "min_notional": decimal_str(symbol.min_notional),
    }


class SymbolListApi(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("status", str, description="TRADING, HALT or BREAK")],
        summary="Tradable symbols and their filters",
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in Symbol.Status.values:
            raise ApplicationError("status_invalid", "status must be TRADING, HALT or BREAK.", {"status": status})
        return Response({"symbols": [_symbol_payload(s) for s in selectors.symbol_list(status=status)]})


class PriceListApi(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("symbols", str, required=True, description="comma-separated, at most 100")],
        summary="Latest prices with exchange time, age and a stale flag",
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("symbols", "")
        names = [n.strip().upper() for n in raw.split(",") if n.strip()]
        if not names or len(names) > MAX_PRICE_SYMBOLS:
            raise ApplicationError(
                "symbols_invalid", f"Give 1 to {MAX_PRICE_SYMBOLS} comma-separated symbols.", {"symbols": raw[:200]}
            )
        if any(not n.isascii() or not n.isalnum() or len(n) > 20 for n in names):
            raise ApplicationError("symbols_invalid", "Symbols are letters and digits.", {"symbols": raw[:200]})
        return Response({"prices": list(selectors.price_report(names).values())})


class FeedApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="The price feed: state, staleness, counters")
    def get(self, request: Request) -> Response:
        return Response(selectors.feed_report(per_symbol=True))

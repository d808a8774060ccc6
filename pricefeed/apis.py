"""Market data: symbols, prices and the feed's state (ARCHITECTURE §5.2)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pricefeed import selectors
from pricefeed.models import Symbol
from tradingsite.lib.errors import ApplicationError
from tradingsite.lib.numbers import decimal_str
from tradingsite.lib.schema import decimal_string

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


Shape = serializers.Serializer[Any]


class SymbolOutput(Shape):
    symbol = serializers.CharField()
    base_asset = serializers.CharField()
    quote_asset = serializers.CharField()
    status = serializers.ChoiceField(choices=Symbol.Status.values)
    tick_size = decimal_string()
    step_size = decimal_string()
    min_qty = decimal_string()
    min_notional = decimal_string()


class SymbolListOutput(Shape):
    symbols = SymbolOutput(many=True)


class PriceOutput(Shape):
    symbol = serializers.CharField()
    price = decimal_string(allow_null=True, help_text="Null when the symbol has no price.")
    price_ts = serializers.IntegerField(allow_null=True, help_text="Exchange time, ms since the epoch.")
    age_ms = serializers.IntegerField(allow_null=True, help_text="Since the feeder received it.")
    stale = serializers.BooleanField()


class PriceListOutput(Shape):
    prices = PriceOutput(many=True)


class FeedSymbolsOutput(Shape):
    trading = serializers.IntegerField()
    stale = serializers.IntegerField()
    stale_symbols = serializers.ListField(child=serializers.CharField(), help_text="The first 100.")


class FeedOutput(Shape):
    state = serializers.ChoiceField(choices=["live", "stale", "simulated", "replay", "none"])
    source = serializers.CharField(allow_null=True)  # type: ignore[assignment]  # a field named like Field.source
    updated_ts = serializers.IntegerField(allow_null=True, help_text="The last batch, ms since the epoch.")
    age_ms = serializers.IntegerField(allow_null=True)
    symbols = FeedSymbolsOutput()
    prices = PriceOutput(many=True)
    stats = serializers.DictField(help_text="The feeder's counters (README, Redis keys: feed:stats).")


class SymbolListApi(APIView):
    @extend_schema(
        responses={200: SymbolListOutput},
        operation_id="symbols_list",
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
        responses={200: PriceListOutput},
        operation_id="prices_list",
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
    @extend_schema(
        responses={200: FeedOutput}, summary="The price feed: state, staleness, counters", operation_id="feed_get"
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.feed_report(per_symbol=True))

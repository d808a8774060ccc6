"""The response shapes of the trading API, for the OpenAPI schema (the bodies are built by
portfolio.payloads, the same functions the WebSocket uses)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tradingsite.lib.schema import ErrorDetail, decimal_string

Shape = serializers.Serializer[Any]


class OrderOutput(Shape):
    id = serializers.IntegerField()
    client_order_id = serializers.CharField()
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=["buy", "sell"])
    quantity = decimal_string()
    reduce_only = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["pending", "filled", "rejected", "expired"])
    price = decimal_string(help_text="The price snapshot the order fills at.")
    price_ts = serializers.IntegerField(help_text="Exchange time of that price, ms since the epoch.")
    fee_rate = decimal_string()
    reject_reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    filled_at = serializers.DateTimeField(allow_null=True)


class OrderPage(Shape):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = OrderOutput(many=True)


class PositionOutput(Shape):
    id = serializers.IntegerField()
    symbol = serializers.CharField()
    status = serializers.ChoiceField(choices=["open", "closed"])
    side = serializers.ChoiceField(choices=["long", "short"], allow_null=True)
    quantity = decimal_string(help_text="Signed: negative for a short.")
    avg_entry_price = decimal_string(help_text="15 significant digits of the exact average.")
    cost_basis = decimal_string(help_text="Signed cost still held.")
    realized_pnl = decimal_string(help_text="Net of every fee paid in this position.")
    fees_paid = decimal_string()
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    exit_price = decimal_string(allow_null=True)
    current_price = decimal_string(allow_null=True, help_text="Null while the symbol has no price.")
    price_ts = serializers.IntegerField(allow_null=True)
    market_value = decimal_string(allow_null=True)
    unrealized_pnl = decimal_string(allow_null=True)
    unrealized_pnl_percent = decimal_string(allow_null=True)


class CloseOutcomeOutput(Shape):
    """Per symbol: 202 and the accepted order, or the refusal's status and error."""

    symbol = serializers.CharField()
    status = serializers.IntegerField()
    order = OrderOutput(allow_null=True)
    error = ErrorDetail(allow_null=True)


class TotalsOutput(Shape):
    total_invested = decimal_string(help_text="Σ |cost basis| of the priced positions.")
    total_market_value = decimal_string()
    total_unrealized_pnl = decimal_string()
    total_pnl_percent = decimal_string()
    positions = serializers.IntegerField()
    priced_positions = serializers.IntegerField()


class ReportRowOutput(Shape):
    """One closing fill and one lot it consumed."""

    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=["long", "short"], help_text="The lot's side.")
    quantity = decimal_string()
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField()
    proceeds = decimal_string(help_text="Net of the closing fee.")
    cost_basis = decimal_string(help_text="Including the lot's share of its opening fee.")
    opening_fee = decimal_string(help_text="The share of the opening fee in cost_basis.")
    closing_fee = decimal_string()
    gain = decimal_string()
    term = serializers.ChoiceField(choices=["short", "long"], help_text="long: held more than 365 days.")
    method = serializers.ChoiceField(choices=["fifo", "lifo", "hifo", "average"])
    lot_ids = serializers.ListField(child=serializers.CharField(), help_text="The opening trades' ids.")


class ReportTotalsOutput(Shape):
    proceeds = decimal_string()
    cost_basis = decimal_string()
    gain = decimal_string()
    short_term_gain = decimal_string()
    long_term_gain = decimal_string()


class OpenLotOutput(Shape):
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=["long", "short"])
    quantity = decimal_string()
    price = decimal_string(help_text="The lot's cost per unit (pooled under the average method).")
    opened_at = serializers.DateTimeField()
    lot_ids = serializers.ListField(child=serializers.CharField())


class ReportOutput(Shape):
    year = serializers.IntegerField()
    method = serializers.ChoiceField(choices=["fifo", "lifo", "hifo", "average"])
    rows = ReportRowOutput(many=True)
    totals = ReportTotalsOutput()
    open_lots = OpenLotOutput(many=True, help_text="Lots still open at the end of the year.")


class ReportJobOutput(Shape):
    """A report a worker builds (histories too long to replay within a request)."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["pending", "ready", "failed"])
    year = serializers.IntegerField()
    method = serializers.ChoiceField(choices=["fifo", "lifo", "hifo", "average"])
    trades = serializers.IntegerField(help_text="The trades replayed: the history up to the year's end.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField(help_text="Where to read this job.")
    report = ReportOutput(allow_null=True, help_text="Once ready.")


class AccountOutput(Shape):
    cash = decimal_string()
    equity = decimal_string()
    buying_power = decimal_string()
    gross_exposure = decimal_string()
    long_market_value = decimal_string(help_text="Market value of the long positions (≥ 0).")
    short_market_value = decimal_string(help_text="Market value of the short positions (≤ 0).")
    realized_pnl = decimal_string()
    fee_rate = decimal_string()
    max_leverage = decimal_string(help_text="Buying power is equity × max_leverage − gross_exposure.")
    quote_asset = serializers.CharField()
    cost_basis_method = serializers.ChoiceField(
        choices=["fifo", "lifo", "hifo", "average"], help_text="The realized-gains report's default."
    )


class TradeOutput(Shape):
    id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    client_order_id = serializers.CharField()
    position_id = serializers.IntegerField()
    symbol = serializers.CharField()
    side = serializers.ChoiceField(choices=["buy", "sell"])
    quantity = decimal_string()
    price = decimal_string()
    fee = decimal_string()
    fee_currency = serializers.CharField()
    realized_pnl_gross = decimal_string(allow_null=True, help_text="Null on opening trades.")
    realized_pnl_net = decimal_string(allow_null=True)
    executed_at = serializers.DateTimeField()


class TradePage(Shape):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TradeOutput(many=True)


class WatchlistOutput(Shape):
    symbols = serializers.ListField(child=serializers.CharField(), help_text="In the order they were added.")

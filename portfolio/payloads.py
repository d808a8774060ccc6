"""The JSON shapes of positions and totals, shared by the REST API and the WebSocket so both report
the same field names and the same numbers for the same prices (ARCHITECTURE §5.2)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.db.models.expressions import RawSQL

from portfolio.domain import Holding, Marked, Totals, mark
from pricefeed.domain import Tick
from tradingsite.lib.numbers import average_str, decimal_str, price_str

if TYPE_CHECKING:
    from portfolio.models import Order, Position, Trade


def position_payload(holding: Holding, tick: Tick | None, marked: Marked | None) -> dict[str, Any]:
    return {
        "id": holding.position_id,
        "symbol": holding.symbol,
        "status": "open",
        "side": holding.side,
        "quantity": decimal_str(holding.quantity),
        "avg_entry_price": average_str(holding.avg_entry_price),
        "cost_basis": decimal_str(holding.cost_basis),
        "realized_pnl": decimal_str(holding.realized_pnl),
        "opened_at": holding.opened_at.isoformat(),
        **position_marks_payload(holding, tick, marked),
    }


def position_marks_payload(holding: Holding, tick: Tick | None, marked: Marked | None) -> dict[str, Any]:
    """The fields that move with the price: what a `pnl` message carries per changed position."""
    if tick is None or marked is None:
        return {
            "id": holding.position_id,
            "symbol": holding.symbol,
            "current_price": None,
            "price_ts": None,
            "market_value": None,
            "unrealized_pnl": None,
            "unrealized_pnl_percent": None,
        }
    return {
        "id": holding.position_id,
        "symbol": holding.symbol,
        "current_price": price_str(tick.price),
        "price_ts": tick.event_ts,
        "market_value": decimal_str(marked.market_value),
        "unrealized_pnl": decimal_str(marked.unrealized_pnl),
        "unrealized_pnl_percent": decimal_str(marked.unrealized_pnl_percent),
    }


def totals_payload(totals: Totals, *, priced: int, positions: int) -> dict[str, Any]:
    return {
        "total_invested": decimal_str(totals.total_invested),
        "total_market_value": decimal_str(totals.total_market_value),
        "total_unrealized_pnl": decimal_str(totals.total_unrealized_pnl),
        "total_pnl_percent": decimal_str(totals.total_pnl_percent),
        "positions": positions,
        "priced_positions": priced,
    }


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def order_payload(order: Order) -> dict[str, Any]:
    return {
        "id": order.pk,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol_id,
        "side": order.side,
        "quantity": decimal_str(order.quantity),
        "reduce_only": order.reduce_only,
        "status": order.status,
        "price": decimal_str(order.price),
        "price_ts": order.price_ts,
        "fee_rate": decimal_str(order.fee_rate),
        "reject_reason": order.reject_reason or None,
        "created_at": _iso(order.created_at),
        "filled_at": _iso(order.filled_at),
    }


TRADE_FIELDS = [
    "id",
    "order_id",
    "client_order_id",
    "position_id",
    "symbol",
    "side",
    "quantity",
    "price",
    "fee",
    "fee_currency",
    "realized_pnl_gross",
    "realized_pnl_net",
    "executed_at",
]


# The database columns behind TRADE_FIELDS, in order: what a trade list reads (`values_list`).
TRADE_COLUMNS = [
    "id",
    "order_id",
    "order__client_order_id",
    "position_id",
    "symbol_id",
    "side",
    "quantity",
    "price",
    "fee",
    "fee_currency",
    "realized_pnl_gross",
    "realized_pnl_net",
    "executed_at",
]


@lru_cache(maxsize=1)
def _trade_json_sql() -> str:
    from portfolio.models import Order, Trade

    table, order = Trade._meta.db_table, Order._meta.db_table
    columns = {
        "id": f'"{table}"."id"',
        "order_id": f'"{table}"."order_id"',
        "client_order_id": f'"{order}"."client_order_id"',
        "position_id": f'"{table}"."position_id"',
        "symbol": f'"{table}"."symbol"',
        "side": f'"{table}"."side"',
        "fee_currency": f'"{table}"."fee_currency"',
    }
    for field in ("quantity", "price", "fee", "realized_pnl_gross", "realized_pnl_net"):
        columns[field] = f'trim_scale("{table}"."{field}")::text'  # decimal_str: NUMERIC's text, no trailing zeros
    at = f'"{table}"."executed_at"'
    columns["executed_at"] = (  # isoformat() of an aware UTC time: microseconds only when there are some
        f"to_char({at} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN to_char({at}, 'US') = '000000' THEN ''"
        f" ELSE to_char({at} AT TIME ZONE 'UTC', '.US') END || '+00:00'"
    )
    return "json_build_object(" + ", ".join(f"'{field}', {columns[field]}" for field in TRADE_FIELDS) + ")::text"


def trade_json() -> RawSQL:
    """A trade's JSON object as PostgreSQL writes it, the same text trade_row_payload gives (a test
    holds them equal): a page of trades is read as 100 strings, with no Decimal, datetime or dict
    made per row. Raw SQL on purpose: the same object built from Django expressions took longer to
    compile per request than the rows took to format. The query must join the order (read
    `order__client_order_id` with it)."""
    return RawSQL(_trade_json_sql(), ())  # noqa: S611  # constant text: no parameter, no user input


def trade_payload(trade: Trade) -> dict[str, Any]:
    return trade_row_payload(
        (
            trade.pk,
            trade.order_id,
            trade.order.client_order_id,
            trade.position_id,
            trade.symbol_id,
            trade.side,
            trade.quantity,
            trade.price,
            trade.fee,
            trade.fee_currency,
            trade.realized_pnl_gross,
            trade.realized_pnl_net,
            trade.executed_at,
        )
    )


def trade_row_payload(row: tuple[Any, ...]) -> dict[str, Any]:
    """A trade from its TRADE_COLUMNS values: the JSON list and the CSV export write the same."""
    pk, order_id, client_order_id, position_id, symbol, side, quantity, price, fee, currency, gross, net, at = row
    return {
        "id": pk,
        "order_id": order_id,
        "client_order_id": client_order_id,
        "position_id": position_id,
        "symbol": symbol,
        "side": side,
        "quantity": decimal_str(quantity),
        "price": decimal_str(price),
        "fee": decimal_str(fee),
        "fee_currency": currency,
        "realized_pnl_gross": _opt(gross),
        "realized_pnl_net": _opt(net),
        "executed_at": _iso(at),
    }


def position_model_payload(position: Position, tick: Tick | None) -> dict[str, Any]:
    """A stored position, open or closed, in the same shape as the WebSocket's."""
    if position.status == "open":
        holding = Holding(
            position.pk,
            position.symbol_id,
            position.quantity,
            position.cost_basis,
            position.realized_pnl,
            position.opened_at,
            position.avg_entry_price,
        )
        marked = mark(holding, tick.price) if tick else None
        body = position_payload(holding, tick, marked)
    else:
        body = {
            "id": position.pk,
            "symbol": position.symbol_id,
            "status": "closed",
            "side": None,
            "quantity": "0",
            "avg_entry_price": average_str(position.avg_entry_price),
            "cost_basis": "0",
            "realized_pnl": decimal_str(position.realized_pnl),
            "opened_at": _iso(position.opened_at),
            "current_price": None,
            "price_ts": None,
            "market_value": "0",
            "unrealized_pnl": "0",
            "unrealized_pnl_percent": "0",
        }
    body.update(
        fees_paid=decimal_str(position.fees_paid),
        exit_price=_opt(position.exit_price),
        closed_at=_iso(position.closed_at),
    )
    return body

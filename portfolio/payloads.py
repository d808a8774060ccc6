"""The JSON shapes of positions and totals, shared by the REST API and the WebSocket so both report
the same field names and the same numbers for the same prices (ARCHITECTURE §5.2)."""

from __future__ import annotations

from typing import Any

from portfolio.domain import Holding, Marked, Totals, decimal_str
from pricefeed.domain import Tick


def position_payload(holding: Holding, tick: Tick | None, marked: Marked | None) -> dict[str, Any]:
    return {
        "id": holding.position_id,
        "symbol": holding.symbol,
        "status": "open",
        "side": holding.side,
        "quantity": decimal_str(holding.quantity),
        "avg_entry_price": decimal_str(holding.avg_entry_price),
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
        "current_price": decimal_str(tick.price),
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

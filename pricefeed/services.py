from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction

from pricefeed.binance import ExchangeSymbol, exchange_symbols
from pricefeed.models import Symbol
from pricefeed.sources.simulated import SNAPSHOT

STATUSES = {s.value for s in Symbol.Status}


def snapshot_symbols() -> list[ExchangeSymbol]:
    """The bundled offline snapshot of exchangeInfo (a few USDT pairs)."""
    rows = json.loads(SNAPSHOT.read_text())["symbols"]
    return [
        ExchangeSymbol(
            symbol=r["symbol"],
            base_asset=r["base"],
            quote_asset=r["quote"],
            status="TRADING",
            tick_size=Decimal(r["tick_size"]),
            step_size=Decimal(r["step_size"]),
            min_qty=Decimal(r["min_qty"]),
            min_notional=Decimal(r["min_notional"]),
        )
        for r in rows
    ]


@transaction.atomic
def symbol_sync(
    rows: Iterable[ExchangeSymbol], *, quote_asset: str | None = None, complete: bool = False
) -> dict[str, int]:
    """Create or update symbols from exchangeInfo rows (of `quote_asset` only, when given). With
    `complete` (a full exchangeInfo), symbols we know that Binance no longer lists are set to BREAK:
    orders are refused and the feeder stops subscribing to them. Returns counts."""
    counts = {"created": 0, "updated": 0, "delisted": 0}
    seen = set()
    for row in rows:
        if quote_asset and row.quote_asset != quote_asset:
            continue
        seen.add(row.symbol)
        status = row.status if row.status in STATUSES else Symbol.Status.BREAK
        symbol, created = Symbol.objects.update_or_create(
            symbol=row.symbol,
            defaults={
                "base_asset": row.base_asset,
                "quote_asset": row.quote_asset,
                "status": status,
                "tick_size": row.tick_size,
                "step_size": row.step_size,
                "min_qty": row.min_qty,
                "min_notional": row.min_notional,
            },
        )
        counts["created" if created else "updated"] += 1
    if complete:
        for symbol in Symbol.objects.exclude(symbol__in=seen).exclude(status=Symbol.Status.BREAK):
            if quote_asset and symbol.quote_asset != quote_asset:
                continue
            symbol.status = Symbol.Status.BREAK
            symbol.save(update_fields=["status", "updated_at"])
            counts["delisted"] += 1
    return counts


def exchange_info_fetch(rest_url: str, timeout: float = 30) -> list[ExchangeSymbol]:
    """Binance REST `GET /api/v3/exchangeInfo`, parsed. Raises OSError / ValueError when unreachable
    or malformed."""
    url = rest_url.rstrip("/") + "/api/v3/exchangeInfo"
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"BINANCE_REST_URL must be http(s): {url}")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked)
        return exchange_symbols(json.loads(response.read()))


def symbol_sync_from_exchange(rest_url: str, quote_asset: str) -> dict[str, int]:
    return symbol_sync(exchange_info_fetch(rest_url), quote_asset=quote_asset, complete=True)


def symbol_sync_from_snapshot() -> int:
    """Create or update the symbols of the bundled offline exchangeInfo snapshot; returns how many."""
    rows = snapshot_symbols()
    symbol_sync(rows)
    return len(rows)

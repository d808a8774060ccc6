from __future__ import annotations

import json
from decimal import Decimal

from django.db import transaction

from pricefeed.models import Symbol
from pricefeed.sources.simulated import SNAPSHOT


@transaction.atomic
def symbol_sync_from_snapshot() -> int:
    """Create or update the symbols of the bundled offline exchangeInfo snapshot; returns how many."""
    rows = json.loads(SNAPSHOT.read_text())["symbols"]
    for row in rows:
        Symbol.objects.update_or_create(
            symbol=row["symbol"],
            defaults={
                "base_asset": row["base"],
                "quote_asset": row["quote"],
                "status": Symbol.Status.TRADING,
                "tick_size": Decimal(row["tick_size"]),
                "step_size": Decimal(row["step_size"]),
                "min_qty": Decimal(row["min_qty"]),
                "min_notional": Decimal(row["min_notional"]),
            },
        )
    return len(rows)

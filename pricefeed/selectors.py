"""Reads of the symbol universe.

Symbols change rarely (a listing, a halt), and every order acceptance reads one, so each process
keeps them for `SYMBOL_CACHE_SECONDS`: a change made in this process is seen at once (the model's
save and delete signals clear the cache), one made in another process within that time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from pricefeed.bus import get_bus
from pricefeed.domain import now_ms
from pricefeed.models import Symbol
from tradingsite.lib.numbers import price_str

_cache: dict[str, tuple[float, Symbol | None]] = {}


def symbol_get(name: str) -> Symbol | None:
    now = time.monotonic()
    hit = _cache.get(name)
    if hit is not None and hit[0] > now:
        return hit[1]
    symbol = Symbol.objects.filter(pk=name).first()
    if len(_cache) > 10_000:  # names come from clients: bound what unknown ones can fill
        _cache.clear()
    _cache[name] = (now + settings.SYMBOL_CACHE_SECONDS, symbol)
    return symbol


@receiver(post_save, sender=Symbol)
@receiver(post_delete, sender=Symbol)
def symbol_cache_clear(**kwargs: Any) -> None:
    _cache.clear()


def symbol_list(*, status: str | None = None) -> list[Symbol]:
    symbols = Symbol.objects.all()
    return list(symbols.filter(status=status) if status else symbols)


def price_report(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each symbol's stored price with its exchange time, age and staleness (missing: stale, no price)."""
    now, max_age_ms = now_ms(), settings.PRICE_MAX_AGE_SECONDS * 1000
    wanted = list(dict.fromkeys(names))
    ticks = get_bus().get_many(wanted)
    report: dict[str, dict[str, Any]] = {}
    for name in wanted:
        tick = ticks.get(name)
        if tick is None:
            report[name] = {"symbol": name, "price": None, "price_ts": None, "age_ms": None, "stale": True}
            continue
        age = now - tick.received_ts
        report[name] = {
            "symbol": name,
            "price": price_str(tick.price),
            "price_ts": tick.event_ts,
            "age_ms": age,
            "stale": age > max_age_ms,
        }
    return report


def feed_report(*, per_symbol: bool = False) -> dict[str, Any]:
    """Where prices come from and how fresh they are: the feed's state (live / stale / simulated /
    replay / none), each TRADING symbol's staleness, and the feeder's counters."""
    now = now_ms()
    status = get_bus().feed_status()
    if status is None:
        body: dict[str, Any] = {"state": "none", "source": None, "updated_ts": None, "age_ms": None}
    else:
        state = status.state(now, settings.PRICE_MAX_AGE_SECONDS * 1000)
        body = {
            "state": state,
            "source": status.source,
            "updated_ts": status.updated_ts,
            "age_ms": now - status.updated_ts,
        }
    names = [s.symbol for s in symbol_list(status=Symbol.Status.TRADING)]
    prices = price_report(names)
    stale = sorted(name for name, row in prices.items() if row["stale"])
    body["symbols"] = {"trading": len(names), "stale": len(stale), "stale_symbols": stale[:100]}
    if names and len(stale) == len(names) and body["state"] not in ("none", "stale"):
        # The feeder runs (its status is fresh) but no symbol has a price younger than
        # PRICE_MAX_AGE_SECONDS: the exchange is gone for it. Orders are refused (price_stale) and
        # /readyz says so.
        body["state"] = "stale"
    if per_symbol:
        body["prices"] = list(prices.values())
    body["stats"] = get_bus().feed_stats() or {}
    return body

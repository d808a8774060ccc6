"""Reads of the symbol universe.

Symbols change rarely (a listing, a halt), and every order acceptance reads one, so each process
keeps them for `SYMBOL_CACHE_SECONDS`: a change made in this process is seen at once (the model's
save and delete signals clear the cache), one made in another process within that time.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from pricefeed.models import Symbol

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

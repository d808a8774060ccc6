"""Bring the Symbol table in line with Binance's exchangeInfo: filters, status, delistings."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pricefeed.binance import FrameError, exchange_symbols
from pricefeed.services import snapshot_symbols, symbol_sync


class Command(BaseCommand):
    help = "Sync symbols from Binance REST exchangeInfo (or, with --offline, from the bundled snapshot)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--offline", action="store_true", help="use the bundled snapshot, no network")
        parser.add_argument("--quote", default=settings.QUOTE_ASSET, help="only pairs quoted in this asset")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["offline"]:
            counts = symbol_sync(snapshot_symbols(), quote_asset=options["quote"])
        else:
            url = settings.BINANCE_REST_URL.rstrip("/") + "/api/v3/exchangeInfo"
            if not url.startswith(("https://", "http://")):
                raise CommandError(f"BINANCE_REST_URL must be http(s): {url}")
            try:
                with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (scheme checked)
                    rows = exchange_symbols(json.loads(response.read()))
            except (OSError, ValueError, FrameError) as exc:
                raise CommandError(f"could not read {url}: {exc}. Offline? Use --offline.") from None
            counts = symbol_sync(rows, quote_asset=options["quote"], complete=True)
        self.stdout.write(
            f"symbols: {counts['created']} created, {counts['updated']} updated, {counts['delisted']} delisted"
        )

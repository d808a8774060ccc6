"""Bring the Symbol table in line with Binance's exchangeInfo: filters, status, delistings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pricefeed.services import exchange_info_fetch, snapshot_symbols, symbol_sync


class Command(BaseCommand):
    help = "Sync symbols from Binance REST exchangeInfo (or, with --offline, from the bundled snapshot)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--offline", action="store_true", help="use the bundled snapshot, no network")
        parser.add_argument("--quote", default=settings.QUOTE_ASSET, help="only pairs quoted in this asset")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["offline"]:
            counts = symbol_sync(snapshot_symbols(), quote_asset=options["quote"])
        else:
            try:
                rows = exchange_info_fetch(settings.BINANCE_REST_URL)
            except (OSError, ValueError) as exc:
                raise CommandError(
                    f"could not read exchangeInfo from {settings.BINANCE_REST_URL}: {exc}. Offline? Use --offline."
                ) from None
            counts = symbol_sync(rows, quote_asset=options["quote"], complete=True)
        self.stdout.write(
            f"symbols: {counts['created']} created, {counts['updated']} updated, {counts['delisted']} delisted"
        )

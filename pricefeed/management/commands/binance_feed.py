"""The feeder process: one price source → 100 ms latest-wins batches → the price bus."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from pricefeed.bus import get_bus
from pricefeed.feeder import Feeder, Source
from pricefeed.models import Symbol
from pricefeed.services import symbol_sync_from_exchange
from pricefeed.sources.binance import BinanceConfig, BinanceSource
from pricefeed.sources.replay import ReplaySource
from pricefeed.sources.simulated import SimulatedSource, bundled_symbols, universe

logger = logging.getLogger(__name__)

STATS_EVERY_SECONDS = 60
SYMBOLS_SYNC_SECONDS = 3600


def _trading_symbols() -> dict[str, Any]:
    return dict(Symbol.objects.filter(status=Symbol.Status.TRADING).values_list("symbol", "tick_size"))


class Command(BaseCommand):
    help = "Stream prices into the price bus (Redis in production) in batches, until SIGTERM/SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--source",
            nargs="+",
            metavar=("SOURCE", "FILE"),
            default=[settings.PRICE_SOURCE],
            help="binance | simulated | replay FILE (default: PRICE_SOURCE)",
        )
        parser.add_argument("--symbols", default="", help="comma-separated symbols (default: every TRADING symbol)")
        parser.add_argument("--rate", type=int, default=settings.SIMULATED_RATE, help="simulated: total updates/s")
        parser.add_argument("--seed", type=int, default=settings.SIMULATED_SEED, help="simulated: random seed")
        parser.add_argument("--speed", type=float, default=1.0, help="replay: times the original pace")
        parser.add_argument("--loop", action="store_true", help="replay: start again at the end of the file")
        parser.add_argument("--stream", default=settings.BINANCE_STREAM, help="binance: aggTrade, bookTicker, …")
        parser.add_argument("--interval-ms", type=int, default=settings.PRICE_FLUSH_INTERVAL_MS)

    def handle(self, *args: Any, **options: Any) -> None:
        source = self.build_source(options)
        feeder = Feeder(source, get_bus(), options["interval_ms"])
        asyncio.run(self.run_until_signalled(feeder))
        self.stdout.write(f"feeder stopped: {json.dumps(feeder.status())}")

    def wanted(self, options: dict[str, Any]) -> set[str] | None:
        names = {s.strip().upper() for s in options["symbols"].split(",") if s.strip()}
        return names or None

    def build_source(self, options: dict[str, Any]) -> Source:
        kind, *rest = options["source"]
        if kind == "replay":
            if len(rest) != 1:
                raise CommandError("--source replay needs the file: --source replay FILE")
            path = Path(rest[0])
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
            return ReplaySource(path, options["speed"], options["loop"])
        if rest:
            raise CommandError(f"--source {kind} takes no file")
        if kind == "simulated":
            return self.simulated(options)
        if kind == "binance":
            return self.binance(options)
        raise CommandError(f"unknown source {kind!r}: binance, simulated or replay FILE")

    def simulated(self, options: dict[str, Any]) -> SimulatedSource:
        if options["rate"] < 1:
            raise CommandError("--rate must be at least 1")
        trading = _trading_symbols()
        rows = sorted(trading.items()) or [(s.symbol, s.tick_size) for s in bundled_symbols()]
        wanted = self.wanted(options)
        if wanted:
            unknown = wanted - {name for name, _ in rows}
            if unknown:
                raise CommandError(f"unknown symbols: {', '.join(sorted(unknown))}")
            rows = [r for r in rows if r[0] in wanted]
        return SimulatedSource(universe(rows), options["rate"], options["seed"])

    def binance(self, options: dict[str, Any]) -> BinanceSource:
        config = BinanceConfig(
            ws_url=settings.BINANCE_WS_URL,
            rest_url=settings.BINANCE_REST_URL,
            stream=options["stream"],
            silence_timeout=settings.BINANCE_SILENCE_TIMEOUT,
        )

        synced_at = -float("inf")

        async def tradable() -> set[str]:
            # Validated against exchangeInfo through the Symbol table: re-synced from Binance at start
            # and every SYMBOLS_SYNC_SECONDS (what `manage.py sync_symbols` does), so listings, halts
            # and delistings reach the subscriptions without anyone running a command.
            nonlocal synced_at
            # A connection PostgreSQL dropped (a restart) is replaced, as a request or a task would.
            await sync_to_async(close_old_connections)()
            if time.monotonic() - synced_at >= SYMBOLS_SYNC_SECONDS:
                synced_at = time.monotonic()
                try:
                    counts = await sync_to_async(symbol_sync_from_exchange)(config.rest_url, settings.QUOTE_ASSET)
                    logger.info("symbols synced from exchangeInfo: %s", counts)
                except (OSError, ValueError) as exc:
                    logger.warning("could not sync symbols from exchangeInfo (%s); using the Symbol table", exc)
            names = set(await sync_to_async(_trading_symbols)())
            if not names:
                logger.warning("no TRADING symbols: run `manage.py sync_symbols` (or `--offline`)")
            return names

        try:
            return BinanceSource(config, tradable, self.wanted(options))
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    async def run_until_signalled(self, feeder: Feeder) -> None:
        task = asyncio.create_task(feeder.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        logger.info("feeder running: source=%s interval=%.0fms", feeder.source.name, feeder.interval * 1000)
        reporter = asyncio.create_task(self.report(feeder))
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # cancelled by a signal: Feeder.run() has already made its final flush
        finally:
            reporter.cancel()

    async def report(self, feeder: Feeder) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_SECONDS)
            logger.info("feeder stats: %s", json.dumps(feeder.status()))

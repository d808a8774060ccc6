"""The feeder process: one price source → 100 ms latest-wins batches → the price bus."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pricefeed.bus import get_bus
from pricefeed.feeder import Feeder, Source
from pricefeed.sources.simulated import SimulatedSource, bundled_symbols

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Stream prices into the price bus (Redis in production) in batches, until SIGTERM/SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", choices=["simulated"], default=settings.PRICE_SOURCE)
        parser.add_argument("--symbols", default="", help="comma-separated symbols (default: all bundled)")
        parser.add_argument("--rate", type=int, default=settings.SIMULATED_RATE, help="simulated updates/s")
        parser.add_argument("--seed", type=int, default=settings.SIMULATED_SEED)
        parser.add_argument("--interval-ms", type=int, default=settings.PRICE_FLUSH_INTERVAL_MS)

    def handle(self, *args: Any, **options: Any) -> None:
        feeder = Feeder(self.build_source(options), get_bus(), options["interval_ms"])
        asyncio.run(self.run_until_signalled(feeder))
        self.stdout.write(f"feeder stopped: {feeder.stats}")

    def build_source(self, options: dict[str, Any]) -> Source:
        symbols = bundled_symbols()
        wanted = {s.strip().upper() for s in options["symbols"].split(",") if s.strip()}
        if wanted:
            unknown = wanted - {s.symbol for s in symbols}
            if unknown:
                raise CommandError(f"unknown symbols: {', '.join(sorted(unknown))}")
            symbols = [s for s in symbols if s.symbol in wanted]
        if options["rate"] < 1:
            raise CommandError("--rate must be at least 1")
        return SimulatedSource(symbols, options["rate"], options["seed"])

    async def run_until_signalled(self, feeder: Feeder) -> None:
        task = asyncio.create_task(feeder.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        logger.info("feeder running: source=%s interval=%.0fms", feeder.source.name, feeder.interval * 1000)
        with contextlib.suppress(asyncio.CancelledError):
            await task  # cancelled by a signal: Feeder.run() has already made its final flush

"""`manage.py demo`: the one-command embedded site (the README's run command ends here).

Migrates, loads the bundled symbols, makes sure a demo user with a few open positions exists, then
serves HTTP + WebSocket with daphne in this process; in embedded mode the simulated price feed runs
inside the same process.
"""

from __future__ import annotations

import socket
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import daphne.server
from daphne.endpoints import build_endpoint_description_strings
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import demo_user_ensure
from portfolio.services import demo_positions_seed
from pricefeed.hub import hub
from pricefeed.models import Symbol
from pricefeed.services import symbol_sync_from_snapshot
from pricefeed.sources.simulated import bundled_symbols

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-trader"  # noqa: S105  (printed at start-up; the embedded demo binds to localhost)
# symbol, signed quantity, entry price as a multiple of the bundled reference price
DEMO_HOLDINGS = [
    ("BTCUSDT", Decimal("0.5"), Decimal("0.97")),
    ("ETHUSDT", Decimal("4"), Decimal("1.02")),
    ("SOLUSDT", Decimal("-60"), Decimal("1.03")),
    ("BNBUSDT", Decimal("10"), Decimal("0.99")),
    ("XRPUSDT", Decimal("-5000"), Decimal("0.98")),
    ("DOGEUSDT", Decimal("20000"), Decimal("0.95")),
]


class Command(BaseCommand):
    help = "Set up the demo (migrate, symbols, demo user with positions) and serve the site."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--setup-only", action="store_true", help="prepare the data, do not serve")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["setup_only"]:
            self.check_port_free(options["host"], options["port"])
        self.prepare()
        if not options["setup_only"]:
            self.serve(options["host"], options["port"])

    def check_port_free(self, host: str, port: int) -> None:
        """Fail before any set-up, with what to do, when something already listens there."""
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise CommandError(
                    f"Port {port} on {host} is taken ({exc.strerror}): another program, or a tradingsite "
                    f"already running, listens there. Pick another port: make run PORT={port + 1}"
                ) from None

    def prepare(self) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        symbol_sync_from_snapshot()
        user = demo_user_ensure(username=DEMO_USERNAME, password=DEMO_PASSWORD)
        demo_positions_seed(user=user, holdings=self.demo_holdings())

    def demo_holdings(self) -> list[tuple[str, Decimal, Decimal]]:
        refs = {s.symbol: s.ref_price for s in bundled_symbols()}
        ticks = dict(Symbol.objects.values_list("symbol", "tick_size"))
        return [
            (symbol, quantity, (refs[symbol] * factor).quantize(ticks[symbol], ROUND_HALF_EVEN))
            for symbol, quantity, factor in DEMO_HOLDINGS
        ]

    def serve(self, host: str, port: int) -> None:
        from twisted.internet import reactor

        from tradingsite.asgi import application

        url = f"http://{host}:{port}/"
        server = daphne.server.Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
        )

        def announce() -> None:
            if not server.listening_addresses:
                return  # daphne has logged why it could not listen and is stopping
            hub.ensure_started()  # prices flow before the first visitor arrives
            mode = "simulated prices in this process" if settings.PRICE_FEED_IN_PROCESS else "prices from the feeder"
            self.stdout.write(
                f"\ntradingsite is running at {url}  ({mode})\n"
                f"Log in as: {DEMO_USERNAME} / {DEMO_PASSWORD}\nPress Ctrl+C to stop.\n"
            )
            self.stdout.flush()

        reactor.callLater(0, announce)  # type: ignore[arg-type]  # runs on the running loop
        server.run()

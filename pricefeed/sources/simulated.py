"""Offline prices good enough to demo with: a random walk per symbol, on the symbol's own tick grid.

Moves are drawn so that each symbol shows roughly its real daily volatility whatever the update
rate. Prices are integers of ticks times the tick size, so every price is an exact Decimal; floats
only ever hold the random draw. The same seed gives the same sequence.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pricefeed.domain import Tick, now_ms
from pricefeed.feeder import TickSink

SNAPSHOT = Path(__file__).resolve().parent.parent / "data" / "symbols.json"
STEP_SECONDS = 0.01


@dataclass(frozen=True, slots=True)
class SimulatedSymbol:
    symbol: str
    tick_size: Decimal
    ref_price: Decimal
    daily_vol: float


def bundled_symbols() -> list[SimulatedSymbol]:
    rows = json.loads(SNAPSHOT.read_text())["symbols"]
    return [
        SimulatedSymbol(r["symbol"], Decimal(r["tick_size"]), Decimal(r["ref_price"]), float(r["daily_vol"]))
        for r in rows
    ]


def universe(rows: list[tuple[str, Decimal]]) -> list[SimulatedSymbol]:
    """Walks for a symbol universe given as (symbol, tick size): the bundled reference price and
    volatility where known, else a plausible price drawn from the name (stable across runs)."""
    bundled = {s.symbol: s for s in bundled_symbols()}
    result = []
    for name, tick_size in rows:
        known = bundled.get(name)
        if known is not None:
            result.append(SimulatedSymbol(name, tick_size, known.ref_price, known.daily_vol))
            continue
        draw = random.Random(name)
        price = Decimal(10) ** draw.randint(0, 4) * Decimal(draw.randint(100, 999)) / 100
        price = max(tick_size, (price / tick_size).to_integral_value() * tick_size)
        result.append(SimulatedSymbol(name, tick_size, price, round(draw.uniform(0.03, 0.08), 3)))
    return result


class SimulatedSource:
    name = "simulated"

    def __init__(self, symbols: list[SimulatedSymbol], rate: int, seed: int = 0):
        if not symbols:
            raise ValueError("the simulated source needs at least one symbol")
        self.symbols = symbols
        self.rate = rate
        self.rng = random.Random(seed)
        self._ticks = {s.symbol: max(1, int(s.ref_price / s.tick_size)) for s in symbols}
        updates_per_day = 86_400 * rate / len(symbols)
        self._sigma = {s.symbol: s.daily_vol / math.sqrt(updates_per_day) for s in symbols}

    def next_tick(self, timestamp_ms: int) -> Tick:
        spec = self.symbols[self.rng.randrange(len(self.symbols))]
        ticks = self._ticks[spec.symbol]
        move = ticks * self._sigma[spec.symbol] * self.rng.gauss(0.0, 1.0)
        # Stochastic rounding: coarse tick grids still move on average as much as they should.
        ticks = max(1, ticks + math.floor(move + self.rng.random()))
        self._ticks[spec.symbol] = ticks
        return Tick(spec.symbol, ticks * spec.tick_size, timestamp_ms, timestamp_ms)

    async def run(self, emit: TickSink) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = 0
        while True:
            due = int((loop.time() - started) * self.rate)
            timestamp = now_ms()
            for _ in range(due - sent):
                emit(self.next_tick(timestamp))
            sent = due
            await asyncio.sleep(STEP_SECONDS)

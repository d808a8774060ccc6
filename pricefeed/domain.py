"""Plain values of the price feed (no ORM, no I/O): a tick, a batch, and their wire form.

The wire form is the contract of ARCHITECTURE §5.1: `price:{SYMBOL}` holds one tick as JSON, and the
`prices` channel carries one batch per flush.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, NamedTuple

import orjson

from tradingsite.lib.numbers import decimal_str

# Prices are kept to 18 decimal places, the scale of every price column (Binance sends at most 8):
# whoever reads a tick (REST, the live push, an order's snapshot) reads the same number.
PRICE_PLACES = 18
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Tick:
    symbol: str
    price: Decimal
    event_ts: int  # exchange event time, ms since the epoch
    received_ts: int  # when the feeder got it, ms since the epoch

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "price": format(self.price, "f"),
            "event_ts": self.event_ts,
            "received_ts": self.received_ts,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tick:
        price = Decimal(str(data["price"]))
        if not price.is_finite() or price <= 0:
            raise ValueError(f"bad price {data['price']!r}")
        if price.as_tuple().exponent < -PRICE_PLACES:  # type: ignore[operator]
            price = price.quantize(PRICE_QUANTUM, ROUND_HALF_EVEN)
        return cls(str(data["symbol"]), price, int(data["event_ts"]), int(data["received_ts"]))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Tick:
        return cls.from_dict(orjson.loads(raw))


@dataclass(frozen=True, slots=True)
class Batch:
    """Every symbol that changed during one flush interval, latest value each."""

    source: str  # binance | simulated | replay
    flushed_ts: int
    ticks: tuple[Tick, ...]

    def to_json(self) -> str:
        body = {"source": self.source, "flushed_ts": self.flushed_ts, "ticks": [t.as_dict() for t in self.ticks]}
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Batch:
        body = orjson.loads(raw)
        ticks = tuple(Tick.from_dict(t) for t in body["ticks"])
        return cls(str(body["source"]), int(body["flushed_ts"]), ticks)


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """What the pages and sockets show about where prices come from (`live` only for Binance)."""

    source: str
    updated_ts: int

    @property
    def is_live(self) -> bool:
        return self.source == "binance"

    def to_json(self) -> str:
        return json.dumps({"source": self.source, "updated_ts": self.updated_ts})

    @classmethod
    def from_json(cls, raw: str | bytes) -> FeedStatus:
        body = json.loads(raw)
        return cls(str(body["source"]), int(body["updated_ts"]))

    def state(self, now: int, max_age_ms: int) -> str:
        if now - self.updated_ts > max_age_ms:
            return "stale"
        return "live" if self.is_live else self.source


class Quote(NamedTuple):
    """A symbol's latest price made ready once per batch for every socket that holds it: exactly, as
    digits × 10**exponent with no trailing zeros (for integer marks), and as the text every endpoint
    shows. A tuple, so the live push's C loop reads it as one."""

    digits: int
    exponent: int
    text: str
    event_ts: int

    @classmethod
    def of(cls, tick: Tick) -> Quote:
        text = decimal_str(tick.price)  # plain, no trailing zeros: its digits are the quote's
        whole, _, fraction = text.partition(".")
        if fraction:
            return cls(int(whole + fraction), -len(fraction), text, tick.event_ts)
        stripped = whole.rstrip("0")  # prices are positive: a whole number like 67000 is 67·10³
        return cls(int(stripped), len(whole) - len(stripped), text, tick.event_ts)

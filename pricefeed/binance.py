"""Binance spot market streams: the wire format, as pure functions (no I/O).

Facts honoured here (../shared/data/binance/README.md): combined streams wrap every payload as
`{"stream": name, "data": payload}`; stream names use lowercase symbols, payloads uppercase; prices
are JSON strings, parsed with `Decimal(str)`, never through float; `@bookTicker` payloads carry no
event time; `!miniTicker@arr` carries only the symbols that changed (a list: merge, do not replace);
live requests are answered `{"result": null, "id": n}` or `{"error": {...}, "id": n}`; a
`serverShutdown` event means "reconnect now".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pricefeed.domain import Tick

STREAM_KINDS = ("aggTrade", "trade", "bookTicker", "miniTicker", "ticker")
MAX_STREAMS_PER_CONNECTION = 1024  # Binance's limit
MAX_FRAME_BYTES = 1 << 20  # the largest market-data frame (`!ticker@arr`) is well under this


class FrameError(ValueError):
    """A frame that is not what Binance sends: counted as invalid, the feed goes on."""


@dataclass(frozen=True, slots=True)
class Prices:
    ticks: tuple[Tick, ...]


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    event_ts: int


@dataclass(frozen=True, slots=True)
class Ack:
    id: int


@dataclass(frozen=True, slots=True)
class RequestError:
    id: int | None
    code: int | None
    message: str


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    stream: str
    event: str


Frame = Prices | ServerShutdown | Ack | RequestError | UnknownEvent


def stream_name(symbol: str, kind: str) -> str:
    if kind not in STREAM_KINDS:
        raise ValueError(f"unknown stream kind {kind!r}; one of {', '.join(STREAM_KINDS)}")
    return f"{symbol.lower()}@{kind}"


def symbol_of_stream(stream: str) -> str:
    return stream.split("@", 1)[0].upper()


def combined_url(base: str, streams: Sequence[str]) -> str:
    return f"{base.rstrip('/')}/stream?streams={'/'.join(streams)}"


def request(method: str, streams: Sequence[str], request_id: int) -> str:
    """A live SUBSCRIBE / UNSUBSCRIBE request."""
    if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
        raise ValueError(method)
    return json.dumps({"method": method, "params": list(streams), "id": request_id}, separators=(",", ":"))


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def parse_frame(raw: str | bytes, received_ts: int) -> Frame:
    """One text frame of a combined-stream connection. Raises FrameError for anything malformed."""
    if len(raw) > MAX_FRAME_BYTES:
        raise FrameError("frame too large")
    try:
        message = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError("not a JSON object")
    if "stream" in message and "data" in message:
        return _parse_stream(str(message["stream"]), message["data"], received_ts)
    if "error" in message:
        error = message["error"] if isinstance(message["error"], dict) else {"msg": str(message["error"])}
        code = error.get("code")
        return RequestError(
            _int_or_none(message.get("id")), code if isinstance(code, int) else None, str(error.get("msg", ""))
        )
    if "result" in message and "id" in message:
        request_id = _int_or_none(message["id"])
        if request_id is None:
            raise FrameError("reply without an integer id")
        return Ack(request_id)
    raise FrameError("neither a stream frame nor a reply")


def _parse_stream(stream: str, data: Any, received_ts: int) -> Frame:
    if isinstance(data, list):  # `!miniTicker@arr`, `!ticker@arr`: only the symbols that changed
        return Prices(tuple(_tick(item, received_ts) for item in data))
    if not isinstance(data, dict):
        raise FrameError("stream data is not an object")
    event = data.get("e")
    if event == "serverShutdown":
        return ServerShutdown(_int(data.get("E", received_ts), "E"))
    if event is None and {"b", "a", "s"} <= data.keys():
        return Prices((_tick(data, received_ts),))  # bookTicker
    if event in _PRICE_FIELD:
        return Prices((_tick(data, received_ts),))
    return UnknownEvent(stream, str(event))


_PRICE_FIELD = {"aggTrade": "p", "trade": "p", "24hrMiniTicker": "c", "24hrTicker": "c"}


def _tick(data: Any, received_ts: int) -> Tick:
    if not isinstance(data, dict):
        raise FrameError("payload is not an object")
    symbol = data.get("s")
    if not isinstance(symbol, str) or not symbol.isascii() or not symbol.isalnum() or len(symbol) > 20:
        raise FrameError(f"bad symbol {symbol!r}")
    event = data.get("e")
    if event is None:  # bookTicker: the mid price; no event time, so the receive time stands in
        bid, ask = _price(data.get("b"), "b"), _price(data.get("a"), "a")
        return Tick(symbol.upper(), (bid + ask) / 2, received_ts, received_ts)
    field = _PRICE_FIELD.get(event)
    if field is None:
        raise FrameError(f"no price in a {event!r} event")
    return Tick(symbol.upper(), _price(data.get(field), field), _int(data.get("E"), "E"), received_ts)


def _price(value: Any, field: str) -> Decimal:
    if not isinstance(value, str):
        raise FrameError(f"{field} is not a decimal string: {value!r}")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise FrameError(f"{field} is not a decimal: {value!r}") from None
    if not price.is_finite() or price <= 0:
        raise FrameError(f"{field} is not a positive price: {value!r}")
    return price


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FrameError(f"{field} is not a timestamp: {value!r}")
    return value


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ticker_prices(body: Any, wanted: Iterable[str], received_ts: int) -> list[Tick]:
    """`GET /api/v3/ticker/price` (a list of {symbol, price}) → ticks for the wanted symbols."""
    names = set(wanted)
    if not isinstance(body, list):
        raise FrameError("ticker/price did not return a list")
    ticks = []
    for row in body:
        if isinstance(row, dict) and row.get("symbol") in names:
            try:
                ticks.append(Tick(row["symbol"], _price(row.get("price"), "price"), received_ts, received_ts))
            except FrameError:
                continue
    return ticks


@dataclass(frozen=True, slots=True)
class ExchangeSymbol:
    symbol: str
    base_asset: str
    quote_asset: str
    status: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal


def exchange_symbols(body: Any) -> list[ExchangeSymbol]:
    """`GET /api/v3/exchangeInfo` → the spot symbols with the filters orders are checked against
    (PRICE_FILTER tickSize, LOT_SIZE stepSize/minQty, NOTIONAL or MIN_NOTIONAL minNotional)."""
    if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
        raise FrameError("exchangeInfo has no symbols list")
    result = []
    for row in body["symbols"]:
        try:
            filters = {f["filterType"]: f for f in row.get("filters", [])}
            notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
            result.append(
                ExchangeSymbol(
                    symbol=str(row["symbol"]),
                    base_asset=str(row["baseAsset"]),
                    quote_asset=str(row["quoteAsset"]),
                    status=str(row["status"]),
                    tick_size=Decimal(filters["PRICE_FILTER"]["tickSize"]),
                    step_size=Decimal(filters["LOT_SIZE"]["stepSize"]),
                    min_qty=Decimal(filters["LOT_SIZE"]["minQty"]),
                    min_notional=Decimal(notional.get("minNotional", "0")),
                )
            )
        except (KeyError, TypeError, InvalidOperation):
            continue  # a symbol without the filters we trade on: not ours to offer
    return result

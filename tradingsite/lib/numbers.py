"""The one text form of every number that leaves the process: REST, WebSocket, CSV, pages.

Plain notation (never an exponent), no trailing zeros, every digit kept: a price Binance sends as
"67234.50000000" reads "67234.5" in every endpoint and frame. A value that is the result of a
division (an average entry price) is first rounded to AVERAGE_DIGITS significant digits, so a
relative error stays below 1e-14 whatever the magnitude (0.00000000217… keeps its digits).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import lru_cache

AVERAGE_DIGITS = 15
_WIDE = Context(prec=100)


def decimal_str(value: Decimal, *, significant: int | None = None) -> str:
    """(On the live socket's hot path: str() and trimming is twice as fast as format().)"""
    if value == 0:
        return "0"
    if significant is not None:
        value = _round_significant(value, significant)
    text = str(value)
    if "E" in text:
        text = format(value, "f")  # never normalize(): it rounds to the context's 28 digits
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def average_str(value: Decimal) -> str:
    return decimal_str(value, significant=AVERAGE_DIGITS)


@lru_cache(maxsize=16_384)
def price_str(price: Decimal) -> str:
    """decimal_str for prices, cached: one price is shown to every socket holding the symbol."""
    return decimal_str(price)


def _round_significant(value: Decimal, digits: int) -> Decimal:
    exponent = value.adjusted() - digits + 1
    if value.as_tuple().exponent >= exponent:  # type: ignore[operator]
        return value  # already within that many digits
    return value.quantize(Decimal(1).scaleb(exponent), ROUND_HALF_EVEN, context=_WIDE)


_ZEROS = "0" * 64


def scaled_str(value: int, places: int) -> str:
    """decimal_str of `value × 10**-places`, straight from the integer: the live push keeps its
    numbers as scaled integers and formats them here, to the same text as every other endpoint."""
    if value == 0:
        return "0"
    digits = str(-value if value < 0 else value)
    if places:
        if len(digits) <= places:
            digits = _ZEROS[: places + 1 - len(digits)] + digits
        whole, fraction = digits[:-places], digits[-places:].rstrip("0")
        digits = f"{whole}.{fraction}" if fraction else whole
    return f"-{digits}" if value < 0 else digits

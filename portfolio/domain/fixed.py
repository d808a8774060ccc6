"""Exact arithmetic on scaled integers, shared by the REST marks (Decimal in, Decimal out) and the
live push (integers throughout): both round a percentage the same way, so they agree to the digit."""

from __future__ import annotations

from decimal import Decimal

PERCENT_PLACES = 4


def div_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half to even (denominator > 0)."""
    quotient, remainder = divmod(numerator, denominator)  # floor division: 0 <= remainder < denominator
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def percent_scaled(part: int, whole: int, scale: int = 0) -> int:
    """part / whole × 100, in units of 10**-PERCENT_PLACES; `part` is in units of 10**-scale more
    than `whole` (0 when both have the same scale)."""
    return div_half_even(part * 10 ** (2 + PERCENT_PLACES), whole * 10**scale)


def decimal_percent(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole × 100 rounded half-even to 4 places, exactly (no intermediate rounding)."""
    if whole == 0:
        return Decimal(0)
    part_n, part_d = part.as_integer_ratio()
    whole_n, whole_d = whole.as_integer_ratio()
    # (part_n / part_d) / (whole_n / whole_d) = part_n × whole_d / (part_d × whole_n)
    numerator, denominator = part_n * whole_d, part_d * whole_n
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    return Decimal(div_half_even(numerator * 10 ** (2 + PERCENT_PLACES), denominator)).scaleb(-PERCENT_PLACES)

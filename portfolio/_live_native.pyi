# The C loop of portfolio/live_native.c (built by `python -m portfolio.native`).
from collections.abc import Iterable, Mapping

def frame(
    entries: dict[str, tuple[int, int, int, int, int]],
    last: dict[str, tuple[int, int]],
    symbols: Iterable[str],
    quotes: Mapping[str, tuple[int, int, str, int]],
    /,
) -> tuple[str, int, int] | None: ...

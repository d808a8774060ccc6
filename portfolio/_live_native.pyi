# portfolio/live_native.c (built by `python -m portfolio.native`).
from collections.abc import Sequence

class Wide(ArithmeticError): ...

class Book:
    def __init__(self, rows: list[tuple[int, str, int, int, int, int]], /) -> None: ...
    def marks(
        self, mask: int, quotes: Sequence[tuple[int, int, str, int] | None], /
    ) -> tuple[str, int, int, int, int, int]: ...
    def frame(
        self,
        mask: int,
        quotes: Sequence[tuple[int, int, str, int] | None],
        seq: int,
        ts: int,
        since_ts: int,
        websocket: bool = ...,
        /,
    ) -> bytes | None: ...
    def totals_json(self) -> str: ...
    def state(self) -> list[tuple[int, str, int, int, int, int, int | None, int]]: ...

def min_ts(mask: int, quotes: Sequence[tuple[int, int, str, int] | None], /) -> int: ...

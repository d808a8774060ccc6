"""The turns a web process's sockets take among the feed's batches (see `Phases`)."""

from __future__ import annotations

__all__ = ["Phases"]


class Phases:
    """Which of the feed's batches each listener's frames go out at, kept even. With a frame every
    `every` batches (2: 200 ms over batches 100 ms apart), a process's listeners take turns: those of
    phase p at the batches b with b % every == p. A pass's length is its number of frames, and a
    listener late in a long pass waits that much longer since its last frame: at the design load the
    turns had grown to 847 and 1,653 sockets in one process (where the connect storm had put them),
    and the long pass's last sockets saw gaps of 250-290 ms. So a listener's first turn is the least
    taken one, and a listener in a turn with more than its share moves to the least taken one,
    always to an earlier batch (its gap is shortened once, never stretched)."""

    __slots__ = ("_counts", "_even", "_of")

    def __init__(self) -> None:
        self._counts: dict[int, list[int]] = {}  # every -> listeners per phase
        self._of: dict[object, tuple[int, int]] = {}  # listener -> (every, phase)
        # The `every`s whose turns differ by less than 2: no listener of theirs has a move to make,
        # and `next` (once per frame) returns at once. Kept as the counts change (joins, leaves, moves).
        self._even: set[int] = set()

    def _counted(self, every: int) -> None:
        counts = self._counts[every]
        if max(counts) - min(counts) < 2:
            self._even.add(every)
        else:
            self._even.discard(every)

    def first(self, listener: object, batch: int, every: int) -> int:
        """The batch of `listener`'s second frame, its first one going out at `batch`: within the next
        `every`, the least taken turn (the latest of those on a tie)."""
        self.release(listener)
        counts = self._counts.setdefault(every, [0] * every)
        due = min(range(batch + every, batch, -1), key=lambda b: counts[b % every])
        counts[due % every] += 1
        self._of[listener] = (every, due % every)
        self._counted(every)
        return due

    def next(self, listener: object, due: int) -> int:
        """`due`, the batch of `listener`'s next frame in its turn; or an earlier one in the least
        taken turn when its own is above the mean and two or more listeners above that one."""
        found = self._of.get(listener)
        if found is None or found[0] in self._even:
            return due
        every, phase = found
        counts = self._counts[every]
        least = min(range(every), key=counts.__getitem__)
        if counts[phase] - counts[least] < 2 or counts[phase] * every <= sum(counts):
            return due  # even enough, or its turn is not above the mean: no move that is not needed
        counts[phase] -= 1
        counts[least] += 1
        self._of[listener] = (every, least)
        self._counted(every)
        return due - (phase - least) % every

    def release(self, listener: object) -> None:
        found = self._of.pop(listener, None)
        if found is not None:
            every, phase = found
            self._counts[every][phase] -= 1
            self._counted(every)

    def clear(self) -> None:
        self._counts.clear()
        self._of.clear()
        self._even.clear()

    def turn(self, listener: object) -> int | None:
        found = self._of.get(listener)
        return None if found is None else found[1]

    def sizes(self, every: int) -> list[int]:
        return list(self._counts.get(every, [0] * every))

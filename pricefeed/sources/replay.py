"""Replay a recording of Binance combined-stream frames: one JSON frame per line (JSONL), exactly as
received (`{"stream": ..., "data": ...}`). Frames are paced by their exchange event time (`E`), at
`speed` times the original pace; frames without one (`@bookTicker`) follow the previous frame at
once. Each price is stamped with the time it is replayed. Malformed lines are counted and skipped.
The source ends with the file (or loops)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

from pricefeed import binance
from pricefeed.domain import now_ms
from pricefeed.feeder import TickSink


class ReplaySource:
    name = "replay"

    def __init__(self, path: Path, speed: float = 1.0, loop: bool = False):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.path, self.speed, self.loop = path, speed, loop
        self.frames = 0
        self.invalid_frames = 0

    async def run(self, emit: TickSink) -> None:
        while True:
            await self._play(emit)
            if not self.loop:
                return

    async def _play(self, emit: TickSink) -> None:
        clock = asyncio.get_running_loop()
        started, first_event = clock.time(), None
        with self.path.open("rb") as lines:
            for line in lines:
                if not line.strip():
                    continue
                event_ts = _event_time(line)
                if event_ts is not None:
                    if first_event is None:
                        first_event = event_ts
                    due = started + (event_ts - first_event) / 1000 / self.speed
                    await asyncio.sleep(max(0.0, due - clock.time()))
                self.frames += 1
                try:
                    frame = binance.parse_frame(line, now_ms())
                except binance.FrameError:
                    self.invalid_frames += 1
                    continue
                if isinstance(frame, binance.Prices):
                    for tick in frame.ticks:
                        # Replayed prices are shown as of now: their age is the age of the replay.
                        emit(replace(tick, event_ts=tick.received_ts))


def _event_time(line: bytes) -> int | None:
    try:
        data = json.loads(line).get("data")
        if isinstance(data, list):
            data = data[0] if data else None
        value = data.get("E") if isinstance(data, dict) else None
        return value if isinstance(value, int) else None
    except (ValueError, AttributeError):
        return None

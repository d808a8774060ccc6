"""What the benches share: the servers they run on, percentiles, and writing results."""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradingsite.testing.processes import ROOT
from tradingsite.testing.servers import PostgresServer, RedisServer

RESULTS = ROOT / "bench" / "results"


def servers() -> tuple[str, str, list[Any]]:
    """PostgreSQL and Redis URLs: DATABASE_URL / REDIS_URL when set, else throwaway servers (stop the
    returned ones when done)."""
    started: list[Any] = []
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not database_url:
        postgres = PostgresServer().start()
        started.append(postgres)
        database_url = postgres.url
    if not redis_url:
        redis_server = RedisServer().start()
        started.append(redis_server)
        redis_url = redis_server.url
    return database_url, redis_url, started


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def write_results(name: str, report: dict[str, Any], lines: list[str], folder: Path = RESULTS) -> None:
    """bench/results/{name}-{UTC timestamp}.json and .md (or in `folder`), and the table on stdout."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    (folder / f"{name}-{stamp}.md").write_text("\n".join(lines))
    print("\n".join(lines))


@contextlib.contextmanager
def generator_collections_paused() -> Iterator[None]:
    """No garbage collection in this load generator while it runs: its heap grows with every request
    timed, and a full collection of it stopped the generator for ~40 ms once a run (gc.callbacks):
    every request due meanwhile left late and was counted slow from its schedule, a pause of the
    client's that the server's p99 then showed. (The servers collect as they always do.)"""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()

"""What the benches share: the servers they run on, percentiles, and writing results."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
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

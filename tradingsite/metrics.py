"""What `/metrics` shows (Prometheus text format), and where each figure is counted.

Two kinds of figures:

- **This instance's**, counted in the process that does the work, with `prometheus_client`: HTTP
  requests (django-prometheus), live sockets, pnl frames pushed and changes conflated, the push's
  latency, price batches. A web instance runs several processes on one port
  (tradingsite/serve.py); they count into files under `PROMETHEUS_MULTIPROC_DIR`, which serve.py
  gives each instance, and a scrape of any of them reads the sum of all. Sum these over instances.
- **The cluster's**, kept where every process can reach them, read at each scrape: orders
  accepted / filled / rejected / expired and the fill latency (counted by whichever web process or
  worker saw the event, in Redis: the sessions role), orders pending and the broker's queue, the
  price feed's state and lag. Every instance reports the same values: take one (max), do not sum.

Counting never fails the work it counts: a lost increment is logged, the order goes on.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import REGISTRY, Collector

logger = logging.getLogger(__name__)

ORDER_EVENTS = ("accepted", "filled", "rejected", "expired")
# Seconds from an order's acceptance to its fill (the worker's queue wait included).
FILL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Seconds from a batch's newest exchange event to its frames written to the sockets.
PUSH_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5)

# --- this instance's (prometheus_client; multi-process aware under serve.py) ---------------------

sockets_open = Gauge("tradingsite_ws_sockets", "Live sockets open in this instance.", multiprocess_mode="livesum")
frames_pushed = Counter("tradingsite_push_frames", "pnl frames (and their price frames) written to live sockets.")
changes_conflated = Counter(
    "tradingsite_push_conflated",
    "Price changes that reached a socket still waiting for its next frame: merged into it (latest wins).",
)
push_latency = Histogram(
    "tradingsite_push_latency_seconds",
    "From the newest exchange event of a price batch to its frames written (one observation per pass).",
    buckets=PUSH_BUCKETS,
)
price_batches = Counter("tradingsite_price_batches", "Price batches applied by this instance's live push.")
push_listeners = Gauge(
    "tradingsite_push_listeners", "Sockets the live push serves in this instance.", multiprocess_mode="livesum"
)
loop_lag = Histogram(
    "tradingsite_event_loop_lag_seconds",
    "How late the live push's clock (every 0.25 s) woke: the event loop held by other work.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
gc_pause = Histogram(
    "tradingsite_gc_pause_seconds",
    "Cyclic garbage collections of this instance and how long each held the process.",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
asyncio_tasks = Gauge(
    "tradingsite_asyncio_tasks", "asyncio tasks of this instance (sampled each second).", multiprocess_mode="livesum"
)


# --- the cluster's (Redis, read at each scrape) ------------------------------------------------------


class OrderCounts(Protocol):
    def record(self, event: str, fill_seconds: float | None) -> None: ...

    def read(self) -> tuple[dict[str, int], dict[str, float]]: ...


_COUNTS_KEY = "metrics:orders"
_FILL_KEY = "metrics:order_fill_seconds"


def _bucket_of(seconds: float) -> str:
    for bound in FILL_BUCKETS:
        if seconds <= bound:
            return str(bound)
    return "+Inf"


class RedisOrderCounts:
    """One hash of counts per event and one of the fill-latency histogram: a pipelined round trip."""

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)

    def record(self, event: str, fill_seconds: float | None) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby(_COUNTS_KEY, event, 1)
        if fill_seconds is not None:
            pipe.hincrby(_FILL_KEY, _bucket_of(fill_seconds), 1)
            pipe.hincrbyfloat(_FILL_KEY, "sum", fill_seconds)
        pipe.execute()

    def read(self) -> tuple[dict[str, int], dict[str, float]]:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(_COUNTS_KEY)
        pipe.hgetall(_FILL_KEY)
        counts, fills = pipe.execute()
        return (
            {k.decode(): int(v) for k, v in counts.items()},
            {k.decode(): float(v) for k, v in fills.items()},
        )


class MemoryOrderCounts:
    """The embedded site: one process counts everything."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.fills: dict[str, float] = {}

    def record(self, event: str, fill_seconds: float | None) -> None:
        with self.lock:
            self.counts[event] = self.counts.get(event, 0) + 1
            if fill_seconds is not None:
                bucket = _bucket_of(fill_seconds)
                self.fills[bucket] = self.fills.get(bucket, 0) + 1
                self.fills["sum"] = self.fills.get("sum", 0.0) + fill_seconds

    def read(self) -> tuple[dict[str, int], dict[str, float]]:
        with self.lock:
            return dict(self.counts), dict(self.fills)


@cache
def order_counts() -> OrderCounts:
    url = settings.SESSION_REDIS_URL
    return RedisOrderCounts(str(url)) if url else MemoryOrderCounts()


def order_event(event: str, fill_seconds: float | None = None) -> None:
    """Count an order accepted, filled, rejected or expired (and a fill's latency)."""
    try:
        order_counts().record(event, fill_seconds)
    except Exception as exc:
        logger.warning("metrics: order %s not counted: %s", event, exc)


class ClusterCollector(Collector):
    """Figures of the whole deployment, read from Redis and PostgreSQL when scraped."""

    def collect(self) -> Iterator[Any]:
        yield from self._orders()
        yield from self._queue()
        yield from self._feed()

    def _orders(self) -> Iterator[Any]:
        try:
            counts, fills = order_counts().read()
        except Exception as exc:
            logger.warning("metrics: order counts unreadable: %s", exc)
            return
        family = CounterMetricFamily("tradingsite_orders", "Orders by what happened to them.", labels=["event"])
        for event in ORDER_EVENTS:
            family.add_metric([event], counts.get(event, 0))
        yield family
        cumulative, buckets = 0.0, []
        for bound in FILL_BUCKETS:
            cumulative += fills.get(str(bound), 0)
            buckets.append((str(bound), cumulative))
        buckets.append(("+Inf", cumulative + fills.get("+Inf", 0)))
        yield HistogramMetricFamily(
            "tradingsite_order_fill_seconds",
            "From an order's acceptance to its fill.",
            buckets=buckets,
            sum_value=fills.get("sum", 0.0),
        )

    def _queue(self) -> Iterator[Any]:
        from portfolio.models import Order

        try:
            pending = Order.objects.filter(status=Order.Status.PENDING).count()
        except Exception as exc:
            logger.warning("metrics: pending orders unreadable: %s", exc)
        else:
            yield GaugeMetricFamily("tradingsite_orders_pending", "Orders accepted and not yet filled.", value=pending)
        depth = _broker_queue_depth()
        if depth is not None:
            yield GaugeMetricFamily(
                "tradingsite_task_queue_messages", "Tasks waiting in the broker's default queue.", value=depth
            )

    def _feed(self) -> Iterator[Any]:
        from pricefeed.selectors import feed_report

        try:
            report = feed_report()
        except Exception as exc:
            logger.warning("metrics: feed state unreadable: %s", exc)
            return
        state = GaugeMetricFamily(
            "tradingsite_feed_state", "The price feed's state (1 for the current one).", labels=["state"]
        )
        for name in ("live", "simulated", "replay", "stale", "none"):
            state.add_metric([name], 1 if report["state"] == name else 0)
        yield state
        if report["age_ms"] is not None:
            yield GaugeMetricFamily(
                "tradingsite_feed_age_seconds", "Since the feeder's last batch.", value=report["age_ms"] / 1000
            )
        yield GaugeMetricFamily(
            "tradingsite_feed_stale_symbols", "Trading symbols whose price is stale.", value=report["symbols"]["stale"]
        )
        stats = report["stats"]
        lags = (("lag_ms_p99", "exchange event to the feeder"), ("publish_lag_ms_p99", "event to published"))
        for name, text in lags:
            if isinstance(stats.get(name), int | float):
                yield GaugeMetricFamily(
                    f"tradingsite_feed_{name.removesuffix('_ms_p99')}_p99_seconds",
                    f"Price lag, {text}, 99th percentile over the feeder's last minute.",
                    value=stats[name] / 1000,
                )


def _broker_queue_depth() -> int | None:
    url = str(settings.CELERY_BROKER_URL)
    if not url.startswith(("redis://", "rediss://")):
        return None
    try:
        return int(_broker(url).llen("celery"))
    except Exception as exc:
        logger.warning("metrics: broker queue unreadable: %s", exc)
        return None


@cache
def _broker(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def exposition() -> bytes:
    """This instance's figures (all its processes' when PROMETHEUS_MULTIPROC_DIR is set) and the cluster's."""
    cluster = CollectorRegistry(auto_describe=False)
    cluster.register(ClusterCollector())
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY) + generate_latest(cluster)
    from prometheus_client import multiprocess

    processes = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
    return generate_latest(processes) + generate_latest(cluster)

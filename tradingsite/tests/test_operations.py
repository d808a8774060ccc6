"""What operators see: /metrics, request ids, JSON logs, and which database a read goes to."""

import json
import logging
import re
from types import SimpleNamespace

import pytest
from django.test import Client

from tradingsite import db
from tradingsite.lib import logs


def scrape(client: Client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    values = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


@pytest.mark.django_db
def test_metrics_are_for_the_machine_itself_or_the_token(settings):
    settings.METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 403
    settings.TRUSTED_PROXY_COUNT = 1  # behind the proxy: the client it names, not the proxy, decides
    assert Client().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert Client().get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200
    settings.METRICS_TOKEN = "s3cret-token-for-scrapes"
    remote = Client(REMOTE_ADDR="10.1.2.3")
    assert remote.get("/metrics").status_code == 403
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-for-scrapes").status_code == 200


@pytest.mark.django_db
def test_request_ids_come_from_the_proxy_or_are_made_and_are_sent_back():
    client = Client()
    given = client.get("/healthz", HTTP_X_REQUEST_ID="0f3c9a1e2b7d4c55a6e8f9b0c1d2e3f4")
    assert given["X-Request-ID"] == "0f3c9a1e2b7d4c55a6e8f9b0c1d2e3f4"
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-ID"])
    hostile = client.get("/healthz", HTTP_X_REQUEST_ID='x" \n{"level":"ERROR"}')
    assert re.fullmatch(r"[0-9a-f]{32}", hostile["X-Request-ID"])  # not echoed into logs or headers


def test_json_log_lines_carry_the_request_id_and_the_exception():
    formatter, attach = logs.JsonFormatter(), logs.RequestIdFilter()
    token = logs.request_id.set("abc123")
    try:
        record = logging.LogRecord("portfolio.services", logging.ERROR, __file__, 1, "order %s: %s", (7, 'a "b"'), None)
        attach.filter(record)
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            record.exc_info = sys.exc_info()
        line = formatter.format(record)
    finally:
        logs.request_id.reset(token)
    body = json.loads(line)
    assert "\n" not in line
    assert (body["level"], body["logger"], body["msg"], body["request_id"]) == (
        "ERROR",
        "portfolio.services",
        'order 7: a "b"',
        "abc123",
    )
    assert "ValueError: boom" in body["exc"]


def test_a_task_queued_while_serving_a_request_carries_its_id():
    from celery import signals

    headers: dict[str, object] = {}
    token = logs.request_id.set("req-42")
    try:
        signals.before_task_publish.send(sender="portfolio.tasks.order_execute", headers=headers, body=None)
    finally:
        logs.request_id.reset(token)
    assert headers["request_id"] == "req-42"


def test_lag_tolerant_reads_go_to_the_replica_only_when_there_is_one(monkeypatch):
    monkeypatch.setattr(db, "settings", SimpleNamespace(DATABASES={"default": {}}))
    assert db.lagging_reads() == "default"
    monkeypatch.setattr(db, "settings", SimpleNamespace(DATABASES={"default": {}, "replica": {}}))
    assert db.lagging_reads() == "replica"
    router = db.ReplicaRouter()
    assert router.db_for_write(object) == "default"
    assert router.db_for_read(object) == "default"  # only reads that ask for it go to the replica
    assert router.allow_migrate("default", "portfolio")
    assert not router.allow_migrate("replica", "portfolio")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        ("redis", 503, "service_unavailable"),
        ("database", 503, "service_unavailable"),
        ("bug", 500, "server_error"),
    ],
)
def test_a_dependency_that_is_down_is_a_503_with_retry_after_and_a_bug_a_500(monkeypatch, owner, failure, status, code):
    import redis
    from django.db import OperationalError

    from portfolio import selectors

    raised = {
        "redis": redis.exceptions.ConnectionError("Error 111 connecting to redis:6379. Connection refused."),
        "database": OperationalError("connection failed: Connection refused"),
        "bug": ZeroDivisionError("division by zero"),
    }[failure]

    def broken(**kwargs):
        raise raised

    monkeypatch.setattr(selectors, "portfolio_summary", broken)
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    response = client.get("/api/v1/portfolio")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "Connection refused" not in response.content.decode()  # nothing internal leaks
    assert (response.get("Retry-After") == "5") == (status == 503)


@pytest.mark.django_db
def test_api_errors_are_json_whatever_the_format_asked_or_the_path(owner):
    anonymous = Client()
    refused = anonymous.get("/api/v1/trades?format=csv")  # a CSV export's 401 is JSON, not CSV
    assert refused.status_code == 401
    assert refused["Content-Type"].startswith("application/json")
    assert refused.json()["error"]["code"] == "not_authenticated"
    client = Client()
    client.force_login(owner)
    unknown = client.get("/api/v1/trades?format=xml")  # not "no such resource" (DRF's 404)
    assert unknown.status_code == 400
    assert unknown.json()["error"]["details"] == {"format": ["One of: json, csv."]}
    missing = client.get("/api/v1/orders/-5")  # no route matches: the API's 404, not Django's page
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert Client().get("/no-such-page/").status_code == 404  # pages keep Django's


def test_a_warning_that_repeats_is_written_once_per_window_then_with_the_count_left_out():
    import logging

    from tradingsite.lib.logs import RepeatFilter

    folding = RepeatFilter(window=30)

    def record(at: float, msg: str = "%s: %s", level: int = logging.ERROR) -> logging.LogRecord:
        made = logging.LogRecord("django.request", level, __file__, 1, msg, ("Service Unavailable", "/x"), None)
        made.created = at
        return made

    assert folding.filter(record(0.0))  # the outage begins: written
    assert not any(folding.filter(record(t / 10)) for t in range(1, 200))  # every request of the next 20 s
    assert folding.filter(record(5.0, msg="another: %s %s"))  # another kind is its own
    assert folding.filter(record(5.0, level=logging.INFO))  # below WARNING: never folded
    later = record(31.0)
    assert folding.filter(later)
    assert "(and 199 more like it in the last 30 s)" in later.getMessage()


def test_each_garbage_collection_is_timed_and_a_long_one_is_logged_each_time(monkeypatch, caplog):
    import gc

    from tradingsite import metrics
    from tradingsite.lib import memory

    def collections(generation: str) -> float:
        return sum(
            s.value for m in metrics.gc_pause.collect() for s in m.samples
            if s.name.endswith("_count") and s.labels["generation"] == generation
        )  # fmt: skip

    memory.watch_collections()
    memory.watch_collections()  # once is enough: not twice
    try:
        assert gc.callbacks.count(memory._timed) == 1
        before = collections("2")
        gc.collect()
        assert collections("2") == before + 1
        monkeypatch.setattr(memory, "LONG_PAUSE_SECONDS", 0.0)
        with caplog.at_level("WARNING", logger="tradingsite.lib.memory"):
            gc.collect()
            gc.collect()
    finally:
        gc.callbacks.remove(memory._timed)
    long = [r for r in caplog.records if r.getMessage().startswith("gc: generation 2 collection held the process")]
    assert len(long) >= 2  # each one, not folded (the collector may have run one more itself)
    assert long[0].gc_generation == 2
    assert long[0].gc_ms >= 0

"""/metrics while orders flow: counted by the web process and by the worker, read in one scrape."""

import pytest

from portfolio.tests.conftest import place, trader, wait_final
from tradingsite.tests.test_operations import scrape

pytestmark = [pytest.mark.integration]


def test_metrics_count_orders_accepted_and_filled_across_processes(symbols, workers, prices, owner):
    """The web process counts the acceptance, the worker (another process) the fill and its latency;
    one scrape shows both, with the pending orders and the price feed."""
    workers.start()
    client = trader(owner)
    before = scrape(client)
    prices.set("BTCUSDT", "60000")
    accepted = place(client, "BTCUSDT", "buy", "0.01")
    assert accepted.status_code == 202, accepted.content
    assert wait_final(client, accepted.json()["id"])["status"] == "filled"
    after = scrape(client)

    def grew(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert grew('tradingsite_orders_total{event="accepted"}') == 1
    assert grew('tradingsite_orders_total{event="filled"}') == 1
    assert grew("tradingsite_order_fill_seconds_count") == 1
    assert grew('tradingsite_order_fill_seconds_bucket{le="+Inf"}') == 1
    assert after["tradingsite_orders_pending"] == 0
    assert 'tradingsite_feed_state{state="none"}' in after  # no feeder in this test: no state yet
    assert "tradingsite_ws_sockets" in after
    # django-prometheus's request metrics
    assert any(name.startswith("django_http_requests_total_by_method") for name in after)

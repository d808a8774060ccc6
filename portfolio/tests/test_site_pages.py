"""The web site in real headless Chromium against a production-mode server (uvicorn, both pools in
one process, real PostgreSQL and Redis, a Celery worker filling the orders), prices published
through the price bus as the feeder publishes them.

The trading journey (log in → live PnL → order from the ticket → close half → history → CSV → report →
log out), every number on the dashboard against the REST API's at the same prices, screenshots of
every page at 1366 and 390 px with no horizontal page scroll, and the live parts' endings: an admin
force-logout, a server restart, one tab too many."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from pricefeed.bus import RedisPriceBus
from pricefeed.domain import Batch, Tick, now_ms
from tradingsite.testing.processes import ONE_POOL, ROOT, Process, procfile_command
from tradingsite.testing.servers import free_port, wait_for_port

pytestmark = pytest.mark.integration

SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "site-pages-123"
SEED = """
import json
from decimal import Decimal
from django.utils import timezone
from accounts.models import User
from portfolio.models import Account, Position
from pricefeed.models import Symbol

for name, tick, step in (("AAAUSDT", "0.01", "0.001"), ("BBBUSDT", "0.0001", "0.01"), ("CCCUSDT", "0.01", "0.001")):
    Symbol.objects.create(symbol=name, base_asset=name[:-4], quote_asset="USDT", tick_size=Decimal(tick),
                          step_size=Decimal(step), min_qty=Decimal(step), min_notional=Decimal("1"))
user = User.objects.create_user(username="trader", password="{password}")
User.objects.create_superuser(username="boss", password="{password}")
Account.objects.create(user=user, cash=Decimal("100000"), quote_asset="USDT")
Position.objects.create(user=user, symbol_id="AAAUSDT", quantity=Decimal("2"), cost_basis=Decimal("200"),
                        avg_entry_price=Decimal("100"), opened_at=timezone.now())
Position.objects.create(user=user, symbol_id="CCCUSDT", quantity=Decimal("-1.5"), cost_basis=Decimal("-75"),
                        avg_entry_price=Decimal("50"), opened_at=timezone.now())
print(json.dumps({"user": user.pk}))
""".replace("{password}", PASSWORD)


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Site:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: Process | None = None
        self.worker: Process | None = None
        self.prices = {"AAAUSDT": Decimal("110.5"), "BBBUSDT": Decimal("2.3456"), "CCCUSDT": Decimal("48.25")}

    def start(self) -> None:
        self.server = Process(ONE_POOL, env={**self.env, "PORT": str(self.port)})
        wait_for_port(self.port, 60, self.server.proc)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def start_worker(self) -> None:
        self.worker = Process(procfile_command("worker"), env={**self.env, "WORKER_CONCURRENCY": "1"})
        self.worker.wait_for_line("ready.", 60)

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def publish(self, **prices: str) -> None:
        """One batch through the price bus, as the feeder sends it (and the price store orders use)."""
        for symbol, price in prices.items():
            self.prices[symbol] = Decimal(price)
        at = now_ms()
        ticks = tuple(Tick(s, p, at, at) for s, p in self.prices.items())
        batch = Batch("simulated", at, ticks)
        # In a thread of its own: Playwright's sync API keeps an event loop on this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, RedisPriceBus(self.env["REDIS_URL"], 60).publish(batch)).result()


@pytest.fixture
def site(production_env):
    env = {**production_env, "LOG_LEVEL": "WARNING", "WS_MAX_CONNECTIONS_PER_USER": "2"}
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "shell", "-c", SEED)
    manage(env, "collectstatic", "--noinput", "-v", "0")  # the Procfile's release step
    site = Site(env)
    site.publish()
    site.start()
    site.start_worker()
    yield site
    site.stop_worker()
    site.stop()


# --- what the page should show: the API's decimal strings, rounded as static/site/app.js rounds ----


def shown(value: str | None, places: int) -> str:
    if value is None:
        return "—"
    fixed = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if fixed == 0:
        fixed = abs(fixed)
    text = f"{abs(fixed):,.{places}f}"
    return ("−" if fixed < 0 else "") + text


def shown_signed(value: str | None, places: int, suffix: str = "") -> str:
    text = shown(value, places)
    if text == "—":
        return text
    if not text.startswith("−") and Decimal(value or 0).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP) != 0:
        text = "+" + text
    return text + suffix


# What sticks out past the window (for the message when a page scrolls sideways).
WIDER_THAN = """(vw) => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > vw + 0.5).slice(0, 8)
  .map((e) => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def no_page_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    if width > viewport:
        wide = page.evaluate(WIDER_THAN, viewport)
        raise AssertionError(f"{page.url}: the page is {width} px wide in a {viewport} px window: {wide}")


def accessible(page) -> None:
    """axe-core's rules (WCAG 2 A and AA: contrast, labels, names, landmarks…): nothing moderate or worse."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    serious = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}: {v['nodes'][0]['target']})"
        for v in violations
        if v["impact"] in ("serious", "critical", "moderate")
    ]
    assert not serious, f"{page.url}: " + "; ".join(serious)


def screenshots(page, name: str) -> None:
    accessible(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(150)
        no_page_scroll(page)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def log_in(page, base: str, username: str = "trader") -> None:
    page.goto(base + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


def row(page, symbol: str):
    return page.locator(f'#positions tr[data-symbol="{symbol}"]')


def wait_text(locator, pattern: str, timeout: float = 10_000) -> None:
    locator.filter(has_text=re.compile(pattern)).first.wait_for(timeout=timeout)


def compare_with_rest(page, site: Site) -> None:
    """Every number on the dashboard equals the REST API's, read while prices stand still."""
    positions = page.request.get(site.url + "/api/v1/positions").json()
    account = page.request.get(site.url + "/api/v1/account").json()
    portfolio = page.request.get(site.url + "/api/v1/portfolio").json()
    places = {"AAAUSDT": (2, 3), "BBBUSDT": (4, 2), "CCCUSDT": (2, 3)}
    for p in positions:
        price_places, qty_places = places[p["symbol"]]
        tr = row(page, p["symbol"])
        expected = {
            ".qty": shown(p["quantity"], qty_places),
            ".avg": shown(p["avg_entry_price"], price_places),
            ".price": shown(p["current_price"], price_places),
            ".mv": shown(p["market_value"], 2),
            ".pnl": shown_signed(p["unrealized_pnl"], 2),
            ".pct": shown_signed(p["unrealized_pnl_percent"], 2, "%"),
        }
        for cell, text in expected.items():
            assert tr.locator(cell).inner_text() == text, (p["symbol"], cell)
    expected = {
        "#equity": shown(account["equity"], 2),
        "#cash": shown(account["cash"], 2),
        "#buying-power": shown(account["buying_power"], 2),
        "#realized": shown_signed(account["realized_pnl"], 2),
        "#long-mv": shown(account["long_market_value"], 2),
        "#short-mv": shown(account["short_market_value"], 2),
        "#gross": shown(account["gross_exposure"], 2),
        "#total-pnl": shown_signed(portfolio["total_unrealized_pnl"], 2),
        "#total-pnl-pct": shown_signed(portfolio["total_pnl_percent"], 2, "%"),
    }
    for selector, text in expected.items():
        assert page.locator(selector).inner_text() == text, selector


def test_a_trader_logs_in_trades_closes_half_and_reads_history_csv_and_report(site, chromium):
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(site.url + "/")
    assert "/accounts/login/" in page.url  # nothing shown before logging in
    # Static files under content-hashed names, served as immutable (cache-busting).
    css = page.locator("link[rel=stylesheet]").get_attribute("href") or ""
    assert re.fullmatch(r"/static/site/site\.[0-9a-f]{12}\.css", css), css
    assert "immutable" in page.request.get(site.url + css).headers["cache-control"]
    screenshots(page, "login")
    log_in(page, site.url)

    # The dashboard: positions and account from the snapshot and GET /account.
    wait_text(row(page, "AAAUSDT").locator(".price"), r"^110\.50$")
    wait_text(page.locator("#equity"), r"\d")
    compare_with_rest(page, site)

    # By keyboard: the first Tab is the skip link; the ticket is reached by Tab alone.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "ticket-symbol":
            break
    else:
        raise AssertionError("the order ticket cannot be reached with Tab")

    assert row(page, "CCCUSDT").locator(".side").inner_text() == "Short"

    # A price through the feed moves the PnL cell, without a reload, within a second.
    before = row(page, "AAAUSDT").locator(".pnl").inner_text()
    started = time.monotonic()
    site.publish(AAAUSDT="99.995")
    wait_text(row(page, "AAAUSDT").locator(".pnl"), r"^−0\.01$", timeout=1000)  # 2 × 99.995 − 200, rounded
    assert time.monotonic() - started < 1.0
    assert before != row(page, "AAAUSDT").locator(".pnl").inner_text()
    assert "down" in (row(page, "AAAUSDT").locator(".pnl").get_attribute("class") or "")
    page.wait_for_timeout(400)  # the totals frame and the account line settle on the same prices
    compare_with_rest(page, site)
    screenshots(page, "dashboard")

    # A quantity off the symbol's step is refused with the reason in words, nothing placed.
    page.fill("#ticket-symbol", "BBBUSDT")
    page.fill("#ticket-quantity", "0.505")
    page.click("#ticket-submit")
    wait_text(page.locator("#ticket-message"), r"multiple of 0\.01")
    assert "error" in (page.locator("#ticket-message").get_attribute("class") or "")
    assert page.request.get(site.url + "/api/v1/orders").json()["results"] == []

    # The ticket: buy 0.5 BBBUSDT; the order shows pending, then filled; the position appears.
    page.fill("#ticket-symbol", "BBBUSDT")
    page.fill("#ticket-quantity", "0.5")
    wait_text(page.locator("#est-price"), r"^2\.3456$")
    assert page.locator("#est-value").inner_text() == "1.17"  # 0.5 × 2.3456 = 1.1728
    page.click("#ticket-submit")
    wait_text(page.locator("#orders li").first, r"filled", timeout=15_000)
    assert "pending" in page.locator("#ticket-message").inner_text()
    wait_text(row(page, "BBBUSDT").locator(".qty"), r"^0\.50$")

    # Close half from the row.
    row(page, "BBBUSDT").locator("button.close").click()
    page.fill("#close-percentage", "50")
    page.click("#close-confirm")
    wait_text(row(page, "BBBUSDT").locator(".qty"), r"^0\.25$", timeout=15_000)
    page.wait_for_timeout(400)
    compare_with_rest(page, site)

    # History: both trades, and the CSV has them.
    page.click("nav >> text=History")
    wait_text(page.locator("#trades tbody tr").first, r"BBBUSDT")
    trade_rows = page.locator("#trades tbody tr")
    assert trade_rows.count() == 2
    assert [trade_rows.nth(i).locator("td").nth(1).inner_text() for i in range(2)] == ["Sell", "Buy"]
    wait_text(page.locator("#orders tbody tr").first, r"filled")
    screenshots(page, "history")
    with page.expect_download() as download:
        page.click("#trades-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted((r["side"], r["quantity"]) for r in rows) == [("buy", "0.5"), ("sell", "0.25")]

    # The realized-gains report of this year shows the closing sell's gain, as the API does.
    page.click("nav >> text=Report")
    year = datetime.now(UTC).year
    report = page.request.get(site.url + f"/api/v1/reports/realized?year={year}&method=fifo").json()
    wait_text(page.locator("#report-rows tbody tr").first, r"BBBUSDT")
    assert page.locator("#t-gain").inner_text() == shown_signed(report["totals"]["gain"], 2)
    screenshots(page, "report")

    page.click("nav >> text=Account")
    screenshots(page, "account")
    page.click("nav >> text=Log out")
    page.wait_for_url(re.compile(r".*/accounts/login/.*"))
    assert errors == []
    context.close()


def test_the_dashboard_says_signed_out_after_a_force_logout_and_survives_a_restart(site, chromium):
    page = chromium.new_page()
    log_in(page, site.url)
    wait_text(page.locator("#conn"), r"connected|prices")

    # A server restart: the page reconnects by itself and resyncs from the new snapshot.
    site.stop()
    wait_text(page.locator("#conn"), r"reconnecting")
    site.publish(AAAUSDT="120")
    site.start()
    wait_text(row(page, "AAAUSDT").locator(".price"), r"^120\.00$", timeout=15_000)
    site.publish(AAAUSDT="121")
    wait_text(row(page, "AAAUSDT").locator(".price"), r"^121\.00$", timeout=2000)

    # An admin's force-logout: the open dashboard says "signed out" within 2 s.
    started = time.monotonic()
    manage(
        site.env,
        "shell",
        "-c",
        "from accounts.models import User; from accounts.services import users_force_logout; "
        "users_force_logout(users=list(User.objects.filter(username='trader')), "
        "actor=User.objects.get(username='boss'))",
    )
    page.locator("#session-ended").wait_for(state="visible", timeout=2000)
    print(f"signed out shown {time.monotonic() - started:.2f} s after the force-logout command began")
    assert page.locator("#conn").inner_text() == "signed out"
    assert page.locator("#session-ended a").get_attribute("href", timeout=1000).startswith("/accounts/login/")


def test_one_tab_too_many_says_why(site, chromium):
    context = chromium.new_context()
    first = context.new_page()
    log_in(first, site.url)
    wait_text(first.locator("#conn"), r"connected|prices")
    second = context.new_page()
    second.goto(site.url + "/")
    wait_text(second.locator("#conn"), r"connected|prices")
    third = context.new_page()  # WS_MAX_CONNECTIONS_PER_USER is 2 here
    third.goto(site.url + "/")
    third.locator("#too-many").wait_for(state="visible", timeout=5000)
    assert third.locator("#conn").inner_text() == "too many tabs"
    assert "2 tabs" in third.locator("#too-many").inner_text()
    context.close()


def test_pages_refuse_anonymous_visitors(site, chromium):
    page = chromium.new_page()
    for path in ("/", "/history/", "/report/", "/accounts/sessions/"):
        page.goto(site.url + path)
        assert "/accounts/login/" in page.url, path
    assert json.loads(page.request.get(site.url + "/api/v1/positions").text())["error"]["code"] == "not_authenticated"


def test_markets_lists_symbols_and_keeps_a_live_watch_list(site, chromium):
    page = chromium.new_page(viewport={"width": 1366, "height": 900})
    log_in(page, site.url)
    page.click("nav >> text=Markets")
    wait_text(page.locator('#markets tr[data-symbol="BBBUSDT"] .price'), r"^2\.3456$")  # GET /prices
    page.locator('#markets tr[data-symbol="AAAUSDT"] button.star').click()
    wait_text(page.locator('#watchlist tr[data-symbol="AAAUSDT"]'), r"AAAUSDT")
    assert page.request.get(site.url + "/api/v1/watchlist").json() == {"symbols": ["AAAUSDT"]}
    page.wait_for_timeout(300)  # the socket's watch is in
    site.publish(AAAUSDT="131.2")
    wait_text(page.locator('#watchlist tr[data-symbol="AAAUSDT"] .price'), r"^131\.20$", timeout=2000)
    page.fill("#market-search", "CCC")
    assert page.locator("#markets tbody tr").count() == 1
    screenshots(page, "markets")
    page.reload()  # kept by the server, per user
    wait_text(page.locator('#watchlist tr[data-symbol="AAAUSDT"] .price'), r"^131\.20$")
    page.locator('#watchlist tr[data-symbol="AAAUSDT"] button.star').click()
    wait_text(page.locator("#watchlist tbody tr"), r"Nothing watched")
    page.locator('#markets tr[data-symbol="AAAUSDT"] a', has_text="Trade").click()
    page.wait_for_url(re.compile(r".*/\?symbol=AAAUSDT$"))
    wait_text(page.locator("#est-price"), r"^131\.20$")  # the ticket opens on that symbol


def test_an_order_refused_at_its_fill_shows_why_live(site, chromium):
    page = chromium.new_page(viewport={"width": 1366, "height": 900})
    log_in(page, site.url)
    wait_text(page.locator("#equity"), r"\d")
    site.stop_worker()  # accepted now, filled later: meanwhile the account loses its cash
    page.fill("#ticket-symbol", "BBBUSDT")
    page.fill("#ticket-quantity", "100")
    wait_text(page.locator("#est-price"), r"^2\.3456$")
    page.click("#ticket-submit")
    wait_text(page.locator("#orders li").first, r"pending")
    manage(site.env, "shell", "-c", "from portfolio.models import Account; Account.objects.update(cash=0)")
    site.start_worker()
    order = page.locator("#orders li").first
    wait_text(order, r"rejected", timeout=20_000)
    assert "Not enough buying power for this order." in order.inner_text()


def test_close_all_asks_first_then_closes_every_position(site, chromium):
    page = chromium.new_page(viewport={"width": 1366, "height": 900})
    log_in(page, site.url)
    wait_text(row(page, "AAAUSDT").locator(".price"), r"\d")
    asked: list[str] = []

    def answer(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.click("#close-all")  # dismissed: nothing happens
    page.wait_for_timeout(500)
    assert page.request.get(site.url + "/api/v1/orders").json()["results"] == []
    page.click("#close-all")  # accepted
    wait_text(page.locator("#positions tbody tr"), r"No open positions", timeout=20_000)
    assert asked == ["Close all 2 open positions at market?"] * 2
    statuses = {o["symbol"]: o["status"] for o in page.request.get(site.url + "/api/v1/orders").json()["results"]}
    assert statuses == {"AAAUSDT": "filled", "CCCUSDT": "filled"}

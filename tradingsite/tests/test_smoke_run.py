"""The README's run command, for real: a clean copy of the repository, `make run` in a subprocess
(fresh virtualenv, install, migrate, demo data, server), then headless Chromium logs in with the
printed credentials and watches the PnL on the page change."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tradingsite.testing.browser import CHROMIUM_FLAGS, chromium_path
from tradingsite.testing.processes import ROOT, VENV_BIN, Process, base_env
from tradingsite.testing.servers import free_port

pytestmark = pytest.mark.integration

STARTUP_LIMIT_S = 240  # acceptance: "within ~2 minutes"; generous here for a cold pip cache


def clean_copy(target: Path) -> Path:
    """What a clone would hold: tracked files plus new files not ignored (the change under test)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture
def demo_site(tmp_path):
    checkout = clean_copy(tmp_path / "clone")
    port = free_port()
    path_without_venv = ":".join(p for p in base_env()["PATH"].split(":") if p != VENV_BIN)
    started = time.monotonic()
    site = Process(["make", "run", f"PORT={port}"], cwd=checkout, env=base_env(PATH=path_without_venv))
    try:
        banner = site.wait_for_line("tradingsite is running at", STARTUP_LIMIT_S)
        login = site.wait_for_line("Log in as:", 5)
        url_match = re.search(r"(http://\S+)", banner)
        login_match = re.search(r"Log in as: (\S+) / (\S+)", login)
        assert url_match, site.output
        assert login_match, site.output
        url, (username, password) = url_match.group(1), login_match.groups()
        print(f"make run: URL printed after {time.monotonic() - started:.1f}s")
        yield {"url": url, "username": username, "password": password, "process": site}
    finally:
        site.stop()


def test_make_run_serves_a_live_portfolio_to_a_browser(demo_site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(demo_site["url"])
        assert "/accounts/login/" in page.url  # nothing is shown before authentication
        page.fill("input[name=username]", demo_site["username"])
        page.fill("input[name=password]", demo_site["password"])
        page.click("button[type=submit]")
        page.wait_for_selector("#positions tbody tr[data-symbol]")
        page.wait_for_function("document.querySelectorAll('#positions tbody tr[data-symbol]').length === 6")
        assert "SIMULATED PRICES" in page.inner_text("#feed-banner")

        samples = sample_pnl(page, seconds=5.0, every=0.1)
        browser.close()

    changes_per_second = [0] * 5
    for (_, total0, _), (t1, total1, _) in itertools.pairwise(samples):
        if total1 != total0:
            changes_per_second[min(int(t1), 4)] += 1
    assert all(changes_per_second), f"PnL changes in each second: {changes_per_second}"
    for _, total, rows in samples:
        assert total == sum(rows, Decimal(0)), "the total shown must equal the sum of the rows shown"
    print(f"total PnL changes per second on the page: {changes_per_second}")


def sample_pnl(page, seconds: float, every: float) -> list[tuple[float, Decimal, list[Decimal]]]:
    """(elapsed, total unrealized PnL, per-row unrealized PnL), read in one go from the live DOM."""
    read = """() => [document.getElementById('total-pnl').dataset.raw,
                     [...document.querySelectorAll('#positions td.pnl')].map(td => td.dataset.raw)]"""
    samples = []
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        total, rows = page.evaluate(read)
        samples.append((elapsed, Decimal(total), [Decimal(r) for r in rows]))
        time.sleep(every)
    return samples

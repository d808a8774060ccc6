"""Real headless Chromium (Debian's package) for page tests, driven by Playwright."""

from __future__ import annotations

import shutil

import pytest

# Without the background-networking flags Chromium keeps dialling Google on a machine with no route out.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is needed for page tests: apt-get install -y chromium (.ci/run does this)")
    return path

"""One registry of error codes: everything raised is registered, and the README lists exactly it."""

import re
from pathlib import Path

import pytest

from tradingsite.lib.errors import HTTP_CODES, REJECT_REASONS, SOCKET_CODES, ApplicationError, codes_markdown

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
APP_CODE = [p for app in ("accounts", "portfolio", "pricefeed", "tradingsite") for p in (ROOT / app).rglob("*.py")]


def _literal_codes(pattern: str) -> set[str]:
    found: set[str] = set()
    for path in APP_CODE:
        if "tests" not in path.parts:
            found |= set(re.findall(pattern, path.read_text()))
    return found


def test_every_code_the_code_raises_is_registered():
    raised = _literal_codes(r'(?:ApplicationError|RuleViolation)\(\s*"(\w+)"')
    assert raised
    assert raised <= HTTP_CODES.keys()
    assert _literal_codes(r'send_error\(\s*"(\w+)"') <= SOCKET_CODES.keys()
    with pytest.raises(ValueError, match="unregistered"):
        ApplicationError("made_up", "no")


def test_the_status_comes_from_the_registry_alone():
    assert ApplicationError("price_stale", "x").http_status == 422
    assert ApplicationError("position_not_found", "x").http_status == 404
    assert not _literal_codes(r"(http_status\s*=)"), "services name a code, never a status"


def test_reject_reasons_are_registered_refusals_or_expiry():
    assert REJECT_REASONS.keys() - {"order_expired"} <= HTTP_CODES.keys()


def test_the_readme_lists_exactly_the_registry():
    readme = (ROOT / "README.md").read_text()
    assert codes_markdown() in readme, "regenerate with: python -m tradingsite.lib.errors"

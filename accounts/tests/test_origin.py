import pytest

from accounts.ws import origin_allowed


@pytest.mark.parametrize(
    ("origin", "via", "allowed"),
    [
        ("https://example.com", "cookie", True),
        ("https://example.com:8443", "cookie", True),
        ("http://example.com", "cookie", True),
        ("https://app.trading.example.net", "cookie", True),  # ".trading.example.net" allows subdomains
        ("https://trading.example.net", "cookie", True),
        ("https://evil-example.com", "cookie", False),
        ("https://example.com.evil.net", "cookie", False),
        ("https://notexample.com", "cookie", False),
        ("https://sub.example.com", "cookie", False),  # "example.com" is exact
        ("https://evil-trading.example.net", "cookie", False),
        ("null", "cookie", False),
        ("null", "bearer", False),
        ("file://", "cookie", False),
        ("ftp://example.com", "cookie", False),
        ("example.com", "cookie", False),
        ("", "cookie", False),
        (None, "cookie", False),  # a browser always sends Origin: a cookie without one is suspect
        (None, None, False),
        (None, "bearer", True),  # scripts and apps send no Origin and hold no cookie to abuse
    ],
)
def test_only_exact_hosts_or_declared_subdomains_pass(settings, origin, via, allowed):
    settings.ALLOWED_HOSTS = ["example.com", ".trading.example.net"]
    assert origin_allowed(origin, via) is allowed

"""The client's IP address, trusting exactly `TRUSTED_PROXY_COUNT` reverse proxies.

Each trusted proxy appends the address it received the request from to `X-Forwarded-For`, so the
client is the N-th entry from the right; anything further left was written by the client and is
ignored. With no trusted proxy the header is ignored entirely.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from django.conf import settings


def client_ip(meta: Mapping[str, str], trusted_proxies: int | None = None) -> str:
    proxies = settings.TRUSTED_PROXY_COUNT if trusted_proxies is None else trusted_proxies
    remote = meta.get("REMOTE_ADDR", "") or ""
    if proxies <= 0:
        return remote
    hops = [h.strip() for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if len(hops) < proxies:
        return remote  # fewer hops than proxies: the chain is not what we were told; trust the socket
    candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote

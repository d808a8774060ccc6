"""uvicorn's httptools protocol with the bounds a server facing clients needs (and uvicorn lacks).

uvicorn waits for a request as long as its client likes: a connection that never sends a byte, or
sends its headers one byte every few seconds (slowloris), or a body that never ends, each holds a
connection, a file descriptor and some memory until the open-file limit stops the server (measured:
200 such connections held for as long as they liked). Here, as nginx does in front of the apps:

- `WEB_HEADER_TIMEOUT_SECONDS` (10): a request's headers must arrive within this time of its first
  byte (of the connection, for the first request); else `408 request_timeout` and the connection
  closes. An idle keep-alive connection is uvicorn's own `timeout_keep_alive` (75 s).
- `WEB_BODY_TIMEOUT_SECONDS` (10): at most this long between two reads of a body (so a body of the
  1 MB limit needs ~100 KB/s at worst), and the whole body within six times it; else 408 (when no
  answer has started) and the connection closes. Time the server itself stops reading (flow
  control) does not count.
- `WEB_MAX_CONNECTIONS_PER_ADDRESS` (100, 0 = no cap): more connections from one client address,
  HTTP and WebSocket together, are answered `429 too_many_connections` and closed. Behind a proxy
  (`TRUSTED_PROXY_COUNT` > 0) every connection comes from the proxy: the cap is the proxy's
  (nginx's `limit_conn`, deploy/nginx/) and off here.

Settings are read from the environment when this module is imported, in each server process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections import Counter
from decimal import Decimal
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tradingsite.lib.env import env_decimal, env_int

logger = logging.getLogger("tradingsite.httpserver")

HEADER_TIMEOUT = float(env_decimal("WEB_HEADER_TIMEOUT_SECONDS", "10", minimum=Decimal("0.1")))
BODY_TIMEOUT = float(env_decimal("WEB_BODY_TIMEOUT_SECONDS", "10", minimum=Decimal("0.1")))
BODY_TOTAL_FACTOR = 6
# The kernel's send buffer of each connection (tradingsite/serve.py says why it is small). TCP
# connections inherit it from the listener; Unix-socket ones (serve.py --uds) get it here.
SEND_BUFFER = env_int("WEB_SEND_BUFFER_BYTES", 65536, minimum=4096)
MAX_PER_ADDRESS = 0 if env_int("TRUSTED_PROXY_COUNT", 0) else env_int("WEB_MAX_CONNECTIONS_PER_ADDRESS", 100, minimum=0)


class AddressCount:
    """Open connections per client address in this process, HTTP and WebSocket alike."""

    def __init__(self) -> None:
        self.open: Counter[str] = Counter()
        self.refused = 0

    def admit(self, address: str | None, *, force: bool = False) -> bool:
        if address is None:
            return True
        if not force and MAX_PER_ADDRESS and self.open[address] >= MAX_PER_ADDRESS:
            self.refused += 1
            # under a flood, folded to a line per 30 s by the logging config (lib/logs.RepeatFilter)
            logger.warning("refusing connections from %s: %d open (cap %d); %d refused so far",
                           address, self.open[address], MAX_PER_ADDRESS, self.refused)  # fmt: skip
            return False
        self.open[address] += 1
        return True

    def release(self, address: str | None) -> None:
        if address is None or address not in self.open:
            return
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


addresses = AddressCount()


def error_response(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedHttpProtocol(HttpToolsProtocol):
    address: str | None = None
    counted = False
    deadline: asyncio.TimerHandle | None = None
    body_started = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family == socket.AF_UNIX:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self.address = self.client[0] if self.client else None
        if not addresses.admit(self.address):
            message = f"at most {MAX_PER_ADDRESS} connections per client address"
            transport.write(error_response(429, "Too Many Requests", "too_many_connections", message))
            transport.close()
            return
        self.counted = True
        self._arm(HEADER_TIMEOUT, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.counted:
            self.counted = False
            addresses.release(self.address)
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes the transport and counts the connection again (without the
        # cap: it was admitted) until the socket ends.
        self._disarm()
        if self.counted:
            self.counted = False
            addresses.release(self.address)
        super().handle_websocket_upgrade()

    # --- the request's clock ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.deadline is None:
            self._arm(HEADER_TIMEOUT, "headers")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if not self.transport.is_closing() and not self.parser.should_upgrade():
            self.body_started = time.monotonic()
            self._arm(BODY_TIMEOUT, "body")

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm(self._body_window(), "body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _body_window(self) -> float:
        left = self.body_started + BODY_TIMEOUT * BODY_TOTAL_FACTOR - time.monotonic()
        return max(0.0, min(BODY_TIMEOUT, left))

    def _arm(self, seconds: float, part: str) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(seconds, self._timed_out, part)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _timed_out(self, part: str) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        if part == "body" and self.flow.read_paused:
            self._arm(BODY_TIMEOUT, part)  # we stopped reading, not the client: its clock waits
            return
        cycle: Any = self.cycle
        if part == "headers" and cycle is not None and not cycle.response_complete:
            # A pipelined request's headers while the previous answer still streams: that answer
            # is not cut; the clock is looked at again once it is done.
            self._arm(HEADER_TIMEOUT, part)
            return
        if part == "headers" or cycle is None or not cycle.response_started:
            seconds = HEADER_TIMEOUT if part == "headers" else BODY_TIMEOUT
            message = f"the request's {part} did not arrive in time ({seconds:g} s)"
            self.transport.write(error_response(408, "Request Timeout", "request_timeout", message))
        if cycle is not None and part == "body":
            cycle.keep_alive = False
        self.transport.close()

"""uvicorn's sans-I/O WebSocket protocol with a direct send path for the live push.

ASGI sends a WebSocket message as a dict through an awaited `send`: per frame, a coroutine, a dict,
the protocol's state machine and a copy of the payload. For the live push — thousands of small,
per-socket frames per second, built in one synchronous fan-out pass — that is most of the cost.
This protocol adds an ASGI extension, `scope["extensions"]["tradingsite.push"]`: an object whose
`write(payload)` frames pre-encoded UTF-8 JSON as one unmasked text frame and hands it to the
transport, whose `write_frame(frame)` hands over a frame built whole (header included: the live
push's C book writes it so), and whose `writable()` says whether the connection is draining. Everything else (the
handshake, client messages, close, pings) is uvicorn's own. Consumers fall back to ASGI `send` where
the extension is absent (daphne, test communicators).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from tradingsite.httpserver import addresses
from tradingsite.lib.wsframes import text_frame_header

# A socket with more than this waiting in user space is not draining: its next pnl frame waits
# (conflated) until the kernel takes what is queued. The kernel's own buffer is kept small too
# (tradingsite/serve.py, WEB_SEND_BUFFER_BYTES).
SEND_SLACK_BYTES = 16 * 1024


class PushOutlet:
    __slots__ = ("protocol",)

    def __init__(self, protocol: PushWebSocketProtocol):
        self.protocol = protocol

    def writable(self) -> bool:
        protocol = self.protocol
        if protocol.close_sent or protocol.disconnected:
            return False
        return bool(protocol.transport.get_write_buffer_size() <= SEND_SLACK_BYTES)

    def write(self, payload: bytes) -> None:
        self.write_frame(text_frame_header(len(payload)) + payload)

    def write_frame(self, frame: bytes) -> None:
        """A whole text frame, header included (the live push's pnl frames come built so)."""
        protocol = self.protocol
        if protocol.close_sent or protocol.disconnected or protocol.transport.is_closing():
            return
        protocol.transport.write(frame)


class PushWebSocketProtocol(WebSocketsSansIOProtocol):
    address: str | None = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The ASGI task has been created, not started: the scope can still be extended.
        scope: Any = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            scope["extensions"]["tradingsite.push"] = PushOutlet(self)

    def send_receive_event_to_app(self) -> None:
        # A text message that is not UTF-8 closes with 1007 as uvicorn does, without the traceback
        # uvicorn logs for it (one per hostile message, in a log operators read).
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                self.conn.send_close(1007, "text message is not UTF-8")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # Upgraded from tradingsite.httpserver's protocol, which counted the connection against its
        # address's cap and handed the count over; released when the socket ends.
        self.address = self.client[0] if self.client else None
        addresses.admit(self.address, force=True)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.address is not None:
            addresses.release(self.address)
            self.address = None
        super().connection_lost(exc)

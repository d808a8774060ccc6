"""The header of a WebSocket frame as a server writes it (RFC 6455 §5.2): for frames the live push
builds whole and hands to the transport itself (tradingsite/wsserver.py, portfolio/live.py)."""

from __future__ import annotations

import struct


def text_frame_header(length: int) -> bytes:
    """FIN + text opcode, then the payload length as RFC 6455 encodes it (no mask: server side)."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)

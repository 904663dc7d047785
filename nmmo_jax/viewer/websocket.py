"""The server side of RFC 6455 WebSockets, on asyncio streams: the handshake and framing, nothing more.

Written here (about a hundred lines) rather than adding a dependency: the
viewer only pushes JSON text frames to a page on localhost and reads the
page's close and ping frames, so it needs the opening handshake (section 4.2),
frame encoding (5.2) with client masking (5.3), fragmentation (5.4) and the
control frames close/ping/pong (5.5).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 1 << 20  # the page sends tiny control messages; anything bigger is refused


class WebSocketError(Exception):
    """A protocol violation by the peer; the connection is closed."""


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def handshake_problem(headers: dict) -> str | None:
    """Why a request is not a valid WebSocket opening handshake (None: it is). Header names lower-case."""
    if headers.get("upgrade", "").lower() != "websocket":
        return "missing 'Upgrade: websocket'"
    if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
        return "missing 'Connection: Upgrade'"
    if headers.get("sec-websocket-version") != "13":
        return "Sec-WebSocket-Version must be 13"
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return "Sec-WebSocket-Key must be 16 base64-encoded bytes"
    except ValueError:
        return "Sec-WebSocket-Key is not base64"
    return None


def handshake_response(headers: dict) -> bytes:
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(headers['sec-websocket-key'])}\r\n\r\n").encode("ascii")


def encode_frame(payload: bytes, opcode: int = OP_TEXT, mask: bytes | None = None) -> bytes:
    """One final frame. Servers send unmasked frames; ``mask`` (4 bytes) is for clients (tests)."""
    n = len(payload)
    head = bytearray([0x80 | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 1 << 16:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if mask:
        head += mask
        payload = _unmask(payload, mask)
    return bytes(head) + payload


def _unmask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return data
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


async def read_frame(reader: asyncio.StreamReader, require_mask: bool = True) -> tuple[bool, int, bytes]:
    """(fin, opcode, unmasked payload) of the next frame."""
    b0, b1 = await reader.readexactly(2)
    if b0 & 0x70:
        raise WebSocketError("reserved bits set (no extension was negotiated)")
    fin, opcode = bool(b0 & 0x80), b0 & 0x0F
    masked, n = bool(b1 & 0x80), b1 & 0x7F
    if require_mask and not masked:
        raise WebSocketError("client frames must be masked")
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    if opcode >= 0x8 and (n > 125 or not fin):
        raise WebSocketError("control frames must be final and at most 125 bytes")
    if n > MAX_MESSAGE:
        raise WebSocketError(f"frame of {n} bytes exceeds {MAX_MESSAGE}")
    mask = await reader.readexactly(4) if masked else None
    payload = await reader.readexactly(n)
    return fin, opcode, _unmask(payload, mask) if mask else payload


async def read_message(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       require_mask: bool = True) -> tuple[int, bytes] | None:
    """The next data message (opcode, payload), answering pings on the way; None once the peer closes."""
    parts, first = [], None
    while True:
        fin, opcode, payload = await read_frame(reader, require_mask)
        if opcode == OP_CLOSE:
            try:
                writer.write(encode_frame(payload[:2], OP_CLOSE))
                await writer.drain()
            except (ConnectionError, RuntimeError):
                pass
            return None
        if opcode == OP_PING:
            writer.write(encode_frame(payload, OP_PONG))
            await writer.drain()
            continue
        if opcode == OP_PONG:
            continue
        if opcode == OP_CONT:
            if first is None:
                raise WebSocketError("continuation frame without a message to continue")
        elif opcode in (OP_TEXT, OP_BINARY):
            if first is not None:
                raise WebSocketError("new message before the last one finished")
            first = opcode
        else:
            raise WebSocketError(f"unknown opcode {opcode:#x}")
        parts.append(payload)
        if sum(map(len, parts)) > MAX_MESSAGE:
            raise WebSocketError("message too large")
        if fin:
            return first, b"".join(parts)

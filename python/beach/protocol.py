"""The actor protocol's framing: a 4-byte big-endian length, then one CBOR map (docs/actor-protocol.md)."""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any, Dict, List, Optional, Tuple

try:
    import cbor2
except ImportError as e:  # pragma: no cover - depends on the machine
    raise ImportError("beach's Python SDK needs cbor2: run `pip install cbor2` on every node") from e

VERSION = 1
"""The protocol version this SDK speaks."""

SDK = "beach-python/0.1.0"

Frame = Dict[str, Any]


class ProtocolError(Exception):
    """The other side broke the protocol (a bad frame, a frame too large)."""


class FrameBuffer:
    """Bytes in, whole frames out: what both ends of the socket parse with."""

    def __init__(self, max_frame: int = 16 * 1024 * 1024) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> List[Frame]:
        """Adds ``data``; the frames now whole. Raises ``ProtocolError`` on a bad frame."""
        if not self._buf and len(data) > 4:
            # The common case, one whole frame read at once: no copy into the buffer.
            (length,) = struct.unpack_from(">I", data)
            if len(data) == 4 + length and 0 < length <= self.max_frame:
                return [self._decode(memoryview(data)[4:])]
        self._buf += data
        frames: List[Frame] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 4:
            (length,) = struct.unpack_from(">I", buf, pos)
            if length > self.max_frame:
                raise ProtocolError(f"frame of {length} bytes exceeds the maximum of {self.max_frame} bytes")
            if length == 0:
                raise ProtocolError("empty frame")
            if len(buf) - pos - 4 < length:
                break
            body = bytes(buf[pos + 4: pos + 4 + length])
            pos += 4 + length
            frames.append(self._decode(body))
        if pos:
            del buf[:pos]
        return frames

    @staticmethod
    def _decode(body: Any) -> Frame:
        try:
            frame = cbor2.loads(body)
        except Exception as e:
            raise ProtocolError(f"malformed frame: {e}") from e
        if not isinstance(frame, dict) or not isinstance(frame.get("t"), str):
            raise ProtocolError(f"a frame must be a map with a text key t, not {frame!r:.80}")
        return frame

    def take_rest(self) -> bytes:
        """The bytes of an incomplete frame, handed to whoever reads on."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest


def encode(frame: Frame, max_frame: int = 16 * 1024 * 1024) -> bytes:
    """One frame's bytes: the length prefix and the CBOR map."""
    body = cbor2.dumps(frame)
    if len(body) > max_frame:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds the maximum of {max_frame} bytes")
    return struct.pack(">I", len(body)) + body


class Connection:
    """A blocking socket carrying frames: ``send`` from any thread, ``recv`` from one reader.
    The host uses it for the handshake, tests and simple programs for everything."""

    def __init__(self, sock: socket.socket, max_frame: int = 16 * 1024 * 1024) -> None:
        self.sock = sock
        self.frames = FrameBuffer(max_frame)
        self._send_lock = threading.Lock()
        self._queue: List[Frame] = []

    @property
    def max_frame(self) -> int:
        return self.frames.max_frame

    @max_frame.setter
    def max_frame(self, value: int) -> None:
        self.frames.max_frame = value

    def send(self, frame: Frame) -> None:
        """Sends one frame; raises ``OSError`` when the socket is gone."""
        data = encode(frame, self.max_frame)
        with self._send_lock:
            self.sock.sendall(data)

    def recv_many(self) -> Optional[List[Frame]]:
        """The frames that arrived, at least one; ``None`` when the socket ended."""
        if self._queue:
            frames, self._queue = self._queue, []
            return frames
        while True:
            chunk = self.sock.recv(256 * 1024)
            if not chunk:
                if len(self.frames):
                    raise ProtocolError("the socket closed in the middle of a frame")
                return None
            frames = self.frames.feed(chunk)
            if frames:
                return frames

    def recv(self) -> Optional[Frame]:
        """One frame (the next of those that arrived); ``None`` when the socket ended."""
        frames = self.recv_many()
        if frames is None:
            return None
        self._queue = frames[1:] + self._queue
        return frames[0]

    def take_pending(self) -> Tuple[List[Frame], bytes]:
        """What was read but not returned yet: whole frames, and the start of the next."""
        frames, self._queue = self._queue, []
        return frames, self.frames.take_rest()

"""Sans-IO splitting of a byte stream into length-prefixed frames.

Kafka and ZooKeeper both frame every message as a 4-byte big-endian signed
length followed by that many bytes. ``FrameBuffer`` is fed whatever the socket
produced and hands back whole frame payloads. A length larger than
``max_frame_size`` (or negative) raises before a single payload byte is
buffered, so a peer cannot make us allocate an absurd frame.
"""

from __future__ import annotations

from wire.errors import FrameTooLargeError, MalformedError, TruncatedError
from wire.primitives import INT32

DEFAULT_MAX_FRAME_SIZE = 100 * 1024 * 1024  # Kafka's socket.request.max.bytes


class FrameBuffer:
    """Accumulates stream bytes and yields complete frames in order.

    ``feed(b"")`` marks end of input; after that ``next_frame()`` raises
    ``TruncatedError`` if a partial frame is left (the peer hung up mid-frame).
    """

    __slots__ = ("_buf", "_start", "max_frame_size", "_eof", "_pending")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 0:
            raise ValueError("max_frame_size must not be negative")
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._start = 0
        self._eof = False
        self._pending = -1  # announced size of the frame being collected, -1 if no header read yet

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            self._eof = True
            return
        if self._eof:
            raise RuntimeError("data fed after end of input")
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf) - self._start

    @property
    def at_eof(self) -> bool:
        return self._eof

    def next_frame(self) -> bytes | None:
        """The next whole frame's payload, or None if more data is needed."""
        buf = self._buf
        start = self._start
        size = self._pending
        if size < 0:
            if len(buf) - start < 4:
                self._check_eof()
                return None
            (size,) = INT32.unpack_from(buf, start)
            if size < 0:
                raise MalformedError(f"negative frame length {size}")
            if size > self.max_frame_size:
                raise FrameTooLargeError(size, self.max_frame_size)
            start += 4
            self._start = start
            self._pending = size
        end = start + size
        if len(buf) < end:
            self._check_eof()
            return None
        with memoryview(buf) as view:  # one copy (slicing the bytearray first would make two)
            frame = view[start:end].tobytes()
        self._pending = -1
        if end == len(buf):
            buf.clear()
            self._start = 0
        elif end > 65536 and end * 2 > len(buf):
            del buf[:end]
            self._start = 0
        else:
            self._start = end
        return frame

    def peek_complete(self, extra: bytes | bytearray, prefix: int) -> list[bytes]:
        """The first ``prefix`` bytes of every frame that would be complete after feeding ``extra``, without
        consuming anything (for a shell that looks at what it is about to handle, e.g. to inject latency by
        request kind). It copies the buffered bytes, so it is not for the hot path. A bad length ends the
        list: ``next_frame`` reports it."""
        data = bytes(self._buf[self._start:]) + bytes(extra)
        size, pos = self._pending, 0
        out: list[bytes] = []
        while True:
            if size < 0:
                if len(data) - pos < 4:
                    return out
                (size,) = INT32.unpack_from(data, pos)
                if size < 0 or size > self.max_frame_size:
                    return out
                pos += 4
            if len(data) - pos < size:
                return out
            out.append(data[pos:pos + min(prefix, size)])
            pos += size
            size = -1

    def _check_eof(self) -> None:
        if self._eof and (self.buffered or self._pending >= 0):
            raise TruncatedError("connection closed in the middle of a frame")


def frame(payload: bytes | bytearray | memoryview) -> bytes:
    """Prefix a payload with its 4-byte length."""
    return INT32.pack(len(payload)) + bytes(payload)

"""Bounds-checked primitive readers and writers shared by every codec in ``wire``.

Readers take ``(buf, pos)`` and return ``(value, new_pos)``; they raise only
``DecodeError`` subclasses. ``buf`` may be ``bytes``, ``bytearray`` or
``memoryview``. Writers append to a ``bytearray``. Fixed-width integers are
read through the precompiled ``struct.Struct`` objects below; callers on a hot
path use them inline and turn ``struct.error`` into ``TruncatedError`` once, at
their top level (see ``decoding_errors``).

Length-prefixed values come in the families the two protocols use:

* ``string16`` / ``bytes32``: Kafka's classic string (int16 length) and bytes
  (int32 length); -1 is null.
* ``string32``: jute's ustring (int32 length); -1 is null. Jute buffers are
  ``bytes32``.
* ``compact_*``: Kafka's flexible-version forms, an unsigned varint of length+1,
  where 0 is null.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from wire.errors import EncodeError, MalformedError, TruncatedError

Buffer = bytes | bytearray | memoryview

INT8 = struct.Struct(">b")
UINT8 = struct.Struct(">B")
INT16 = struct.Struct(">h")
UINT16 = struct.Struct(">H")
INT32 = struct.Struct(">i")
UINT32 = struct.Struct(">I")
INT64 = struct.Struct(">q")
FLOAT64 = struct.Struct(">d")
BOOL = struct.Struct(">?")
UUID = struct.Struct(">16s")

ZERO_UUID = uuid.UUID(int=0)


@contextmanager
def decoding_errors(what: str) -> Iterator[None]:
    """Translate the low-level exceptions a decoder can hit into DecodeErrors.

    ``struct.error`` only arises from reading past the end of the buffer, and
    ``UnicodeDecodeError`` from invalid UTF-8; everything else propagates.
    """
    try:
        yield
    except struct.error as exc:
        raise TruncatedError(f"{what}: input ended early ({exc})") from None
    except UnicodeDecodeError as exc:
        raise MalformedError(f"{what}: invalid UTF-8 ({exc.reason})") from None


@contextmanager
def encoding_errors(what: str) -> Iterator[None]:
    """Translate ``struct.error`` (a value out of range) into EncodeError."""
    try:
        yield
    except struct.error as exc:
        raise EncodeError(f"{what}: {exc}") from None


def read_bool(buf: Buffer, pos: int) -> tuple[bool, int]:
    """Kafka and jute booleans: one byte, non-zero is true (as Java reads them)."""
    if pos >= len(buf):
        raise TruncatedError("boolean: input ended early")
    return buf[pos] != 0, pos + 1


# --- varints -----------------------------------------------------------------

def read_uvarint(buf: Buffer, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 varint of at most 5 bytes (32 bits), as Kafka writes them."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise TruncatedError("varint: input ended early")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if shift == 28 and b > 0x0F:
                raise MalformedError("varint: value does not fit in 32 bits")
            return result, pos
        shift += 7
        if shift > 28:
            raise MalformedError("varint: more than 5 bytes")


def read_uvarlong(buf: Buffer, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 varint of at most 10 bytes (64 bits)."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise TruncatedError("varlong: input ended early")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if shift == 63 and b > 0x01:
                raise MalformedError("varlong: value does not fit in 64 bits")
            return result, pos
        shift += 7
        if shift > 63:
            raise MalformedError("varlong: more than 10 bytes")


def read_varint(buf: Buffer, pos: int) -> tuple[int, int]:
    """A zigzag-encoded signed 32-bit varint (record fields)."""
    raw, pos = read_uvarint(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def read_varlong(buf: Buffer, pos: int) -> tuple[int, int]:
    """A zigzag-encoded signed 64-bit varint (record timestamp/offset deltas)."""
    raw, pos = read_uvarlong(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def write_uvarint(out: bytearray, value: int) -> None:
    if value < 0 or value > 0xFFFFFFFF:
        raise EncodeError(f"unsigned varint out of range: {value}")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def write_uvarlong(out: bytearray, value: int) -> None:
    if value < 0 or value > 0xFFFFFFFFFFFFFFFF:
        raise EncodeError(f"unsigned varlong out of range: {value}")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def write_varint(out: bytearray, value: int) -> None:
    if not -0x80000000 <= value <= 0x7FFFFFFF:
        raise EncodeError(f"varint out of range: {value}")
    write_uvarint(out, ((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def write_varlong(out: bytearray, value: int) -> None:
    if not -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
        raise EncodeError(f"varlong out of range: {value}")
    write_uvarlong(out, ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


def uvarint_size(value: int) -> int:
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


# --- length-prefixed values ---------------------------------------------------

def _take(buf: Buffer, pos: int, length: int, what: str) -> tuple[bytes, int]:
    end = pos + length
    if end > len(buf):
        raise TruncatedError(f"{what}: {length} bytes announced, {len(buf) - pos} left")
    return bytes(buf[pos:end]), end


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"{what}: invalid UTF-8 ({exc.reason})") from None


def _length(raw: int, nullable: bool, what: str) -> int | None:
    if raw < 0:
        if raw == -1 and nullable:
            return None
        if raw == -1:
            raise MalformedError(f"{what}: null where the field is not nullable")
        raise MalformedError(f"{what}: negative length {raw}")
    return raw


def read_string16(buf: Buffer, pos: int, nullable: bool = False) -> tuple[str | None, int]:
    (raw,) = INT16.unpack_from(buf, pos)
    n = _length(raw, nullable, "string")
    if n is None:
        return None, pos + 2
    data, pos = _take(buf, pos + 2, n, "string")
    return _text(data, "string"), pos


def read_string32(buf: Buffer, pos: int, nullable: bool = True) -> tuple[str | None, int]:
    (raw,) = INT32.unpack_from(buf, pos)
    n = _length(raw, nullable, "ustring")
    if n is None:
        return None, pos + 4
    data, pos = _take(buf, pos + 4, n, "ustring")
    return _text(data, "ustring"), pos


def read_bytes32(buf: Buffer, pos: int, nullable: bool = False) -> tuple[bytes | None, int]:
    (raw,) = INT32.unpack_from(buf, pos)
    n = _length(raw, nullable, "bytes")
    if n is None:
        return None, pos + 4
    return _take(buf, pos + 4, n, "bytes")


def read_compact_string(buf: Buffer, pos: int, nullable: bool = False) -> tuple[str | None, int]:
    raw, pos = read_uvarint(buf, pos)
    if raw == 0:
        if nullable:
            return None, pos
        raise MalformedError("compact string: null where the field is not nullable")
    data, pos = _take(buf, pos, raw - 1, "compact string")
    return _text(data, "compact string"), pos


def read_compact_bytes(buf: Buffer, pos: int, nullable: bool = False) -> tuple[bytes | None, int]:
    raw, pos = read_uvarint(buf, pos)
    if raw == 0:
        if nullable:
            return None, pos
        raise MalformedError("compact bytes: null where the field is not nullable")
    return _take(buf, pos, raw - 1, "compact bytes")


def read_array_count(buf: Buffer, pos: int, nullable: bool = False) -> tuple[int | None, int]:
    """A classic int32 array count, checked against the bytes left (no allocation bombs)."""
    (raw,) = INT32.unpack_from(buf, pos)
    n = _length(raw, nullable, "array")
    pos += 4
    if n is not None and n > len(buf) - pos:
        raise MalformedError(f"array: {n} elements announced, only {len(buf) - pos} bytes left")
    return n, pos


def read_compact_array_count(buf: Buffer, pos: int, nullable: bool = False) -> tuple[int | None, int]:
    raw, pos = read_uvarint(buf, pos)
    if raw == 0:
        if nullable:
            return None, pos
        raise MalformedError("compact array: null where the field is not nullable")
    n = raw - 1
    if n > len(buf) - pos:
        raise MalformedError(f"compact array: {n} elements announced, only {len(buf) - pos} bytes left")
    return n, pos


_ZERO16 = bytes(16)


def read_uuid(buf: Buffer, pos: int) -> tuple[uuid.UUID, int]:
    (raw,) = UUID.unpack_from(buf, pos)
    if raw == _ZERO16:
        return ZERO_UUID, pos + 16  # the common "no topic id" case, without building a UUID
    return uuid.UUID(bytes=raw), pos + 16


def _utf8(value: str, what: str) -> bytes:
    if not isinstance(value, str):
        raise EncodeError(f"{what}: expected str, got {type(value).__name__}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise EncodeError(f"{what}: not encodable as UTF-8 ({exc.reason})") from None


def _blob(value: Any, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError(f"{what}: expected bytes, got {type(value).__name__}")
    return bytes(value)


def write_string16(out: bytearray, value: str | None, nullable: bool = False) -> None:
    if value is None:
        if not nullable:
            raise EncodeError("string: None for a non-nullable field")
        out += b"\xff\xff"
        return
    data = _utf8(value, "string")
    if len(data) > 0x7FFF:
        raise EncodeError(f"string: {len(data)} bytes is longer than 32767")
    out += INT16.pack(len(data))
    out += data


def write_string32(out: bytearray, value: str | None, nullable: bool = True) -> None:
    if value is None:
        if not nullable:
            raise EncodeError("ustring: None for a non-nullable field")
        out += b"\xff\xff\xff\xff"
        return
    data = _utf8(value, "ustring")
    out += INT32.pack(len(data))
    out += data


def write_bytes32(out: bytearray, value: bytes | bytearray | memoryview | None, nullable: bool = False) -> None:
    if value is None:
        if not nullable:
            raise EncodeError("bytes: None for a non-nullable field")
        out += b"\xff\xff\xff\xff"
        return
    data = _blob(value, "bytes")
    out += INT32.pack(len(data))
    out += data


def write_compact_string(out: bytearray, value: str | None, nullable: bool = False) -> None:
    if value is None:
        if not nullable:
            raise EncodeError("compact string: None for a non-nullable field")
        out.append(0)
        return
    data = _utf8(value, "compact string")
    if len(data) > 0x7FFF:
        raise EncodeError(f"compact string: {len(data)} bytes is longer than 32767")
    write_uvarint(out, len(data) + 1)
    out += data


def write_compact_bytes(out: bytearray, value: bytes | bytearray | memoryview | None, nullable: bool = False) -> None:
    if value is None:
        if not nullable:
            raise EncodeError("compact bytes: None for a non-nullable field")
        out.append(0)
        return
    data = _blob(value, "compact bytes")
    write_uvarint(out, len(data) + 1)
    out += data


def write_array_count(out: bytearray, items: Any, nullable: bool = False) -> None:
    if items is None:
        if not nullable:
            raise EncodeError("array: None for a non-nullable field")
        out += b"\xff\xff\xff\xff"
        return
    out += INT32.pack(len(items))


def write_compact_array_count(out: bytearray, items: Any, nullable: bool = False) -> None:
    if items is None:
        if not nullable:
            raise EncodeError("compact array: None for a non-nullable field")
        out.append(0)
        return
    write_uvarint(out, len(items) + 1)


def write_uuid(out: bytearray, value: uuid.UUID) -> None:
    if not isinstance(value, uuid.UUID):
        raise EncodeError(f"uuid: expected uuid.UUID, got {type(value).__name__}")
    out += value.bytes


# --- typed variants for generated code (the checker knows which may return None) ---

def read_str16(buf: Buffer, pos: int) -> tuple[str, int]:
    value, pos = read_string16(buf, pos, False)
    assert value is not None
    return value, pos


def read_compact_str(buf: Buffer, pos: int) -> tuple[str, int]:
    value, pos = read_compact_string(buf, pos, False)
    assert value is not None
    return value, pos


def read_str32(buf: Buffer, pos: int) -> tuple[str, int]:
    """A jute ustring that must not be null (an element of a vector of paths)."""
    value, pos = read_string32(buf, pos, False)
    assert value is not None
    return value, pos


def read_blob32(buf: Buffer, pos: int) -> tuple[bytes, int]:
    value, pos = read_bytes32(buf, pos, False)
    assert value is not None
    return value, pos


def read_compact_blob(buf: Buffer, pos: int) -> tuple[bytes, int]:
    value, pos = read_compact_bytes(buf, pos, False)
    assert value is not None
    return value, pos


def read_count(buf: Buffer, pos: int) -> tuple[int, int]:
    value, pos = read_array_count(buf, pos, False)
    assert value is not None
    return value, pos


def read_compact_count(buf: Buffer, pos: int) -> tuple[int, int]:
    value, pos = read_compact_array_count(buf, pos, False)
    assert value is not None
    return value, pos

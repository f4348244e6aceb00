"""Kafka's record compression codecs: gzip, snappy (raw and xerial-framed), LZ4 frame, zstd.

This module owns the bytes inside a compressed RecordBatch (magic 2) or a compressed
wrapper message (magic 0/1): turning them into the uncompressed record bytes and back.
It knows nothing about records.

Wire forms, as real clients send them:

* gzip: a gzip member (RFC 1952). Concatenated members are accepted, as Java's
  ``GZIPInputStream`` does. We use the stdlib ``zlib`` (measured as fast as cramjam's gzip
  for Kafka-sized batches, and it can stop at a maximum output size).
* snappy: either *raw* snappy (librdkafka, kcat, kafkajs) or the *xerial* block framing
  (Java clients, kafka-python, aiokafka): magic ``82 53 4E 41 50 50 59 00``, int32 version,
  int32 compatible version, then blocks of int32 length + raw snappy. Detected on
  decompress from the magic, exactly like xerial's ``SnappyInputStream``.
* lz4: the LZ4 *frame* format. We write what Kafka's Java ``KafkaLZ4BlockOutputStream``
  writes (independent 64 KiB blocks, no checksums, no content size). Magic-0 messages
  carry Kafka's historic wrong header checksum (KAFKA-3160, computed over the magic
  bytes too); ``lz4_broken_header_checksum=True`` writes and accepts that form.
* zstd: a standard zstd frame.

Decompression raises only ``DecodeError`` subclasses on garbage, and never produces more
than ``max_size`` bytes (decompression-bomb guard): for snappy the size is known up
front, for gzip zlib stops at the limit, for LZ4 and zstd the frame's block headers give
an upper bound before any work is done (a frame whose bound exceeds the limit is then
decompressed into a buffer of exactly the limit, which fails if the data needs more).
"""

from __future__ import annotations

import struct
import zlib
from enum import IntEnum
from typing import Any, Protocol

import cramjam

from wire.errors import DecodeError, EncodeError, MalformedError, TruncatedError
from wire.primitives import Buffer, read_uvarint

__all__ = [
    "CompressionType",
    "DecompressionLimitError",
    "DEFAULT_MAX_DECOMPRESSED_SIZE",
    "XERIAL_MAGIC",
    "compress",
    "decompress",
    "gzip_compress",
    "gzip_decompress",
    "snappy_compress",
    "snappy_decompress",
    "is_xerial_snappy",
    "lz4_compress",
    "lz4_decompress",
    "zstd_compress",
    "zstd_decompress",
    "xxh32",
]

#: Default cap on the output of one decompression (one batch or one wrapper message).
DEFAULT_MAX_DECOMPRESSED_SIZE = 64 * 1024 * 1024

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024  # xerial's default block size (uncompressed bytes per block)

_INT32 = struct.Struct(">i")
_LE32 = struct.Struct("<I")
_LE64 = struct.Struct("<Q")

_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_LZ4_BLOCK = 64 * 1024
_LZ4_BLOCK_MAX = {4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024}
_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_BLOCK_MAX = 128 * 1024


class CompressionType(IntEnum):
    """The codec id in attribute bits 0-2 (RecordBatch and legacy messages alike)."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4

    @classmethod
    def from_name(cls, name: str) -> CompressionType:
        """Parse a Kafka ``compression.type`` value (``none``, ``gzip``, ...)."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown compression type {name!r}") from None


class DecompressionLimitError(MalformedError):
    """The data would decompress to more than the configured maximum size."""

    def __init__(self, codec: str, maximum: int) -> None:
        super().__init__(f"{codec}: decompressed data exceeds the maximum of {maximum} bytes")
        self.maximum = maximum


# --- xxHash32 (for the LZ4 frame header checksum only: a few bytes) -------------

_P1, _P2, _P3, _P4, _P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
_M32 = 0xFFFFFFFF


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def xxh32(data: Buffer, seed: int = 0) -> int:
    """xxHash32 of ``data``: pure Python, meant for the short LZ4 frame descriptor."""
    data = bytes(data)
    n = len(data)
    pos = 0
    if n >= 16:
        v1 = (seed + _P1 + _P2) & _M32
        v2 = (seed + _P2) & _M32
        v3 = seed & _M32
        v4 = (seed - _P1) & _M32
        limit = n - 16
        while pos <= limit:
            a, b, c, d = struct.unpack_from("<4I", data, pos)
            v1 = (_rotl((v1 + a * _P2) & _M32, 13) * _P1) & _M32
            v2 = (_rotl((v2 + b * _P2) & _M32, 13) * _P1) & _M32
            v3 = (_rotl((v3 + c * _P2) & _M32, 13) * _P1) & _M32
            v4 = (_rotl((v4 + d * _P2) & _M32, 13) * _P1) & _M32
            pos += 16
        acc = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M32
    else:
        acc = (seed + _P5) & _M32
    acc = (acc + n) & _M32
    while pos + 4 <= n:
        (lane,) = _LE32.unpack_from(data, pos)
        acc = (_rotl((acc + lane * _P3) & _M32, 17) * _P4) & _M32
        pos += 4
    while pos < n:
        acc = (_rotl((acc + data[pos] * _P5) & _M32, 11) * _P1) & _M32
        pos += 1
    acc ^= acc >> 15
    acc = (acc * _P2) & _M32
    acc ^= acc >> 13
    acc = (acc * _P3) & _M32
    acc ^= acc >> 16
    return acc


# --- gzip --------------------------------------------------------------------


def gzip_compress(data: Buffer, level: int | None = None) -> bytes:
    """One gzip member (mtime 0), default level 6 as Kafka's Java producer."""
    comp = zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def gzip_decompress(data: Buffer, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE) -> bytes:
    remaining = bytes(data)
    parts: list[bytes] = []
    total = 0
    while True:
        if remaining[:2] != b"\x1f\x8b":
            if not remaining:
                raise TruncatedError("gzip: empty input")
            raise MalformedError("gzip: not a gzip member (bad magic)")
        d = zlib.decompressobj(31)
        try:
            chunk = d.decompress(remaining, max_size + 1 - total)
        except zlib.error as exc:
            raise MalformedError(f"gzip: {exc}") from None
        total += len(chunk)
        if total > max_size:
            raise DecompressionLimitError("gzip", max_size)
        parts.append(chunk)
        if not d.eof:
            raise TruncatedError("gzip: compressed stream ended early")
        remaining = d.unused_data
        if not remaining:
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


# --- snappy ------------------------------------------------------------------


def is_xerial_snappy(data: Buffer) -> bool:
    """True if ``data`` starts with the xerial block-framing magic."""
    return bytes(data[:8]) == XERIAL_MAGIC


def _snappy_raw_decompress(block: Buffer, budget: int, max_size: int) -> bytes:
    size, _ = read_uvarint(block, 0)  # the raw format's preamble: the uncompressed length
    if size > budget:
        raise DecompressionLimitError("snappy", max_size)
    try:
        return bytes(cramjam.snappy.decompress_raw(block))
    except cramjam.DecompressionError as exc:
        raise MalformedError(f"snappy: {exc}") from None


def snappy_compress(data: Buffer, xerial: bool = True) -> bytes:
    """Snappy: xerial-framed (as the Java producer writes it) or raw (as librdkafka does)."""
    if not xerial:
        return bytes(cramjam.snappy.compress_raw(data))
    view = memoryview(data)
    out = bytearray(_XERIAL_HEADER)
    for start in range(0, len(view), _XERIAL_BLOCK):
        block = bytes(cramjam.snappy.compress_raw(view[start:start + _XERIAL_BLOCK]))
        out += _INT32.pack(len(block))
        out += block
    return bytes(out)


def snappy_decompress(data: Buffer, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE) -> bytes:
    """Either wire form; xerial framing is recognised by its magic."""
    if not is_xerial_snappy(data):
        return _snappy_raw_decompress(data, max_size, max_size)
    view = memoryview(data)
    n = len(view)
    if n < 16:
        raise TruncatedError("snappy (xerial): header ended early")
    pos = 16
    parts: list[bytes] = []
    total = 0
    while pos < n:
        if pos + 4 > n:
            raise TruncatedError("snappy (xerial): block length ended early")
        (length,) = _INT32.unpack_from(view, pos)
        pos += 4
        if length < 0:
            raise MalformedError(f"snappy (xerial): negative block length {length}")
        if pos + length > n:
            raise TruncatedError(f"snappy (xerial): block of {length} bytes, {n - pos} left")
        part = _snappy_raw_decompress(view[pos:pos + length], max_size - total, max_size)
        total += len(part)
        parts.append(part)
        pos += length
    return b"".join(parts)


# --- lz4 ---------------------------------------------------------------------


def _lz4_header_checksum(descriptor: bytes) -> int:
    return (xxh32(descriptor) >> 8) & 0xFF


def lz4_compress(data: Buffer, broken_header_checksum: bool = False) -> bytes:
    """An LZ4 frame as Kafka's Java producer writes it: independent 64 KiB blocks, no checksums.

    ``broken_header_checksum`` writes the magic-0 form, whose header checksum also covers
    the four magic bytes (Kafka before 0.10, KAFKA-3160).
    """
    descriptor = b"\x60\x40"  # FLG: version 01, independent blocks; BD: 64 KiB blocks
    hc = _lz4_header_checksum(_LZ4_MAGIC + descriptor if broken_header_checksum else descriptor)
    out = bytearray(_LZ4_MAGIC)
    out += descriptor
    out.append(hc)
    view = memoryview(data)
    for start in range(0, len(view), _LZ4_BLOCK):
        chunk = view[start:start + _LZ4_BLOCK]
        block = bytes(cramjam.lz4.compress_block(chunk, store_size=False))
        if len(block) >= len(chunk):
            out += _LE32.pack(len(chunk) | 0x80000000)
            out += chunk
        else:
            out += _LE32.pack(len(block))
            out += block
    out += b"\x00\x00\x00\x00"  # EndMark
    return bytes(out)


def _lz4_bound(view: memoryview, fix_header_checksum: bool) -> tuple[int, bytes | None]:
    """Walk the frame(s): an upper bound of the output size, and a patched copy if needed."""
    n = len(view)
    pos = 0
    bound = 0
    patched: bytearray | None = None
    if n == 0:
        raise TruncatedError("lz4: empty input")
    while pos < n:
        if pos + 4 > n:
            raise TruncatedError("lz4: frame magic ended early")
        (magic,) = _LE32.unpack_from(view, pos)
        if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame
            if pos + 8 > n:
                raise TruncatedError("lz4: skippable frame ended early")
            (size,) = _LE32.unpack_from(view, pos + 4)
            pos += 8 + size
            if pos > n:
                raise TruncatedError("lz4: skippable frame ended early")
            continue
        if magic != 0x184D2204:
            raise MalformedError(f"lz4: not an LZ4 frame (magic {magic:#010x})")
        if pos + 7 > n:
            raise TruncatedError("lz4: frame header ended early")
        flg = view[pos + 4]
        bd = view[pos + 5]
        if flg >> 6 != 1 or flg & 0x02 or bd & 0x8F:
            raise MalformedError(f"lz4: unsupported frame descriptor FLG={flg:#04x} BD={bd:#04x}")
        block_max = _LZ4_BLOCK_MAX.get((bd >> 4) & 0x07)
        if block_max is None:
            raise MalformedError(f"lz4: invalid block maximum size id in BD={bd:#04x}")
        block_checksum = bool(flg & 0x10)
        header_len = 7 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0)
        if pos + header_len > n:
            raise TruncatedError("lz4: frame header ended early")
        if fix_header_checksum:
            descriptor = bytes(view[pos + 4:pos + header_len - 1])
            hc = _lz4_header_checksum(descriptor)
            if view[pos + header_len - 1] != hc:
                if patched is None:
                    patched = bytearray(view)
                patched[pos + header_len - 1] = hc
        pos += header_len
        while True:
            if pos + 4 > n:
                raise TruncatedError("lz4: block header ended early")
            (word,) = _LE32.unpack_from(view, pos)
            pos += 4
            if word == 0:
                break
            size = word & 0x7FFFFFFF
            if size > block_max:
                raise MalformedError(f"lz4: block of {size} bytes exceeds the frame's {block_max}")
            bound += size if word & 0x80000000 else block_max
            pos += size + (4 if block_checksum else 0)
            if pos > n:
                raise TruncatedError("lz4: block ended early")
        if flg & 0x04:
            pos += 4
            if pos > n:
                raise TruncatedError("lz4: content checksum ended early")
    return bound, (bytes(patched) if patched is not None else None)


class _Cramjam(Protocol):
    def decompress(self, data: Buffer) -> Any: ...
    def decompress_into(self, data: Buffer, output: bytearray) -> int: ...


def _bounded(name: str, codec: _Cramjam, data: Buffer, bound: int, max_size: int) -> bytes:
    """Run a cramjam decompressor; when the bound exceeds the limit, into a limit-sized buffer."""
    try:
        if bound <= max_size:
            return bytes(codec.decompress(data))
        out = bytearray(max_size)
        try:
            written = codec.decompress_into(data, out)
        except cramjam.DecompressionError as exc:
            if "whole buffer" in str(exc):
                raise DecompressionLimitError(name, max_size) from None
            raise
        del out[written:]
        return bytes(out)
    except cramjam.DecompressionError as exc:
        raise MalformedError(f"{name}: {exc}") from None


def lz4_decompress(
    data: Buffer, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE, ignore_header_checksum: bool = False
) -> bytes:
    """An LZ4 frame. ``ignore_header_checksum`` accepts magic-0's wrong header checksum."""
    view = memoryview(data)
    bound, patched = _lz4_bound(view, ignore_header_checksum)
    return _bounded("lz4", cramjam.lz4, patched if patched is not None else view, bound, max_size)


# --- zstd --------------------------------------------------------------------


def zstd_compress(data: Buffer, level: int | None = None) -> bytes:
    """A zstd frame, default level 3 as Kafka's Java producer."""
    return bytes(cramjam.zstd.compress(data, level=3 if level is None else level))


def _zstd_bound(view: memoryview) -> int:
    n = len(view)
    pos = 0
    bound = 0
    if n == 0:
        raise TruncatedError("zstd: empty input")
    while pos < n:
        if pos + 4 > n:
            raise TruncatedError("zstd: frame magic ended early")
        (magic,) = _LE32.unpack_from(view, pos)
        if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame
            if pos + 8 > n:
                raise TruncatedError("zstd: skippable frame ended early")
            (size,) = _LE32.unpack_from(view, pos + 4)
            pos += 8 + size
            if pos > n:
                raise TruncatedError("zstd: skippable frame ended early")
            continue
        if magic != _ZSTD_MAGIC:
            raise MalformedError(f"zstd: not a zstd frame (magic {magic:#010x})")
        if pos + 5 > n:
            raise TruncatedError("zstd: frame header ended early")
        fhd = view[pos + 4]
        if fhd & 0x08:
            raise MalformedError("zstd: reserved bit set in the frame header")
        single_segment = bool(fhd & 0x20)
        fcs_size = (1 if single_segment else 0, 2, 4, 8)[fhd >> 6]
        header_len = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[fhd & 0x03] + fcs_size
        pos += header_len
        while True:
            if pos + 3 > n:
                raise TruncatedError("zstd: block header ended early")
            word = view[pos] | (view[pos + 1] << 8) | (view[pos + 2] << 16)
            pos += 3
            block_type = (word >> 1) & 0x03
            size = word >> 3
            if block_type == 0:  # raw
                bound += size
                pos += size
            elif block_type == 1:  # RLE: one byte repeated `size` times
                bound += size
                pos += 1
            elif block_type == 2:  # compressed
                bound += _ZSTD_BLOCK_MAX
                pos += size
            else:
                raise MalformedError("zstd: reserved block type")
            if pos > n:
                raise TruncatedError("zstd: block ended early")
            if word & 1:
                break
        if fhd & 0x04:
            pos += 4
            if pos > n:
                raise TruncatedError("zstd: content checksum ended early")
    return bound


def zstd_decompress(data: Buffer, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE) -> bytes:
    view = memoryview(data)
    return _bounded("zstd", cramjam.zstd, view, _zstd_bound(view), max_size)


# --- dispatch ----------------------------------------------------------------


def compress(
    codec: CompressionType | int,
    data: Buffer,
    *,
    level: int | None = None,
    snappy_xerial: bool = True,
    lz4_broken_header_checksum: bool = False,
) -> bytes:
    """Compress ``data`` with ``codec``. NONE returns the bytes unchanged."""
    if codec == CompressionType.NONE:
        return bytes(data)
    if codec == CompressionType.GZIP:
        return gzip_compress(data, level)
    if codec == CompressionType.SNAPPY:
        return snappy_compress(data, snappy_xerial)
    if codec == CompressionType.LZ4:
        return lz4_compress(data, lz4_broken_header_checksum)
    if codec == CompressionType.ZSTD:
        return zstd_compress(data, level)
    raise EncodeError(f"unknown compression codec {codec}")


def decompress(
    codec: CompressionType | int,
    data: Buffer,
    *,
    max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
    lz4_ignore_header_checksum: bool = False,
) -> bytes:
    """Decompress ``data``; raises only ``DecodeError`` subclasses.

    An unknown codec id (5-7) raises ``MalformedError``: the codec bits come from the peer.
    """
    try:
        if codec == CompressionType.GZIP:
            return gzip_decompress(data, max_size)
        if codec == CompressionType.SNAPPY:
            return snappy_decompress(data, max_size)
        if codec == CompressionType.LZ4:
            return lz4_decompress(data, max_size, lz4_ignore_header_checksum)
        if codec == CompressionType.ZSTD:
            return zstd_decompress(data, max_size)
        if codec == CompressionType.NONE:
            if len(data) > max_size:
                raise DecompressionLimitError("none", max_size)
            return bytes(data)
    except DecodeError:
        raise
    except (ValueError, TypeError, OverflowError, struct.error) as exc:
        raise MalformedError(f"{CompressionType(codec).name.lower()}: {exc}") from None
    raise MalformedError(f"unknown compression codec {codec}")

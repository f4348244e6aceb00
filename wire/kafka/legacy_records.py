"""Legacy Kafka message sets (magic 0 and 1) and conversion to and from RecordBatch v2.

This module owns the pre-0.11 record format, still sent by Produce v0-2 and expected by
Fetch v0-3, and the conversions a broker needs: up-converting a legacy message set to a
v2 batch on produce, and down-converting v2 batches to magic 0/1 for old fetchers. It
also offers :func:`read_records`, a reader for ``records`` blobs that may mix formats.

Layout (big-endian), one entry per message::

    offset int64 | messageSize int32 | crc uint32 (CRC-32 of magic..end) | magic int8 |
    attributes int8 | [timestamp int64, magic 1 only] | key bytes32 | value bytes32

    attributes: bits 0-2 compression (gzip 1, snappy 2, lz4 3; zstd is v2-only),
                bit 3 timestampType (magic 1).

A compressed message is a *wrapper* whose value is a compressed message set. In magic 1
the inner offsets are relative (0..n-1) and the wrapper carries the absolute offset of
the last inner message; in magic 0 the inner offsets are absolute. A magic-1 wrapper with
LogAppendTime imposes its timestamp on the inner messages; with CreateTime its timestamp
is the largest inner one. Magic-0 LZ4 uses Kafka's historic wrong frame header checksum.
Records down-converted to magic 0/1 lose their headers, as in Kafka.

Errors follow ``records``: ``TruncatedError`` for a blob that ends early, otherwise
``CorruptRecordError`` (checksum, sizes, nested compression, ...).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import NamedTuple

from wire.errors import CorruptRecordError, DecodeError, EncodeError, UnsupportedVersionError
from wire.kafka.compression import (
    DEFAULT_MAX_DECOMPRESSED_SIZE,
    CompressionType,
    DecompressionLimitError,
    compress,
    decompress,
)
from wire.kafka.records import (
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    NO_TIMESTAMP,
    BatchBuilder,
    Record,
    RecordBatch,
    TimestampType,
    entry_magic,
    split_entries,
)
from wire.primitives import INT32, Buffer

__all__ = [
    "LegacyMessage",
    "LegacyRecord",
    "RECORD_OVERHEAD_V0",
    "RECORD_OVERHEAD_V1",
    "encode_message",
    "build_message_set",
    "read_message_set",
    "read_records",
    "up_convert",
    "down_convert",
]

_HEADER_V0 = struct.Struct(">qiIbb")  # offset, size, crc, magic, attributes: 18 bytes
_HEADER_V1 = struct.Struct(">qiIbbq")  # ... timestamp: 26 bytes
_UINT32 = struct.Struct(">I")
#: Smallest messageSize of each magic (crc, magic, attributes, [timestamp], key and value lengths).
RECORD_OVERHEAD_V0 = 14
RECORD_OVERHEAD_V1 = 22
_CODEC_MASK = 0x07
_TIMESTAMP_TYPE_MASK = 0x08


class LegacyRecord(NamedTuple):
    """A decoded magic 0/1 record (inner records of wrappers flattened, offsets absolute)."""

    offset: int
    timestamp: int  # NO_TIMESTAMP (-1) for magic 0
    key: bytes | None
    value: bytes | None
    magic: int = 1
    timestamp_type: TimestampType = TimestampType.CREATE_TIME

    def to_record(self) -> Record:
        return Record(self.offset, self.timestamp, self.key, self.value)


class LegacyMessage:
    """One message entry (possibly a compressed wrapper), parsed shallowly."""

    __slots__ = ("buffer", "offset", "crc", "magic", "attributes", "timestamp", "key", "value")

    buffer: memoryview
    offset: int
    crc: int
    magic: int
    attributes: int
    timestamp: int
    key: bytes | None
    value: memoryview | None

    def __init__(self, entry: Buffer) -> None:
        view = memoryview(entry)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        n = len(view)
        if n < LOG_OVERHEAD + RECORD_OVERHEAD_V0:
            raise CorruptRecordError(f"message: {n} bytes is shorter than the smallest message")
        magic = entry_magic(view)
        if magic == 0:
            self.offset, size, self.crc, _, attributes = _HEADER_V0.unpack_from(view, 0)
            self.timestamp = NO_TIMESTAMP
            pos = _HEADER_V0.size
        elif magic == 1:
            if n < LOG_OVERHEAD + RECORD_OVERHEAD_V1:
                raise CorruptRecordError(f"message: {n} bytes is shorter than the smallest magic-1 message")
            self.offset, size, self.crc, _, attributes, self.timestamp = _HEADER_V1.unpack_from(view, 0)
            pos = _HEADER_V1.size
        else:
            raise UnsupportedVersionError(f"message: magic {magic} is not a legacy message")
        if size + LOG_OVERHEAD != n:
            raise CorruptRecordError(f"message: size {size} does not match the {n} bytes given")
        self.magic = magic
        self.attributes = attributes & 0xFF
        self.buffer = view
        (klen,) = INT32.unpack_from(view, pos)
        pos += 4
        if klen < -1 or pos + max(klen, 0) + 4 > n:
            raise CorruptRecordError(f"message: invalid key length {klen}")
        self.key = None if klen < 0 else view[pos:pos + klen].tobytes()
        pos += max(klen, 0)
        (vlen,) = INT32.unpack_from(view, pos)
        pos += 4
        if vlen < -1 or pos + max(vlen, 0) != n:
            raise CorruptRecordError(f"message: invalid value length {vlen}")
        self.value = None if vlen < 0 else view[pos:pos + vlen]

    def __repr__(self) -> str:
        return (
            f"LegacyMessage(offset={self.offset}, magic={self.magic}, attributes={self.attributes}, "
            f"timestamp={self.timestamp}, size={len(self.buffer)})"
        )

    @property
    def compression(self) -> int:
        return self.attributes & _CODEC_MASK

    @property
    def timestamp_type(self) -> TimestampType:
        if self.magic == 0:
            return TimestampType.NO_TIMESTAMP_TYPE
        return TimestampType.LOG_APPEND_TIME if self.attributes & _TIMESTAMP_TYPE_MASK else TimestampType.CREATE_TIME

    def compute_crc(self) -> int:
        return zlib.crc32(self.buffer[MAGIC_OFFSET:])

    def crc_ok(self) -> bool:
        return self.compute_crc() == self.crc

    def validate(self) -> None:
        """The CRC and the codec id; raises ``CorruptRecordError``."""
        actual = self.compute_crc()
        if actual != self.crc:
            raise CorruptRecordError(f"message at offset {self.offset}: CRC {self.crc:#010x}, computed {actual:#010x}")
        if self.compression > CompressionType.LZ4:
            raise CorruptRecordError(f"message at offset {self.offset}: compression codec {self.compression} "
                                     f"is not valid for magic {self.magic}")

    def inner_messages(self, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE) -> list[LegacyMessage]:
        """The messages inside a compressed wrapper (their offsets as written, unvalidated)."""
        if self.value is None:
            raise CorruptRecordError(f"message at offset {self.offset}: compressed wrapper with a null value")
        try:
            data = decompress(self.compression, self.value, max_size=max_size,
                              lz4_ignore_header_checksum=self.magic == 0)
            inner = [LegacyMessage(e) for e in split_entries(data)]
        except (CorruptRecordError, DecompressionLimitError):
            raise
        except DecodeError as exc:
            raise CorruptRecordError(f"message at offset {self.offset}: {exc}") from None
        return inner

    def records(self, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE, verify_crc: bool = True) -> list[LegacyRecord]:
        """The record(s) this entry holds: itself, or its inner messages with absolute offsets."""
        if verify_crc:
            self.validate()
        elif self.compression > CompressionType.LZ4:
            raise CorruptRecordError(f"message at offset {self.offset}: invalid compression codec {self.compression}")
        ts_type = self.timestamp_type
        if not self.compression:
            value = None if self.value is None else self.value.tobytes()
            return [LegacyRecord(self.offset, self.timestamp, self.key, value, self.magic, ts_type)]
        inner = self.inner_messages(max_size)
        base = self.offset - inner[-1].offset if inner and self.magic > 0 else -1
        out: list[LegacyRecord] = []
        for msg in inner:
            if verify_crc:
                msg.validate()
            if msg.compression:
                raise CorruptRecordError(f"message at offset {self.offset}: nested compression")
            if msg.magic != self.magic:
                raise CorruptRecordError(f"message at offset {self.offset}: inner magic {msg.magic} "
                                         f"does not match wrapper magic {self.magic}")
            inner_type: TimestampType = msg.timestamp_type
            timestamp = msg.timestamp
            if ts_type == TimestampType.LOG_APPEND_TIME:
                timestamp, inner_type = self.timestamp, ts_type
            value = None if msg.value is None else msg.value.tobytes()
            offset = base + msg.offset if base >= 0 else msg.offset
            out.append(LegacyRecord(offset, timestamp, msg.key, value, self.magic, inner_type))
        return out


def read_message_set(
    buf: Buffer,
    *,
    allow_truncated_tail: bool = False,
    max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
    verify_crc: bool = True,
) -> list[LegacyRecord]:
    """Every record of a magic 0/1 message set, wrappers decompressed and flattened."""
    out: list[LegacyRecord] = []
    for entry in split_entries(buf, allow_truncated_tail=allow_truncated_tail):
        out.extend(LegacyMessage(entry).records(max_size, verify_crc))
    return out


def read_records(
    buf: Buffer,
    *,
    allow_truncated_tail: bool = False,
    max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
    verify_crc: bool = True,
    include_control: bool = False,
) -> list[Record]:
    """Every record of a ``records`` blob of any magic (what a consumer does with a Fetch).

    Control batches are skipped unless ``include_control``. Legacy records come back with
    no headers and, for magic 0, timestamp -1.
    """
    out: list[Record] = []
    for entry in split_entries(buf, allow_truncated_tail=allow_truncated_tail):
        if entry[MAGIC_OFFSET] == 2:
            batch = RecordBatch(entry)
            if verify_crc:
                batch.validate()
            if batch.header.is_control and not include_control:
                continue
            out.extend(batch.records(max_size))
        else:
            out.extend(r.to_record() for r in LegacyMessage(entry).records(max_size, verify_crc))
    return out


# --- encoding -----------------------------------------------------------------


def encode_message(
    offset: int,
    key: bytes | None,
    value: Buffer | None,
    *,
    magic: int = 1,
    attributes: int = 0,
    timestamp: int = NO_TIMESTAMP,
) -> bytes:
    """One message entry (offset, size, CRC-32 and all)."""
    if magic not in (0, 1):
        raise EncodeError(f"legacy message magic must be 0 or 1, not {magic}")
    out = bytearray(_HEADER_V0.size if magic == 0 else _HEADER_V1.size)
    for part in (key, value):
        if part is None:
            out += b"\xff\xff\xff\xff"
        elif isinstance(part, (bytes, bytearray, memoryview)):
            out += INT32.pack(len(part))
            out += part
        else:
            raise EncodeError(f"expected bytes or None, got {type(part).__name__}")
    try:
        if magic == 0:
            _HEADER_V0.pack_into(out, 0, offset, len(out) - LOG_OVERHEAD, 0, 0, attributes)
        else:
            _HEADER_V1.pack_into(out, 0, offset, len(out) - LOG_OVERHEAD, 0, 1, attributes, timestamp)
    except struct.error as exc:
        raise EncodeError(f"message header: {exc}") from None
    _UINT32.pack_into(out, LOG_OVERHEAD, zlib.crc32(memoryview(out)[MAGIC_OFFSET:]))
    return bytes(out)


def build_message_set(
    records: Iterable[LegacyRecord | Record],
    *,
    magic: int,
    compression: CompressionType | int = CompressionType.NONE,
    timestamp_type: TimestampType | int = TimestampType.CREATE_TIME,
    log_append_time: int | None = None,
    compression_level: int | None = None,
    snappy_xerial: bool = True,
) -> bytes:
    """A magic 0/1 message set holding ``records`` (their offsets and timestamps are kept).

    Uncompressed: one message per record. Compressed: one wrapper message (relative inner
    offsets in magic 1, absolute in magic 0). With ``TimestampType.LOG_APPEND_TIME``
    (magic 1) the messages carry ``log_append_time``.
    """
    if magic not in (0, 1):
        raise EncodeError(f"legacy message magic must be 0 or 1, not {magic}")
    codec = int(compression)
    if not 0 <= codec <= 3:
        raise EncodeError(f"compression codec {codec} is not available for magic {magic}")
    recs = list(records)
    ts_bit = _TIMESTAMP_TYPE_MASK if magic == 1 and timestamp_type == TimestampType.LOG_APPEND_TIME else 0
    if ts_bit and log_append_time is None:
        raise EncodeError("LogAppendTime needs log_append_time")

    def ts(r: LegacyRecord | Record) -> int:
        if magic == 0:
            return NO_TIMESTAMP
        return log_append_time if ts_bit and log_append_time is not None else r.timestamp

    if codec == 0:
        return b"".join(
            encode_message(r.offset, r.key, r.value, magic=magic, attributes=ts_bit, timestamp=ts(r)) for r in recs
        )
    if not recs:
        return b""
    first = recs[0].offset
    inner = b"".join(
        encode_message(r.offset - first if magic == 1 else r.offset, r.key, r.value,
                       magic=magic, attributes=ts_bit, timestamp=ts(r))
        for r in recs
    )
    payload = compress(codec, inner, level=compression_level, snappy_xerial=snappy_xerial,
                       lz4_broken_header_checksum=magic == 0)
    wrapper_ts = NO_TIMESTAMP
    if magic == 1:
        wrapper_ts = log_append_time if ts_bit and log_append_time is not None else max(r.timestamp for r in recs)
    return encode_message(recs[-1].offset, None, payload, magic=magic, attributes=codec | ts_bit, timestamp=wrapper_ts)


# --- conversion -----------------------------------------------------------------


def up_convert(
    message_set: Buffer,
    *,
    compression: CompressionType | int | None = None,
    base_offset: int | None = None,
    timestamp_type: TimestampType | int | None = None,
    max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
) -> bytes:
    """A magic 0/1 message set as one v2 batch (what a broker stores for Produce v0-2).

    ``compression`` None keeps the source codec (the first compressed wrapper's). The
    records keep their offsets, renumbered from ``base_offset`` when it is given. Offsets
    that do not increase (when not renumbered), or timestamps too far apart for a v2
    batch, raise ``CorruptRecordError``. Magic-0
    records get timestamp -1. The batch is CreateTime unless ``timestamp_type`` says
    otherwise or the source carried LogAppendTime. An empty input gives ``b""``.
    """
    entries = [LegacyMessage(e) for e in split_entries(message_set)]
    records: list[LegacyRecord] = []
    source_codec = 0
    for msg in entries:
        if msg.compression and not source_codec:
            source_codec = msg.compression
        records.extend(msg.records(max_size))
    if not records:
        return b""
    codec = source_codec if compression is None else int(compression)
    if timestamp_type is None:
        log_append = any(r.timestamp_type == TimestampType.LOG_APPEND_TIME for r in records)
        timestamp_type = TimestampType.LOG_APPEND_TIME if log_append else TimestampType.CREATE_TIME
    first = records[0].offset if base_offset is None else base_offset
    builder = BatchBuilder(base_offset=first, compression=codec, timestamp_type=timestamp_type)
    try:
        for i, r in enumerate(records):
            offset = first + i if base_offset is not None else r.offset
            builder.append(r.value, r.key, timestamp=r.timestamp, offset=offset)
    except EncodeError as exc:  # offsets or timestamps from the peer that a v2 batch cannot hold
        raise CorruptRecordError(f"message set cannot be up-converted: {exc}") from None
    return builder.build()


def down_convert(
    records: Buffer,
    magic: int,
    *,
    compression: CompressionType | int | None = None,
    allow_truncated_tail: bool = False,
    max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE,
) -> bytes:
    """v2 batches (and legacy entries) as a magic 0/1 message set, for Fetch v0-3.

    Each v2 batch becomes a message set of its own: one wrapper if it is compressed
    (``compression`` None keeps its codec), else one message per record. Control batches
    and empty batches disappear; headers are dropped; LogAppendTime is kept in magic 1.
    Legacy entries at or below ``magic`` pass through unchanged. A zstd batch raises
    ``EncodeError``: a broker answers UNSUPPORTED_COMPRESSION_TYPE before converting.
    """
    if magic not in (0, 1):
        raise EncodeError(f"down-conversion target must be magic 0 or 1, not {magic}")
    out = bytearray()
    for entry in split_entries(records, allow_truncated_tail=allow_truncated_tail):
        entry_m = entry_magic(entry)
        if entry_m == 2:
            batch = RecordBatch(entry)
            h = batch.header
            if h.is_control:
                continue
            codec = h.compression if compression is None else int(compression)
            if codec == CompressionType.ZSTD:
                raise EncodeError("zstd batches cannot be down-converted to magic 0/1")
            recs = batch.records(max_size)
            if not recs:
                continue
            ts_type = h.timestamp_type
            try:
                out += build_message_set(
                    recs, magic=magic, compression=codec, timestamp_type=ts_type,
                    log_append_time=h.max_timestamp if ts_type == TimestampType.LOG_APPEND_TIME else None,
                )
            except EncodeError as exc:  # e.g. a timestamp outside int64 after baseTimestamp + delta
                raise CorruptRecordError(f"batch at offset {h.base_offset} cannot be down-converted: {exc}") from None
        elif entry_m <= magic:
            out += entry
        else:
            msg = LegacyMessage(entry)
            codec = msg.compression if compression is None else int(compression)
            legacy = msg.records(max_size)
            out += build_message_set(legacy, magic=magic, compression=codec)
    return bytes(out)

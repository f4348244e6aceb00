"""Kafka RecordBatch v2 (magic 2): the bytes of a Produce/Fetch ``records`` field.

This module owns the v2 batch format: its 61-byte header, CRC-32C, the zigzag-varint
records inside it, control batches (transaction markers), a builder, and the operations a
broker performs on batches *without* decoding them record by record:

* :func:`split_entries` / :func:`split_batches` cut a ``records`` blob into batches by
  reading only the length fields. A truncated last batch is legal in a Fetch response
  (``allow_truncated_tail=True`` drops it, as clients do); Produce input must be whole.
* :meth:`RecordBatch.validate` checks length, magic, CRC and the record count without
  decompressing; :meth:`RecordBatch.check_client_batch` adds the rules Kafka applies to
  batches coming from a producer (Kafka answers ``INVALID_RECORD`` when they fail).
* :func:`set_base_offset` / :func:`assign_offsets` patch baseOffset and
  partitionLeaderEpoch, which lie before the CRC range, so the CRC stays valid;
  :func:`set_log_append_time` rewrites maxTimestamp and recomputes the CRC.
* :meth:`RecordBatch.records` decompresses (bounded, see ``compression``) and decodes the
  records only when asked.

Layout (big-endian)::

    baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 |
    crc uint32 (CRC-32C of attributes..end) | attributes int16 | lastOffsetDelta int32 |
    baseTimestamp int64 | maxTimestamp int64 | producerId int64 | producerEpoch int16 |
    baseSequence int32 | recordsCount int32 | records...

    attributes: bits 0-2 compression, bit 3 timestampType (1 = LogAppendTime),
                bit 4 isTransactional, bit 5 isControl, bit 6 hasDeleteHorizonMs
                (baseTimestamp then holds the compaction delete horizon).

    Record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
            keyLength varint (-1 = null) | key | valueLength varint | value |
            headerCount varint | [keyLength varint | key (UTF-8, never null) |
                                  valueLength varint (-1 = null) | value]

    Control record: key = version int16 (0) | type int16 (0 abort, 1 commit, ...);
                    transaction-marker value = version int16 (0) | coordinatorEpoch int32.

Header keys are decoded and encoded with ``surrogateescape``, so any bytes survive a
round trip and decoding never fails on invalid UTF-8 (Java replaces such bytes).

Errors: a blob that ends early raises ``TruncatedError``; anything wrong inside a batch
whose length is complete raises ``CorruptRecordError`` (Kafka's ``CORRUPT_MESSAGE``);
a magic other than 2 raises ``UnsupportedVersionError``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator
from enum import IntEnum
from typing import Any, NamedTuple

import crc32c as _crc32c

from wire.errors import (
    CorruptRecordError,
    DecodeError,
    EncodeError,
    TruncatedError,
    UnsupportedVersionError,
)
from wire.kafka.compression import (
    DEFAULT_MAX_DECOMPRESSED_SIZE,
    CompressionType,
    DecompressionLimitError,
    compress,
    decompress,
)
from wire.primitives import INT16, INT32, INT64, Buffer, read_varint, read_varlong, write_varint, write_varlong

__all__ = [
    "MAGIC",
    "HEADER",
    "HEADER_SIZE",
    "LOG_OVERHEAD",
    "MIN_ENTRY_SIZE",
    "NO_PRODUCER_ID",
    "NO_PRODUCER_EPOCH",
    "NO_SEQUENCE",
    "NO_PARTITION_LEADER_EPOCH",
    "NO_TIMESTAMP",
    "CompressionType",
    "TimestampType",
    "ControlRecordType",
    "InvalidRecordError",
    "BatchHeader",
    "Header",
    "Record",
    "RecordBatch",
    "EndTxnMarker",
    "BatchBuilder",
    "build_batch",
    "build_end_txn_marker",
    "crc32c",
    "entry_magic",
    "split_entries",
    "split_batches",
    "set_base_offset",
    "assign_offsets",
    "set_log_append_time",
    "encode_control_key",
    "decode_control_key",
    "encode_end_txn_marker_value",
]

MAGIC = 2
#: The whole v2 header, field by field (see the module docstring).
HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
#: baseOffset + batchLength (offset + size for legacy messages): common to every magic.
LOG_OVERHEAD = 12
#: Smallest legal value of the length field of any entry (a magic-0 message: crc, magic,
#: attributes, key length, value length).
MIN_ENTRY_SIZE = 14

BASE_OFFSET_OFFSET = 0
LENGTH_OFFSET = 8
PARTITION_LEADER_EPOCH_OFFSET = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
LAST_OFFSET_DELTA_OFFSET = 23
BASE_TIMESTAMP_OFFSET = 27
MAX_TIMESTAMP_OFFSET = 35
PRODUCER_ID_OFFSET = 43
RECORDS_COUNT_OFFSET = 57

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20
DELETE_HORIZON_MASK = 0x40

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_PARTITION_LEADER_EPOCH = -1
NO_TIMESTAMP = -1

_MIN_RECORD_SIZE = 7  # length, attributes, timestampDelta, offsetDelta, key, value, headers: 1 byte each
_UINT32 = struct.Struct(">I")
_INT16_INT16 = struct.Struct(">hh")
_INT16_INT32 = struct.Struct(">hi")


def crc32c(data: Buffer) -> int:
    """CRC-32C (Castagnoli), the v2 batch checksum."""
    return _crc32c.crc32c(data)


class TimestampType(IntEnum):
    NO_TIMESTAMP_TYPE = -1  # magic 0 messages
    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


class ControlRecordType(IntEnum):
    """The ``type`` in a control record's key (Kafka's ControlRecordType)."""

    ABORT = 0
    COMMIT = 1
    LEADER_CHANGE = 2  # KRaft
    SNAPSHOT_HEADER = 3
    SNAPSHOT_FOOTER = 4
    KRAFT_VERSION = 5
    KRAFT_VOTERS = 6


class InvalidRecordError(CorruptRecordError):
    """A well-formed batch that breaks the rules for producer batches (Kafka: ``INVALID_RECORD``)."""


Header = tuple[str, bytes | None]


class Record(NamedTuple):
    """One decoded record, with its absolute offset and timestamp."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    attributes: int = 0


class BatchHeader(NamedTuple):
    """The 61-byte v2 header, as it is on the wire."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @classmethod
    def unpack(cls, buf: Buffer, pos: int = 0) -> BatchHeader:
        if len(buf) - pos < HEADER_SIZE:
            raise TruncatedError(f"record batch header: {HEADER_SIZE} bytes needed, {len(buf) - pos} left")
        return cls._make(HEADER.unpack_from(buf, pos))

    def pack(self) -> bytes:
        return HEADER.pack(*self)

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies (batchLength + 12)."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def compression(self) -> int:
        """The codec id (0-4 are defined; 5-7 are invalid, see ``RecordBatch.validate``)."""
        return self.attributes & COMPRESSION_MASK

    @property
    def timestamp_type(self) -> TimestampType:
        return TimestampType.LOG_APPEND_TIME if self.attributes & TIMESTAMP_TYPE_MASK else TimestampType.CREATE_TIME

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)

    @property
    def has_delete_horizon(self) -> bool:
        return bool(self.attributes & DELETE_HORIZON_MASK)

    @property
    def delete_horizon_ms(self) -> int | None:
        return self.base_timestamp if self.attributes & DELETE_HORIZON_MASK else None

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id != NO_PRODUCER_ID

    @property
    def last_sequence(self) -> int:
        """The sequence of the last record (wrapping at 2**31 as Kafka's sequences do)."""
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) % 0x80000000


# --- framing: cutting a records blob into entries ------------------------------


def entry_magic(entry: Buffer) -> int:
    """The magic byte of a batch or legacy message (offset 16 in every format)."""
    if len(entry) <= MAGIC_OFFSET:
        raise TruncatedError("record entry: too short to hold a magic byte")
    magic = entry[MAGIC_OFFSET]
    return magic - 256 if magic > 127 else magic


def split_entries(buf: Buffer, *, allow_truncated_tail: bool = False) -> list[memoryview]:
    """Cut a ``records`` blob into entries (v2 batches or legacy messages) by their length fields.

    Every format starts with int64 offset + int32 size, so only those 12 bytes are read per
    entry. The slices are views into ``buf``. With ``allow_truncated_tail`` an incomplete
    last entry is dropped (a Fetch response may end that way); otherwise it raises
    ``TruncatedError``. A size below the smallest possible entry is ``CorruptRecordError``.
    """
    view = memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    n = len(view)
    pos = 0
    out: list[memoryview] = []
    unpack = INT32.unpack_from
    while pos < n:
        if n - pos < LOG_OVERHEAD:
            if allow_truncated_tail:
                break
            raise TruncatedError(f"records: {n - pos} trailing bytes are not a whole entry header")
        (size,) = unpack(view, pos + LENGTH_OFFSET)
        if size < MIN_ENTRY_SIZE:
            raise CorruptRecordError(f"records: entry size {size} at byte {pos} is below the minimum of {MIN_ENTRY_SIZE}")
        end = pos + LOG_OVERHEAD + size
        if end > n:
            if allow_truncated_tail:
                break
            raise TruncatedError(f"records: entry at byte {pos} announces {size} bytes, {n - pos - LOG_OVERHEAD} left")
        out.append(view[pos:end])
        pos = end
    return out


def split_batches(buf: Buffer, *, allow_truncated_tail: bool = False) -> list[RecordBatch]:
    """Cut a ``records`` blob of v2 batches into :class:`RecordBatch` views (headers only).

    A legacy (magic 0/1) entry raises ``UnsupportedVersionError``; use
    ``legacy_records.read_records`` for blobs that may mix formats.
    """
    return [RecordBatch(entry) for entry in split_entries(buf, allow_truncated_tail=allow_truncated_tail)]


# --- the batch view -------------------------------------------------------------


class RecordBatch:
    """A view on the bytes of one v2 batch. The header is parsed; records only on demand."""

    __slots__ = ("buffer", "header")

    buffer: memoryview
    header: BatchHeader

    def __init__(self, data: Buffer) -> None:
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        if len(view) < HEADER_SIZE:
            if len(view) > MAGIC_OFFSET and view[MAGIC_OFFSET] != MAGIC:
                raise UnsupportedVersionError(f"record batch: magic {entry_magic(view)}, expected 2")
            raise CorruptRecordError(f"record batch: {len(view)} bytes is shorter than the {HEADER_SIZE}-byte header")
        header = BatchHeader._make(HEADER.unpack_from(view, 0))
        if header.magic != MAGIC:
            raise UnsupportedVersionError(f"record batch: magic {header.magic}, expected 2")
        if header.batch_length + LOG_OVERHEAD != len(view):
            raise CorruptRecordError(
                f"record batch: batchLength {header.batch_length} does not match the {len(view)} bytes given"
            )
        self.buffer = view
        self.header = header

    def __repr__(self) -> str:
        h = self.header
        return (
            f"RecordBatch(base_offset={h.base_offset}, records={h.records_count}, size={h.size}, "
            f"compression={CompressionType(h.compression).name if h.compression <= 4 else h.compression}, "
            f"producer_id={h.producer_id}, transactional={h.is_transactional}, control={h.is_control})"
        )

    def __bytes__(self) -> bytes:
        return self.buffer.tobytes()

    def __len__(self) -> int:
        return len(self.buffer)

    # convenience accessors
    @property
    def base_offset(self) -> int:
        return self.header.base_offset

    @property
    def last_offset(self) -> int:
        return self.header.last_offset

    @property
    def next_offset(self) -> int:
        return self.header.next_offset

    @property
    def records_count(self) -> int:
        return self.header.records_count

    @property
    def compression(self) -> int:
        return self.header.compression

    @property
    def is_control(self) -> bool:
        return self.header.is_control

    @property
    def is_transactional(self) -> bool:
        return self.header.is_transactional

    @property
    def payload(self) -> memoryview:
        """The bytes after the header: the records, compressed if the batch is."""
        return self.buffer[HEADER_SIZE:]

    def compute_crc(self) -> int:
        return _crc32c.crc32c(self.buffer[ATTRIBUTES_OFFSET:])

    def crc_ok(self) -> bool:
        return self.compute_crc() == self.header.crc

    def validate(self) -> None:
        """Structural checks that need no decompression; raises ``CorruptRecordError``.

        Length and magic were checked on construction; this adds the CRC, the codec id and
        the record count (never negative, at most lastOffsetDelta + 1, and for an
        uncompressed batch no more than its bytes can hold).
        """
        h = self.header
        actual = _crc32c.crc32c(self.buffer[ATTRIBUTES_OFFSET:])
        if actual != h.crc:
            raise CorruptRecordError(f"record batch at offset {h.base_offset}: CRC {h.crc:#010x}, computed {actual:#010x}")
        codec = h.attributes & COMPRESSION_MASK
        if codec > CompressionType.ZSTD:
            raise CorruptRecordError(f"record batch at offset {h.base_offset}: unknown compression codec {codec}")
        count = h.records_count
        if count < 0:
            raise CorruptRecordError(f"record batch at offset {h.base_offset}: negative record count {count}")
        if h.last_offset_delta < 0:
            raise CorruptRecordError(f"record batch at offset {h.base_offset}: negative lastOffsetDelta {h.last_offset_delta}")
        if count > h.last_offset_delta + 1:
            raise CorruptRecordError(
                f"record batch at offset {h.base_offset}: {count} records do not fit lastOffsetDelta {h.last_offset_delta}"
            )
        if codec == 0 and count * _MIN_RECORD_SIZE > len(self.buffer) - HEADER_SIZE:
            raise CorruptRecordError(
                f"record batch at offset {h.base_offset}: {count} records cannot fit in {len(self.buffer) - HEADER_SIZE} bytes"
            )

    def check_client_batch(self) -> None:
        """Kafka's extra rules for a batch from a producer (LogValidator); raises ``InvalidRecordError``.

        Call after :meth:`validate`. The offsets must be exactly 0..count-1 relative
        (lastOffsetDelta + 1 == recordsCount > 0), no control batch, and a producer id
        implies a sequence.
        """
        h = self.header
        if h.last_offset_delta + 1 <= 0:
            raise InvalidRecordError("batch has an invalid offset range")
        if h.records_count <= 0:
            raise InvalidRecordError(f"invalid reported count for record batch: {h.records_count}")
        if h.last_offset_delta + 1 != h.records_count:
            raise InvalidRecordError(
                f"inconsistent batch offset range [0, {h.last_offset_delta}] and count of records {h.records_count}"
            )
        if h.attributes & CONTROL_MASK:
            raise InvalidRecordError("clients are not allowed to write control records")
        if h.producer_id != NO_PRODUCER_ID and h.base_sequence < 0:
            raise InvalidRecordError(f"invalid sequence number {h.base_sequence} for producer {h.producer_id}")

    def decompressed_payload(self, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE) -> bytes:
        """The uncompressed record bytes (a copy).

        Raises ``CorruptRecordError`` for data that does not decompress, and
        ``DecompressionLimitError`` when it would exceed ``max_size`` bytes.
        """
        codec = self.header.attributes & COMPRESSION_MASK
        payload = self.buffer[HEADER_SIZE:]
        if codec == 0:
            return payload.tobytes()
        try:
            return decompress(codec, payload, max_size=max_size)
        except (CorruptRecordError, DecompressionLimitError):
            raise
        except DecodeError as exc:
            raise CorruptRecordError(f"record batch at offset {self.header.base_offset}: {exc}") from None

    def records(self, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE) -> list[Record]:
        """Decompress if needed and decode every record.

        Raises ``CorruptRecordError`` (or ``DecompressionLimitError``, see
        :meth:`decompressed_payload`).
        """
        h = self.header
        data = self.decompressed_payload(max_size)
        log_append = h.max_timestamp if h.attributes & TIMESTAMP_TYPE_MASK else None
        return _decode_records(data, h.records_count, h.base_offset, h.base_timestamp, log_append)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records())

    def with_base_offset(self, base_offset: int, partition_leader_epoch: int | None = None) -> bytes:
        """A copy of the batch with a new base offset (and leader epoch); the CRC stays valid."""
        out = bytearray(self.buffer)
        set_base_offset(out, base_offset, partition_leader_epoch)
        return bytes(out)

    def control_type(self) -> ControlRecordType | int | None:
        """For a control batch, the type of its (first) control record; else None."""
        if not self.header.attributes & CONTROL_MASK:
            return None
        records = self.records()
        if not records:
            return None
        return decode_control_key(records[0].key)[1]


def _decode_records(
    data: bytes, count: int, base_offset: int, base_timestamp: int, log_append_time: int | None
) -> list[Record]:
    """The record loop (hot path): single-byte varints inline, the rest via primitives."""
    out: list[Record] = []
    append = out.append
    pos = 0
    end = len(data)
    if count * _MIN_RECORD_SIZE > end:
        raise CorruptRecordError(f"record batch: {count} records cannot fit in {end} bytes")
    try:
        for _ in range(count):
            b = data[pos]
            if b < 0x80:
                length = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                length, pos = read_varint(data, pos)
            rec_end = pos + length
            if length < _MIN_RECORD_SIZE - 1 or rec_end > end:
                raise CorruptRecordError(f"record: invalid length {length}")
            attributes = data[pos]
            if attributes > 127:
                attributes -= 256
            b = data[pos + 1]
            if b < 0x80:
                ts_delta = (b >> 1) ^ -(b & 1)
                pos += 2
            else:
                ts_delta, pos = read_varlong(data, pos + 1)
            b = data[pos]
            if b < 0x80:
                offset_delta = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                offset_delta, pos = read_varint(data, pos)
            b = data[pos]
            if b < 0x80:
                n = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                n, pos = read_varint(data, pos)
            if n < 0:
                key = None
            else:
                if pos + n > rec_end:
                    raise CorruptRecordError(f"record: key of {n} bytes overruns the record")
                key = data[pos:pos + n]
                pos += n
            b = data[pos]
            if b < 0x80:
                n = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                n, pos = read_varint(data, pos)
            if n < 0:
                value = None
            else:
                if pos + n > rec_end:
                    raise CorruptRecordError(f"record: value of {n} bytes overruns the record")
                value = data[pos:pos + n]
                pos += n
            b = data[pos]
            if b < 0x80:
                hcount = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                hcount, pos = read_varint(data, pos)
            headers: tuple[Header, ...] = ()
            if hcount:
                if hcount < 0 or hcount * 2 > rec_end - pos:
                    raise CorruptRecordError(f"record: invalid number of headers {hcount}")
                hs: list[Header] = []
                for _h in range(hcount):
                    n, pos = read_varint(data, pos)
                    if n < 0 or pos + n > rec_end:
                        raise CorruptRecordError(f"record: invalid header key length {n}")
                    hkey = data[pos:pos + n].decode("utf-8", "surrogateescape")
                    pos += n
                    n, pos = read_varint(data, pos)
                    if n < 0:
                        hs.append((hkey, None))
                    else:
                        if pos + n > rec_end:
                            raise CorruptRecordError(f"record: header value of {n} bytes overruns the record")
                        hs.append((hkey, data[pos:pos + n]))
                        pos += n
                headers = tuple(hs)
            if pos != rec_end:
                raise CorruptRecordError(f"record: expected to read {length} bytes, read {length + pos - rec_end}")
            append(Record(
                base_offset + offset_delta,
                log_append_time if log_append_time is not None else base_timestamp + ts_delta,
                key, value, headers, attributes,
            ))
    except IndexError:
        raise CorruptRecordError("record batch: records end early") from None
    except CorruptRecordError:
        raise
    except DecodeError as exc:
        raise CorruptRecordError(f"record batch: {exc}") from None
    if pos != end:
        raise CorruptRecordError(f"record batch: {end - pos} bytes left after {count} records")
    return out


# --- in-place patching ----------------------------------------------------------


def set_base_offset(
    buf: bytearray | memoryview, base_offset: int, partition_leader_epoch: int | None = None, pos: int = 0
) -> None:
    """Overwrite baseOffset (and partitionLeaderEpoch) of the batch at ``pos``; outside the CRC range."""
    INT64.pack_into(buf, pos + BASE_OFFSET_OFFSET, base_offset)
    if partition_leader_epoch is not None:
        INT32.pack_into(buf, pos + PARTITION_LEADER_EPOCH_OFFSET, partition_leader_epoch)


def assign_offsets(
    records: Buffer, first_offset: int, partition_leader_epoch: int | None = None
) -> tuple[bytes, int]:
    """Give consecutive offsets to every v2 batch of a (whole) records blob.

    Returns the patched copy and the next offset to assign. Only headers are read; each
    batch takes lastOffsetDelta + 1 offsets. Validate the batches first.
    """
    out = bytearray(records)
    next_offset = first_offset
    for entry in split_entries(out):
        if entry[MAGIC_OFFSET] != MAGIC:
            raise UnsupportedVersionError(f"records: magic {entry_magic(entry)} entry, expected 2")
        (delta,) = INT32.unpack_from(entry, LAST_OFFSET_DELTA_OFFSET)
        set_base_offset(entry, next_offset, partition_leader_epoch)
        next_offset += delta + 1
    return bytes(out), next_offset


def set_log_append_time(buf: bytearray | memoryview, timestamp: int, pos: int = 0) -> None:
    """Mark the batch at ``pos`` LogAppendTime with maxTimestamp ``timestamp``, recomputing the CRC.

    Every record's timestamp then reads as ``timestamp`` (the deltas are kept).
    """
    view = memoryview(buf)[pos:]
    (length,) = INT32.unpack_from(view, LENGTH_OFFSET)
    end = LOG_OVERHEAD + length
    (attributes,) = INT16.unpack_from(view, ATTRIBUTES_OFFSET)
    INT16.pack_into(view, ATTRIBUTES_OFFSET, attributes | TIMESTAMP_TYPE_MASK)
    INT64.pack_into(view, MAX_TIMESTAMP_OFFSET, timestamp)
    _UINT32.pack_into(view, CRC_OFFSET, _crc32c.crc32c(view[ATTRIBUTES_OFFSET:end]))
    view.release()


# --- control records ------------------------------------------------------------


class EndTxnMarker(NamedTuple):
    """A transaction marker: the content of a COMMIT/ABORT control record."""

    control_type: ControlRecordType
    coordinator_epoch: int
    version: int = 0

    @property
    def committed(self) -> bool:
        return self.control_type == ControlRecordType.COMMIT

    @classmethod
    def from_record(cls, record: Record) -> EndTxnMarker:
        version, ctype = decode_control_key(record.key)
        if ctype not in (ControlRecordType.ABORT, ControlRecordType.COMMIT):
            raise CorruptRecordError(f"control record: type {ctype} is not a transaction marker")
        value = record.value
        if value is None or len(value) < 6:
            raise CorruptRecordError("transaction marker: value shorter than 6 bytes")
        mversion, epoch = _INT16_INT32.unpack_from(value, 0)
        if mversion < 0:
            raise CorruptRecordError(f"transaction marker: invalid version {mversion}")
        return cls(ControlRecordType(ctype), epoch, mversion)


def encode_control_key(control_type: int, version: int = 0) -> bytes:
    return _INT16_INT16.pack(version, control_type)


def decode_control_key(key: bytes | None) -> tuple[int, ControlRecordType | int]:
    """(version, type) of a control record key; unknown types come back as plain ints."""
    if key is None or len(key) < 4:
        raise CorruptRecordError("control record: key shorter than 4 bytes")
    version, ctype = _INT16_INT16.unpack_from(key, 0)
    if version < 0:
        raise CorruptRecordError(f"control record: invalid key version {version}")
    try:
        return version, ControlRecordType(ctype)
    except ValueError:
        return version, ctype


def encode_end_txn_marker_value(coordinator_epoch: int, version: int = 0) -> bytes:
    return _INT16_INT32.pack(version, coordinator_epoch)


# --- building -------------------------------------------------------------------


class BatchBuilder:
    """Writes one v2 batch: any codec, transactional/control flags, producer state, headers.

    Append records with absolute offsets (default: the next one) and timestamps, then
    :meth:`build`. Misuse (offsets going backwards, values out of range) raises
    ``EncodeError``.
    """

    def __init__(
        self,
        *,
        base_offset: int = 0,
        compression: CompressionType | int = CompressionType.NONE,
        timestamp_type: TimestampType | int = TimestampType.CREATE_TIME,
        producer_id: int = NO_PRODUCER_ID,
        producer_epoch: int = NO_PRODUCER_EPOCH,
        base_sequence: int = NO_SEQUENCE,
        is_transactional: bool = False,
        is_control: bool = False,
        partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
        delete_horizon_ms: int | None = None,
        compression_level: int | None = None,
        snappy_xerial: bool = True,
    ) -> None:
        if not 0 <= int(compression) <= 4:
            raise EncodeError(f"unknown compression codec {compression}")
        self.base_offset = base_offset
        self.compression = CompressionType(compression)
        self.timestamp_type = TimestampType(timestamp_type)
        if self.timestamp_type == TimestampType.NO_TIMESTAMP_TYPE:
            raise EncodeError("a v2 batch has a timestamp type")
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.base_sequence = base_sequence
        self.is_transactional = is_transactional
        self.is_control = is_control
        self.partition_leader_epoch = partition_leader_epoch
        self.delete_horizon_ms = delete_horizon_ms
        self.compression_level = compression_level
        self.snappy_xerial = snappy_xerial
        self._body = bytearray()
        self._count = 0
        self._last_offset: int | None = None
        self._base_timestamp: int | None = delete_horizon_ms
        self._max_timestamp = NO_TIMESTAMP

    def __len__(self) -> int:
        return self._count

    @property
    def next_offset(self) -> int:
        return self.base_offset if self._last_offset is None else self._last_offset + 1

    def append(
        self,
        value: bytes | None,
        key: bytes | None = None,
        headers: Iterable[Header] = (),
        *,
        timestamp: int | None = None,
        offset: int | None = None,
        attributes: int = 0,
    ) -> int:
        """Add a record; returns its offset. ``timestamp`` None means now (ms)."""
        if offset is None:
            offset = self.next_offset
        elif self._last_offset is not None and offset <= self._last_offset:
            raise EncodeError(f"offset {offset} does not follow {self._last_offset}")
        delta = offset - self.base_offset
        if not 0 <= delta <= 0x7FFFFFFF:
            raise EncodeError(f"offset {offset} is out of range for base offset {self.base_offset}")
        if timestamp is None:
            timestamp = int(time.time() * 1000)
        if self._base_timestamp is None:
            self._base_timestamp = timestamp
        if timestamp > self._max_timestamp:
            self._max_timestamp = timestamp
        rec = bytearray()
        try:
            rec.append(attributes & 0xFF)
            write_varlong(rec, timestamp - self._base_timestamp)
            write_varint(rec, delta)
            _write_bytes(rec, key)
            _write_bytes(rec, value)
            hs = list(headers)
            write_varint(rec, len(hs))
            for hkey, hvalue in hs:
                if not isinstance(hkey, str):
                    raise EncodeError(f"header key must be str, got {type(hkey).__name__}")
                kb = hkey.encode("utf-8", "surrogateescape")
                write_varint(rec, len(kb))
                rec += kb
                _write_bytes(rec, hvalue)
        except OverflowError as exc:
            raise EncodeError(str(exc)) from None
        write_varint(self._body, len(rec))
        self._body += rec
        self._count += 1
        self._last_offset = offset
        return offset

    def append_record(self, record: Record) -> int:
        """Add a decoded record as it is (offset, timestamp, key, value, headers)."""
        return self.append(
            record.value, record.key, record.headers,
            timestamp=record.timestamp, offset=record.offset, attributes=record.attributes,
        )

    def build(
        self,
        *,
        last_offset_delta: int | None = None,
        max_timestamp: int | None = None,
    ) -> bytes:
        """The batch bytes with a valid CRC.

        ``last_offset_delta`` keeps the original delta when compaction dropped the last
        records; ``max_timestamp`` sets the LogAppendTime (or any other) maximum.
        """
        if last_offset_delta is None:
            last_offset_delta = 0 if self._last_offset is None else self._last_offset - self.base_offset
        if max_timestamp is None:
            max_timestamp = self._max_timestamp
        base_timestamp = NO_TIMESTAMP if self._base_timestamp is None else self._base_timestamp
        attributes = int(self.compression) | (self.timestamp_type << 3)
        if self.is_transactional:
            attributes |= TRANSACTIONAL_MASK
        if self.is_control:
            attributes |= CONTROL_MASK
        if self.delete_horizon_ms is not None:
            attributes |= DELETE_HORIZON_MASK
        if self.compression == CompressionType.NONE:
            payload: Buffer = self._body
        else:
            payload = compress(
                self.compression, self._body, level=self.compression_level, snappy_xerial=self.snappy_xerial
            )
        out = bytearray(HEADER_SIZE)
        out += payload
        try:
            HEADER.pack_into(
                out, 0,
                self.base_offset, len(out) - LOG_OVERHEAD, self.partition_leader_epoch, MAGIC, 0,
                attributes, last_offset_delta, base_timestamp, max_timestamp,
                self.producer_id, self.producer_epoch, self.base_sequence, self._count,
            )
        except struct.error as exc:
            raise EncodeError(f"record batch header: {exc}") from None
        _UINT32.pack_into(out, CRC_OFFSET, _crc32c.crc32c(memoryview(out)[ATTRIBUTES_OFFSET:]))
        return bytes(out)


def _write_bytes(out: bytearray, value: bytes | bytearray | memoryview | None) -> None:
    if value is None:
        out.append(1)  # zigzag(-1)
        return
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError(f"expected bytes or None, got {type(value).__name__}")
    write_varint(out, len(value))
    out += value


def build_batch(records: Iterable[Record], **options: Any) -> bytes:
    """One batch holding ``records`` as they are; ``options`` go to :class:`BatchBuilder`.

    ``base_offset`` defaults to the first record's offset.
    """
    recs = list(records)
    if "base_offset" not in options and recs:
        options["base_offset"] = recs[0].offset
    builder = BatchBuilder(**options)
    for rec in recs:
        builder.append_record(rec)
    return builder.build()


def build_end_txn_marker(
    *,
    commit: bool,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    base_offset: int = 0,
    timestamp: int | None = None,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
) -> bytes:
    """The control batch a broker appends when a transaction commits or aborts."""
    builder = BatchBuilder(
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        is_transactional=True,
        is_control=True,
        partition_leader_epoch=partition_leader_epoch,
    )
    builder.append(
        encode_end_txn_marker_value(coordinator_epoch),
        encode_control_key(ControlRecordType.COMMIT if commit else ControlRecordType.ABORT),
        timestamp=timestamp,
    )
    return builder.build()

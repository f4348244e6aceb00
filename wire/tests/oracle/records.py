"""Kafka's RecordBatch (magic v2) and Record, declared in construct.

From Kafka's ``docs/implementation.html`` (and ``DefaultRecordBatch``/``DefaultRecord``):

    baseOffset: int64
    batchLength: int32            -- bytes after this field
    partitionLeaderEpoch: int32
    magic: int8 (2)
    crc: uint32                   -- CRC-32C of everything after this field
    attributes: int16             -- bits 0-2 compression, 3 timestamp type, 4 transactional,
                                     5 control, 6 has delete horizon
    lastOffsetDelta: int32
    baseTimestamp: int64
    maxTimestamp: int64
    producerId: int64
    producerEpoch: int16
    baseSequence: int32
    recordsCount: int32           -- 61 bytes up to here
    records: [Record]             -- compressed as one block when attributes say so

    Record =>
      length: varint              -- bytes after this field
      attributes: int8
      timestampDelta: varlong
      offsetDelta: varint
      keyLength: varint, key: byte[]      -- -1 is a null key
      valueLength: varint, value: byte[]  -- -1 is a null value
      headersCount: varint
      Header => headerKeyLength: varint, headerKey: String, headerValueLength: varint, value: byte[] (-1 null)

The CRC here is a small pure-Python CRC-32C (Castagnoli), independent of the
``crc32c`` package ``wire`` uses. Only uncompressed and gzip batches are decoded
(gzip with the standard library); the other codecs are outside this oracle.
"""

from __future__ import annotations

import gzip
from typing import Any

from construct import Adapter, Array, Bytes, Const, Container, GreedyBytes, Prefixed, Struct, ValidationError, this

from wire.tests.oracle.kafka_types import INT8, INT16, INT32, INT64, UINT32, VARINT, VARLONG, KArray, KBytes, KString


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (reflected polynomial 0x82F63B78), as Kafka's ``Crc32C``."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --- the 61-byte header --------------------------------------------------------------

BATCH_HEADER = Struct(
    "base_offset" / INT64,
    "batch_length" / INT32,
    "partition_leader_epoch" / INT32,
    "magic" / INT8,
    "crc" / UINT32,
    "attributes" / INT16,
    "last_offset_delta" / INT32,
    "base_timestamp" / INT64,
    "max_timestamp" / INT64,
    "producer_id" / INT64,
    "producer_epoch" / INT16,
    "base_sequence" / INT32,
    "records_count" / INT32,
)
assert BATCH_HEADER.sizeof() == 61

#: Where the CRC-covered region starts (attributes) and where the header ends.
CRC_START = 21
HEADER_SIZE = 61

# --- one record ------------------------------------------------------------------------

VARBYTES = KBytes(compact=False, nullable=True, length=VARINT)

RECORD_HEADER = Struct(
    "key" / KString(compact=False, nullable=False, length=VARINT),
    "value" / VARBYTES,
)

RECORD_BODY = Struct(
    "attributes" / INT8,
    "timestamp_delta" / VARLONG,
    "offset_delta" / VARINT,
    "key" / VARBYTES,
    "value" / VARBYTES,
    "headers" / KArray(RECORD_HEADER, compact=False, nullable=False, count=VARINT),
)

#: A record: its body prefixed by its zigzag-varint length.
RECORD = Prefixed(VARINT, RECORD_BODY)

# --- a whole batch ---------------------------------------------------------------------

_COVERED_FIELDS = Struct(
    "attributes" / INT16,
    "last_offset_delta" / INT32,
    "base_timestamp" / INT64,
    "max_timestamp" / INT64,
    "producer_id" / INT64,
    "producer_epoch" / INT16,
    "base_sequence" / INT32,
    "records_count" / INT32,
    "payload" / GreedyBytes,
)

_FRAME = Struct(
    "base_offset" / INT64,
    "batch_length" / INT32,
    "partition_leader_epoch" / INT32,
    "magic" / Const(2, INT8),
    "crc" / UINT32,
    "covered" / Bytes(this.batch_length - 9),
)

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1


class RecordBatchV2(Adapter):  # type: ignore[misc]
    """A whole v2 batch <-> a flat Container: header fields (no length/crc/count) and ``records``.

    Parsing checks the CRC and the record count; building computes them. Building
    a gzip batch uses ``gzip.compress(..., mtime=0)``, so its bytes are only one of
    many valid encodings: compare compressed batches by what they decode to.
    """

    def __init__(self) -> None:
        super().__init__(_FRAME)

    def _decode(self, obj: Any, context: Any, path: str) -> Container:
        covered = bytes(obj.covered)
        if crc32c(covered) != obj.crc:
            raise ValidationError(f"crc mismatch: stored {obj.crc:#x}, computed {crc32c(covered):#x}", path=path)
        f = _COVERED_FIELDS.parse(covered)
        codec = f.attributes & 0x07
        if codec == COMPRESSION_NONE:
            payload = bytes(f.payload)
        elif codec == COMPRESSION_GZIP:
            payload = gzip.decompress(bytes(f.payload))
        else:
            raise ValidationError(f"compression codec {codec} is outside this oracle", path=path)
        records = Struct("records" / Array(f.records_count, RECORD), "rest" / GreedyBytes).parse(payload)
        if records.rest:
            raise ValidationError(f"{len(records.rest)} bytes after the last record", path=path)
        return Container(
            base_offset=obj.base_offset,
            partition_leader_epoch=obj.partition_leader_epoch,
            attributes=f.attributes,
            last_offset_delta=f.last_offset_delta,
            base_timestamp=f.base_timestamp,
            max_timestamp=f.max_timestamp,
            producer_id=f.producer_id,
            producer_epoch=f.producer_epoch,
            base_sequence=f.base_sequence,
            records=list(records.records),
        )

    def _encode(self, obj: Any, context: Any, path: str) -> Container:
        payload = b"".join(RECORD.build(r) for r in obj["records"])
        codec = obj["attributes"] & 0x07
        if codec == COMPRESSION_GZIP:
            payload = gzip.compress(payload, mtime=0)
        elif codec != COMPRESSION_NONE:
            raise ValidationError(f"compression codec {codec} is outside this oracle", path=path)
        covered = _COVERED_FIELDS.build(dict(obj, records_count=len(obj["records"]), payload=payload))
        return Container(
            base_offset=obj["base_offset"],
            batch_length=len(covered) + 9,
            partition_leader_epoch=obj["partition_leader_epoch"],
            magic=2,
            crc=crc32c(covered),
            covered=covered,
        )


RECORD_BATCH = RecordBatchV2()

__all__ = [
    "BATCH_HEADER", "COMPRESSION_GZIP", "COMPRESSION_NONE", "CRC_START", "HEADER_SIZE", "RECORD", "RECORD_BATCH",
    "RECORD_BODY", "RECORD_HEADER", "crc32c",
]

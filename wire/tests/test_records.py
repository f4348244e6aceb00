"""RecordBatch v2: round trips per codec, header flags, CRC, splitting, offset patching, control markers, fuzz."""

from __future__ import annotations

import struct

import crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.errors import CorruptRecordError, DecodeError, EncodeError, TruncatedError, UnsupportedVersionError
from wire.kafka import records as R
from wire.kafka.compression import CompressionType
from wire.kafka.records import BatchBuilder, ControlRecordType, EndTxnMarker, Record, RecordBatch, TimestampType

blobs = st.one_of(st.none(), st.binary(max_size=40), st.binary(max_size=2).map(lambda b: b * 60))
header_lists = st.lists(
    st.tuples(st.text(max_size=6), st.one_of(st.none(), st.binary(max_size=6))), max_size=3
).map(tuple)


@st.composite
def record_lists(draw: st.DrawFn, max_records: int = 12) -> list[Record]:
    n = draw(st.integers(0, max_records))
    offset = draw(st.integers(0, 2**40))
    ts0 = draw(st.integers(1000, 2**42))  # valid timestamps (Kafka refuses < -1; Java caps max at -1 too)
    out = []
    for _ in range(n):
        out.append(Record(offset, ts0 + draw(st.integers(-1000, 10**6)), draw(blobs), draw(blobs), draw(header_lists)))
        offset += draw(st.sampled_from([1, 1, 1, 2, 1000]))
    return out


def build(records: list[Record], **kw: object) -> bytes:
    return R.build_batch(records, **kw)


@pytest.mark.parametrize("codec", list(CompressionType))
@given(records=record_lists(), snappy_xerial=st.booleans())
@settings(max_examples=25, deadline=None)
def test_round_trip_random_records(codec: CompressionType, records: list[Record], snappy_xerial: bool) -> None:
    data = build(records, compression=codec, snappy_xerial=snappy_xerial)
    (batch,) = R.split_batches(data)
    batch.validate()
    assert batch.header.compression == codec
    assert batch.records() == records
    assert batch.header.records_count == len(records)
    if records:
        assert batch.header.base_offset == records[0].offset
        assert batch.last_offset == records[-1].offset
        assert batch.header.base_timestamp == records[0].timestamp
        assert batch.header.max_timestamp == max(r.timestamp for r in records)


def test_header_layout_and_flags() -> None:
    b = BatchBuilder(base_offset=100, producer_id=77, producer_epoch=5, base_sequence=9, is_transactional=True,
                     partition_leader_epoch=3, compression=CompressionType.LZ4)
    b.append(b"v1", b"k1", [("h", b"x")], timestamp=1000)
    b.append(None, None, timestamp=900)
    b.append(b"v3", timestamp=1500, offset=105)
    data = b.build()
    assert len(data) == R.HEADER_SIZE + (len(data) - 61)
    h = R.BatchHeader.unpack(data)
    assert (h.base_offset, h.batch_length, h.partition_leader_epoch, h.magic) == (100, len(data) - 12, 3, 2)
    assert (h.last_offset_delta, h.base_timestamp, h.max_timestamp) == (5, 1000, 1500)
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.records_count) == (77, 5, 9, 3)
    assert h.attributes == 0x13 and h.compression == 3 and h.is_transactional and not h.is_control
    assert h.timestamp_type == TimestampType.CREATE_TIME and h.delete_horizon_ms is None
    assert h.crc == crc32c.crc32c(data[21:])
    assert h.last_sequence == 14 and h.next_offset == 106 and h.size == len(data)
    assert R.BatchHeader.unpack(h.pack()) == h
    batch = RecordBatch(data)
    assert [r.offset for r in batch.records()] == [100, 101, 105]
    assert [r.timestamp for r in batch.records()] == [1000, 900, 1500]


def test_known_encoding_of_a_tiny_batch() -> None:
    b = BatchBuilder(base_offset=0)
    b.append(b"v", b"k", [("a", None)], timestamp=5)
    data = b.build()
    # record: length 11, attrs 0, tsDelta 0, offsetDelta 0, key len 1 'k', value len 1 'v', 1 header: 'a' null
    assert data[61:] == bytes([22, 0, 0, 0, 2]) + b"k" + bytes([2]) + b"v" + bytes([2, 2]) + b"a" + bytes([1])


def test_sequence_wraps() -> None:
    h = R.BatchHeader.unpack(BatchBuilder(producer_id=1, producer_epoch=0, base_sequence=2**31 - 2)
                             .build(last_offset_delta=4))
    assert h.last_sequence == 2


def test_log_append_time_and_delete_horizon() -> None:
    b = BatchBuilder(timestamp_type=TimestampType.LOG_APPEND_TIME)
    b.append(b"x", timestamp=10)
    b.append(b"y", timestamp=20)
    batch = RecordBatch(b.build(max_timestamp=99))
    assert [r.timestamp for r in batch.records()] == [99, 99]
    d = BatchBuilder(delete_horizon_ms=5000)
    d.append(b"x", timestamp=10)
    d.append(b"y", timestamp=7000)
    batch = RecordBatch(d.build())
    assert batch.header.has_delete_horizon and batch.header.delete_horizon_ms == 5000
    assert batch.header.base_timestamp == 5000
    assert [r.timestamp for r in batch.records()] == [10, 7000]


def test_decompression_limit_reaches_the_caller() -> None:
    from wire.kafka.compression import DecompressionLimitError
    batch = RecordBatch(build([Record(i, 0, None, bytes(10_000)) for i in range(50)], compression=CompressionType.ZSTD))
    batch.validate()
    with pytest.raises(DecompressionLimitError):
        batch.records(max_size=100_000)
    assert len(batch.records(max_size=1_000_000)) == 50


def test_set_log_append_time_in_place() -> None:
    data = bytearray(build([Record(0, 10, None, b"a"), Record(1, 20, None, b"b")], compression=CompressionType.GZIP))
    R.set_log_append_time(data, 12345)
    batch = RecordBatch(data)
    batch.validate()
    assert batch.header.timestamp_type == TimestampType.LOG_APPEND_TIME
    assert [r.timestamp for r in batch.records()] == [12345, 12345]


def test_crc_corruption_detected_everywhere_in_the_crc_range() -> None:
    data = build([Record(i, 1000 + i, b"k", b"value %d" % i, (("h", b"v"),)) for i in range(5)],
                 compression=CompressionType.SNAPPY)
    for pos in range(R.ATTRIBUTES_OFFSET, len(data)):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        with pytest.raises(CorruptRecordError):
            RecordBatch(bad).validate()
    # a wrong CRC field itself
    bad = bytearray(data)
    bad[R.CRC_OFFSET] ^= 0x80
    assert not RecordBatch(bad).crc_ok()


def test_base_offset_patching_keeps_crc_valid() -> None:
    data = build([Record(i, 1000, None, b"v") for i in range(3)], compression=CompressionType.ZSTD)
    patched = RecordBatch(data).with_base_offset(2**40, partition_leader_epoch=17)
    batch = RecordBatch(patched)
    batch.validate()
    assert batch.header.base_offset == 2**40 and batch.header.partition_leader_epoch == 17
    assert [r.offset for r in batch.records()] == [2**40, 2**40 + 1, 2**40 + 2]
    assert patched[21:] == data[21:]


def test_assign_offsets_over_a_produce_blob() -> None:
    blob = b"".join(build([Record(i, 1, None, b"v") for i in range(n)]) for n in (3, 1, 5))
    out, next_offset = R.assign_offsets(blob, 1000, partition_leader_epoch=4)
    assert next_offset == 1009
    batches = R.split_batches(out)
    assert [b.base_offset for b in batches] == [1000, 1003, 1004]
    for b in batches:
        b.validate()
        assert b.header.partition_leader_epoch == 4
    assert [r.offset for b in batches for r in b.records()] == list(range(1000, 1009))


def test_split_and_truncated_tail() -> None:
    batches = [build([Record(o, 1, b"k", b"v" * o)]) for o in range(4)]
    blob = b"".join(batches)
    assert [bytes(b) for b in R.split_batches(blob)] == batches
    for cut in range(1, len(batches[-1])):
        partial = blob[:-cut]
        with pytest.raises(TruncatedError):
            R.split_batches(partial)
        assert [bytes(b) for b in R.split_batches(partial, allow_truncated_tail=True)] == batches[:3]
    assert R.split_batches(b"") == []


def test_split_rejects_bad_sizes_and_magic() -> None:
    data = bytearray(build([Record(0, 1, None, b"v")]))
    bad = bytearray(data)
    struct.pack_into(">i", bad, 8, 5)
    with pytest.raises(CorruptRecordError):
        R.split_entries(bad)
    bad = bytearray(data)
    bad[16] = 1
    with pytest.raises(UnsupportedVersionError):
        R.split_batches(bad)
    with pytest.raises(CorruptRecordError):  # batchLength disagrees with the slice
        RecordBatch(data + b"\x00")


def test_client_batch_rules() -> None:
    good = RecordBatch(build([Record(i, 1, None, b"v") for i in range(3)], producer_id=1, producer_epoch=0,
                             base_sequence=0))
    good.check_client_batch()
    gap = RecordBatch(build([Record(0, 1, None, b"v"), Record(5, 1, None, b"v")]))
    gap.validate()
    with pytest.raises(R.InvalidRecordError):
        gap.check_client_batch()
    with pytest.raises(R.InvalidRecordError):
        RecordBatch(R.build_end_txn_marker(commit=True, producer_id=1, producer_epoch=0,
                                           coordinator_epoch=0)).check_client_batch()
    with pytest.raises(R.InvalidRecordError):
        RecordBatch(build([Record(0, 1, None, b"v")], producer_id=1, producer_epoch=0)).check_client_batch()
    with pytest.raises(R.InvalidRecordError):
        RecordBatch(BatchBuilder().build()).check_client_batch()


def test_validate_rejects_impossible_counts_and_codecs() -> None:
    def tweak(offset: int, fmt: str, value: int) -> RecordBatch:
        data = bytearray(build([Record(0, 1, None, b"v"), Record(1, 1, None, b"w")]))
        struct.pack_into(fmt, data, offset, value)
        struct.pack_into(">I", data, R.CRC_OFFSET, crc32c.crc32c(bytes(data[21:])))
        return RecordBatch(data)

    for offset, fmt, value in [(R.RECORDS_COUNT_OFFSET, ">i", -1), (R.RECORDS_COUNT_OFFSET, ">i", 3),
                               (R.LAST_OFFSET_DELTA_OFFSET, ">i", -1), (R.ATTRIBUTES_OFFSET, ">h", 5)]:
        with pytest.raises(CorruptRecordError):
            tweak(offset, fmt, value).validate()
    # a count that passes the header checks but disagrees with the records (bytes left over)
    fewer = tweak(R.RECORDS_COUNT_OFFSET, ">i", 1)
    fewer.validate()
    with pytest.raises(CorruptRecordError):
        fewer.records()


def test_transaction_markers() -> None:
    for commit in (True, False):
        data = R.build_end_txn_marker(commit=commit, producer_id=42, producer_epoch=7, coordinator_epoch=9,
                                      base_offset=50, timestamp=123, partition_leader_epoch=2)
        batch = RecordBatch(data)
        batch.validate()
        h = batch.header
        assert h.is_control and h.is_transactional and h.base_sequence == -1
        assert (h.producer_id, h.producer_epoch, h.records_count) == (42, 7, 1)
        (rec,) = batch.records()
        assert rec.key == b"\x00\x00\x00" + (b"\x01" if commit else b"\x00")
        assert rec.value == b"\x00\x00\x00\x00\x00\x09"
        marker = EndTxnMarker.from_record(rec)
        assert marker == EndTxnMarker(ControlRecordType.COMMIT if commit else ControlRecordType.ABORT, 9)
        assert marker.committed is commit
        assert batch.control_type() == (ControlRecordType.COMMIT if commit else ControlRecordType.ABORT)
    assert R.decode_control_key(b"\x00\x00\x00\x63") == (0, 99)
    for bad_key in (None, b"\x00", b"\xff\xff\x00\x00"):
        with pytest.raises(CorruptRecordError):
            R.decode_control_key(bad_key)
    with pytest.raises(CorruptRecordError):
        EndTxnMarker.from_record(Record(0, 0, R.encode_control_key(1), b"\x00\x00"))


def test_empty_batch_as_compaction_leaves_it() -> None:
    data = BatchBuilder(base_offset=10, producer_id=5, producer_epoch=1, base_sequence=3).build(last_offset_delta=4)
    batch = RecordBatch(data)
    batch.validate()
    assert batch.records() == [] and batch.next_offset == 15
    assert batch.header.base_timestamp == -1 and batch.header.max_timestamp == -1


def test_builder_misuse_raises_encode_error() -> None:
    b = BatchBuilder(base_offset=10)
    b.append(b"x", offset=12, timestamp=0)
    with pytest.raises(EncodeError):
        b.append(b"y", offset=12, timestamp=0)
    with pytest.raises(EncodeError):
        BatchBuilder(base_offset=10).append(b"y", offset=9, timestamp=0)
    with pytest.raises(EncodeError):
        BatchBuilder().append("text", timestamp=0)  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        BatchBuilder().append(b"v", headers=[(b"k", b"v")], timestamp=0)  # type: ignore[list-item]
    with pytest.raises(EncodeError):
        BatchBuilder(compression=6)
    with pytest.raises(EncodeError):
        BatchBuilder(producer_epoch=2**15).build()


def test_header_keys_survive_any_bytes() -> None:
    data = bytearray(build([Record(0, 0, None, None, (("ok", b"1"),))]))
    pos = data.index(b"ok")
    data[pos:pos + 2] = b"\xff\xfe"
    struct.pack_into(">I", data, R.CRC_OFFSET, crc32c.crc32c(bytes(data[21:])))
    (rec,) = RecordBatch(data).records()
    assert rec.headers[0][0].encode("utf-8", "surrogateescape") == b"\xff\xfe"
    assert build([rec]) == bytes(data)


# --- fuzz: bytes from the peer raise only DecodeError ---------------------------------


def _consume(blob: bytes) -> None:
    try:
        for batch in R.split_batches(blob, allow_truncated_tail=len(blob) % 2 == 0):
            batch.header.last_sequence
            try:
                batch.validate()
            except CorruptRecordError:
                pass
            batch.records(max_size=1 << 20)
    except DecodeError:
        pass


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_fuzz_random_bytes(blob: bytes) -> None:
    _consume(blob)
    _consume(bytes(12) + blob)


@pytest.mark.parametrize("codec", list(CompressionType))
@given(records=record_lists(max_records=4), data=st.data())
@settings(max_examples=80, deadline=None)
def test_fuzz_mutated_batches(codec: CompressionType, records: list[Record], data: st.DataObject) -> None:
    blob = bytearray(build(records, compression=codec) * data.draw(st.integers(1, 2)))
    fix_crc = data.draw(st.booleans())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "varint"]))
        if action == "flip":
            blob[pos] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del blob[pos:]
        elif action == "insert":
            blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=6))
        else:
            blob[pos] = data.draw(st.sampled_from([0x7F, 0x80, 0xFF, 0x01]))
        if not blob:
            break
    if fix_crc and len(blob) >= R.HEADER_SIZE:  # let the mutation reach the record decoder
        struct.pack_into(">I", blob, R.CRC_OFFSET, crc32c.crc32c(bytes(blob[21:])))
    _consume(bytes(blob))

"""Legacy message sets (magic 0/1): round trips, wrappers, CRC-32, conversions to and from v2, fuzz."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.errors import CorruptRecordError, DecodeError, EncodeError, TruncatedError, UnsupportedVersionError
from wire.kafka import legacy_records as L
from wire.kafka import records as R
from wire.kafka.compression import CompressionType, compress
from wire.kafka.legacy_records import LegacyMessage, LegacyRecord
from wire.kafka.records import Record, TimestampType

LEGACY_CODECS = [CompressionType.NONE, CompressionType.GZIP, CompressionType.SNAPPY, CompressionType.LZ4]
blobs = st.one_of(st.none(), st.binary(max_size=30), st.binary(max_size=2).map(lambda b: b * 40))


@st.composite
def legacy_lists(draw: st.DrawFn, magic: int, max_records: int = 8) -> list[LegacyRecord]:
    n = draw(st.integers(0, max_records))
    offset = draw(st.integers(0, 2**40))
    out = []
    for i in range(n):
        ts = draw(st.integers(0, 2**42)) if magic else R.NO_TIMESTAMP
        ts_type = TimestampType.CREATE_TIME if magic else TimestampType.NO_TIMESTAMP_TYPE
        out.append(LegacyRecord(offset + i, ts, draw(blobs), draw(blobs), magic, ts_type))
    return out


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", LEGACY_CODECS)
@given(data=st.data())
@settings(max_examples=20, deadline=None)
def test_round_trip(magic: int, codec: CompressionType, data: st.DataObject) -> None:
    records = data.draw(legacy_lists(magic))
    blob = L.build_message_set(records, magic=magic, compression=codec)
    assert L.read_message_set(blob) == records
    entries = R.split_entries(blob)
    assert len(entries) == (len(records) if codec == 0 else min(len(records), 1))
    for e in entries:
        msg = LegacyMessage(e)
        msg.validate()
        assert msg.magic == magic and msg.compression == codec


def test_known_magic_1_encoding() -> None:
    blob = L.encode_message(7, b"k", b"val", magic=1, timestamp=1000)
    body = b"\x01\x00" + struct.pack(">q", 1000) + b"\x00\x00\x00\x01k\x00\x00\x00\x03val"
    assert blob == struct.pack(">qiI", 7, 4 + len(body), zlib.crc32(body)) + body
    v0 = L.encode_message(7, None, None, magic=0)
    assert v0 == struct.pack(">qiI", 7, 14, zlib.crc32(b"\x00\x00" + b"\xff" * 8)) + b"\x00\x00" + b"\xff" * 8


def test_wrapper_offsets_and_timestamps() -> None:
    recs = [LegacyRecord(100 + i, 5000 + i, None, b"v%d" % i) for i in range(3)]
    blob = L.build_message_set(recs, magic=1, compression=CompressionType.GZIP)
    (wrapper,) = [LegacyMessage(e) for e in R.split_entries(blob)]
    assert wrapper.offset == 102 and wrapper.timestamp == 5002 and wrapper.key is None
    assert [m.offset for m in wrapper.inner_messages()] == [0, 1, 2]  # relative in magic 1
    lat = L.build_message_set(recs, magic=1, compression=CompressionType.GZIP,
                              timestamp_type=TimestampType.LOG_APPEND_TIME, log_append_time=9999)
    assert [(r.timestamp, r.timestamp_type) for r in L.read_message_set(lat)] == [(9999, TimestampType.LOG_APPEND_TIME)] * 3
    v0 = L.build_message_set(recs, magic=0, compression=CompressionType.SNAPPY)
    (w0,) = [LegacyMessage(e) for e in R.split_entries(v0)]
    assert [m.offset for m in w0.inner_messages()] == [100, 101, 102]  # absolute in magic 0
    assert [r.offset for r in L.read_message_set(v0)] == [100, 101, 102]


def test_producer_style_wrapper_with_offset_zero() -> None:
    # Producers write wrapper offset 0 over inner offsets 0..n-1: the inner offsets are then used as they are.
    inner = b"".join(L.encode_message(i, None, b"x", magic=1, timestamp=1) for i in range(3))
    blob = L.encode_message(0, None, compress(CompressionType.GZIP, inner), magic=1, attributes=1, timestamp=0)
    assert [r.offset for r in L.read_message_set(blob)] == [0, 1, 2]


def test_magic_0_lz4_uses_the_broken_header_checksum() -> None:
    blob = L.build_message_set([LegacyRecord(0, -1, None, b"abc" * 50, 0)], magic=0, compression=CompressionType.LZ4)
    frame = LegacyMessage(R.split_entries(blob)[0]).value
    assert frame is not None
    from wire.kafka.compression import xxh32
    assert frame[6] == (xxh32(bytes(frame[:6])) >> 8) & 0xFF
    assert L.read_message_set(blob)[0].value == b"abc" * 50


def test_corruption_is_detected() -> None:
    blob = L.build_message_set([LegacyRecord(0, 1, b"k", b"v" * 20)], magic=1)
    for pos in range(16, len(blob)):
        bad = bytearray(blob)
        bad[pos] ^= 0x04
        with pytest.raises(DecodeError):
            L.read_message_set(bytes(bad))
    with pytest.raises(TruncatedError):
        L.read_message_set(blob[:-1])
    assert L.read_message_set(blob + blob[:-1], allow_truncated_tail=True) == L.read_message_set(blob)


def test_nested_compression_and_magic_mismatch_rejected() -> None:
    inner_wrapper = L.build_message_set([LegacyRecord(0, 1, None, b"x")], magic=1, compression=CompressionType.GZIP)
    nested = L.encode_message(0, None, compress(CompressionType.GZIP, inner_wrapper), magic=1, attributes=1)
    with pytest.raises(CorruptRecordError, match="nested"):
        L.read_message_set(nested)
    v0_inner = L.encode_message(0, None, b"x", magic=0)
    mixed = L.encode_message(0, None, compress(CompressionType.GZIP, v0_inner), magic=1, attributes=1)
    with pytest.raises(CorruptRecordError, match="magic"):
        L.read_message_set(mixed)
    null_wrapper = L.encode_message(0, None, None, magic=1, attributes=1)
    with pytest.raises(CorruptRecordError):
        L.read_message_set(null_wrapper)
    zstd_wrapper = L.encode_message(0, None, compress(CompressionType.ZSTD, v0_inner), magic=0, attributes=4)
    with pytest.raises(CorruptRecordError):
        L.read_message_set(zstd_wrapper)


def test_v2_entry_is_not_a_legacy_message() -> None:
    batch = R.build_batch([Record(0, 1, None, b"v")])
    with pytest.raises(UnsupportedVersionError):
        LegacyMessage(batch)


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", LEGACY_CODECS)
def test_up_convert(magic: int, codec: CompressionType) -> None:
    recs = [LegacyRecord(10 + i, 1000 + i if magic else -1, b"k%d" % i, b"value %d" % i, magic) for i in range(4)]
    blob = L.build_message_set(recs, magic=magic, compression=codec)
    (batch,) = R.split_batches(L.up_convert(blob))
    batch.validate()
    assert batch.header.compression == codec
    assert batch.header.producer_id == -1
    assert batch.records() == [Record(r.offset, r.timestamp, r.key, r.value) for r in recs]
    (renumbered,) = R.split_batches(L.up_convert(blob, base_offset=0, compression=CompressionType.ZSTD))
    assert [r.offset for r in renumbered.records()] == [0, 1, 2, 3] and renumbered.compression == 4
    assert L.up_convert(b"") == b""


def test_up_convert_log_append_time() -> None:
    recs = [LegacyRecord(i, 1, None, b"x") for i in range(2)]
    blob = L.build_message_set(recs, magic=1, compression=CompressionType.GZIP,
                               timestamp_type=TimestampType.LOG_APPEND_TIME, log_append_time=777)
    (batch,) = R.split_batches(L.up_convert(blob))
    assert batch.header.timestamp_type == TimestampType.LOG_APPEND_TIME
    assert [r.timestamp for r in batch.records()] == [777, 777]


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", LEGACY_CODECS)
def test_down_convert(magic: int, codec: CompressionType) -> None:
    b1 = R.build_batch([Record(5 + i, 100 + i, b"k", b"v%d" % i, (("dropped", b"h"),)) for i in range(3)],
                       compression=codec)
    marker = R.build_end_txn_marker(commit=True, producer_id=1, producer_epoch=0, coordinator_epoch=0, base_offset=8)
    empty = R.BatchBuilder(base_offset=9).build()
    b2 = R.build_batch([Record(10, 200, None, b"last")], compression=codec)
    out = L.down_convert(b1 + marker + empty + b2, magic)
    got = L.read_message_set(out)
    assert [(r.offset, r.key, r.value, r.magic) for r in got] == [
        (5, b"k", b"v0", magic), (6, b"k", b"v1", magic), (7, b"k", b"v2", magic), (10, None, b"last", magic)]
    assert [r.timestamp for r in got] == ([100, 101, 102, 200] if magic else [-1] * 4)
    entries = [LegacyMessage(e) for e in R.split_entries(out)]
    assert {m.compression for m in entries} == {codec}
    # a truncated fetch tail is dropped when allowed
    assert L.down_convert((b1 + b2)[:-3], magic, allow_truncated_tail=True) == L.down_convert(b1, magic)


def test_down_convert_log_append_time_and_legacy_pass_through() -> None:
    b = R.BatchBuilder(timestamp_type=TimestampType.LOG_APPEND_TIME, compression=CompressionType.GZIP)
    b.append(b"x", timestamp=1)
    out = L.down_convert(b.build(max_timestamp=4242), 1)
    assert [(r.timestamp, r.timestamp_type) for r in L.read_message_set(out)] == [(4242, TimestampType.LOG_APPEND_TIME)]
    v0 = L.encode_message(3, None, b"old", magic=0)
    v1 = L.encode_message(4, None, b"new", magic=1, timestamp=9)
    assert L.down_convert(v0 + v1, 1) == v0 + v1
    assert [(r.offset, r.magic, r.timestamp) for r in L.read_message_set(L.down_convert(v0 + v1, 0))] == [
        (3, 0, -1), (4, 0, -1)]
    with pytest.raises(EncodeError):
        L.down_convert(R.build_batch([Record(0, 1, None, b"x")], compression=CompressionType.ZSTD), 1)
    with pytest.raises(EncodeError):
        L.down_convert(b"", 2)


def test_read_records_mixed_formats() -> None:
    blob = (L.encode_message(0, None, b"a", magic=0)
            + L.build_message_set([LegacyRecord(1, 50, b"k", b"b")], magic=1, compression=CompressionType.SNAPPY)
            + R.build_batch([Record(2, 60, None, b"c", (("h", None),))], compression=CompressionType.LZ4)
            + R.build_end_txn_marker(commit=False, producer_id=1, producer_epoch=0, coordinator_epoch=3, base_offset=3))
    assert L.read_records(blob) == [Record(0, -1, None, b"a"), Record(1, 50, b"k", b"b"),
                                    Record(2, 60, None, b"c", (("h", None),))]
    assert len(L.read_records(blob, include_control=True)) == 4
    assert len(L.read_records(blob + blob[:20], allow_truncated_tail=True)) == 3


def test_encode_misuse() -> None:
    with pytest.raises(EncodeError):
        L.encode_message(0, None, b"x", magic=2)
    with pytest.raises(EncodeError):
        L.build_message_set([], magic=1, compression=CompressionType.ZSTD)
    with pytest.raises(EncodeError):
        L.build_message_set([], magic=1, timestamp_type=TimestampType.LOG_APPEND_TIME)
    with pytest.raises(EncodeError):
        L.encode_message(0, "k", b"x")  # type: ignore[arg-type]


def _consume(blob: bytes) -> None:
    try:
        L.read_records(blob, allow_truncated_tail=len(blob) % 2 == 1, max_size=1 << 20)
    except DecodeError:
        pass
    try:
        L.down_convert(blob, 1, allow_truncated_tail=True)
    except (DecodeError, EncodeError):
        pass
    try:
        L.up_convert(blob)
    except DecodeError:
        pass


@given(st.binary(max_size=120))
@settings(max_examples=200, deadline=None)
def test_fuzz_random_bytes(blob: bytes) -> None:
    _consume(blob)


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", LEGACY_CODECS)
@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_fuzz_mutated_message_sets(magic: int, codec: CompressionType, data: st.DataObject) -> None:
    records = data.draw(legacy_lists(magic, max_records=4))
    blob = bytearray(L.build_message_set(records, magic=magic, compression=codec))
    if not blob:
        return
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            blob[pos] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del blob[pos:]
        else:
            blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=6))
        if not blob:
            break
    if data.draw(st.booleans()) and len(blob) > 16:  # re-seal the CRC so the mutation reaches the decoder
        struct.pack_into(">I", blob, 12, zlib.crc32(bytes(blob[16:])))
    _consume(bytes(blob))

"""Oracle: kafka-python's own record builders and readers agree with ours, both ways, for every codec.

kafka-python needs python-snappy, lz4, zstandard (and xxhash for magic-0 LZ4) for its codecs.
When they are installed they are used as they are (a fully independent oracle). When they
are not, the raw codec primitive is provided by cramjam through small stand-in modules, so
kafka-python's own framing code still runs: its xerial snappy framing, its record and
message-set layouts, its CRCs. Magic-0 LZ4 needs the real ``xxhash`` and is skipped without it.
"""

from __future__ import annotations

import io
import types
from collections.abc import Iterator

import cramjam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wire.kafka import legacy_records as L
from wire.kafka import records as R
from wire.kafka.compression import CompressionType
from wire.kafka.records import Record, RecordBatch

kafka_codec = pytest.importorskip("kafka.codec")
from kafka.record import default_records as kp_default  # noqa: E402
from kafka.record import legacy_records as kp_legacy  # noqa: E402
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder  # noqa: E402
from kafka.record.legacy_records import LegacyRecordBatchBuilder  # noqa: E402
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder  # noqa: E402

TS = 1_700_000_000_000


def _snappy_stand_in() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        compress=lambda data: bytes(cramjam.snappy.compress_raw(bytes(data))),
        decompress=lambda data: bytes(cramjam.snappy.decompress_raw(bytes(data))),
    )


class _ZstdReader:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def __enter__(self) -> _ZstdReader:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self) -> bytes:
        return bytes(cramjam.zstd.decompress(self._data))


def _zstd_stand_in() -> types.SimpleNamespace:
    class ZstdCompressor:
        def compress(self, data: bytes) -> bytes:
            return bytes(cramjam.zstd.compress(bytes(data), level=3))

    class ZstdDecompressor:
        def stream_reader(self, fileobj: io.BytesIO, read_across_frames: bool = True) -> _ZstdReader:
            return _ZstdReader(fileobj.read())

    return types.SimpleNamespace(ZstdCompressor=ZstdCompressor, ZstdDecompressor=ZstdDecompressor)


def _lz4_encode(payload: bytes) -> bytes:
    comp = cramjam.lz4.Compressor(block_linked=False)  # Kafka needs independent blocks
    comp.compress(bytes(payload))
    return bytes(comp.finish())


def _lz4_decode(payload: bytes) -> bytes:
    return bytes(cramjam.lz4.decompress(bytes(payload)))


@pytest.fixture(scope="module", autouse=True)
def kafka_python_codecs() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        if not kafka_codec.has_snappy():
            mp.setattr(kafka_codec, "snappy", _snappy_stand_in())
        if not kafka_codec.has_zstd():
            mp.setattr(kafka_codec, "zstd", _zstd_stand_in())
        if not kafka_codec.has_lz4():
            mp.setattr(kafka_codec, "lz4", types.SimpleNamespace())
            for mod in (kafka_codec, kp_default, kp_legacy):
                mp.setattr(mod, "lz4_encode", _lz4_encode)
                mp.setattr(mod, "lz4_decode", _lz4_decode)
        yield


def real_xxhash() -> bool:
    return kafka_codec.xxhash is not None


values = st.one_of(
    st.none(),
    st.binary(max_size=20),
    st.integers(0, 400).map(lambda n: b"compressible payload " * (n // 20 + 1)),
)
header_lists = st.lists(st.tuples(st.text(max_size=5), st.one_of(st.none(), st.binary(max_size=5))), max_size=3)
entries = st.lists(st.tuples(values, values, header_lists, st.integers(0, 10**6)), min_size=1, max_size=10)


def kp_records(batch: object) -> list[Record]:
    return [Record(r.offset, r.timestamp, r.key, r.value, tuple((k, v) for k, v in r.headers))
            for r in batch]  # type: ignore[attr-defined]


@pytest.mark.parametrize("codec", list(CompressionType))
@given(items=entries, transactional=st.booleans())
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_v2_kafka_python_built_decodes_with_ours(codec: int, items: list, transactional: bool) -> None:
    pid, epoch, seq = (1234, 5, 99) if transactional else (-1, -1, -1)
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=transactional,
                                        producer_id=pid, producer_epoch=epoch, base_sequence=seq, batch_size=1 << 22)
    for i, (key, value, headers, dt) in enumerate(items):
        builder.append(i, timestamp=TS + dt, key=key, value=value, headers=headers)
    data = bytes(builder.build())
    theirs = kp_records(DefaultRecordBatch(data))
    (batch,) = R.split_batches(data)
    batch.validate()
    assert batch.records() == theirs
    h = batch.header
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.is_transactional) == (pid, epoch, seq, transactional)
    assert h.compression in (0, codec)  # kafka-python skips compression that does not help


@pytest.mark.parametrize("codec", list(CompressionType))
@given(items=entries, snappy_xerial=st.booleans())
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_v2_ours_decodes_with_kafka_python(codec: CompressionType, items: list, snappy_xerial: bool) -> None:
    recs = [Record(7 + i, TS + dt, key, value, tuple(headers)) for i, (key, value, headers, dt) in enumerate(items)]
    data = R.build_batch(recs, compression=codec, producer_id=9, producer_epoch=1, base_sequence=0,
                         snappy_xerial=snappy_xerial)
    theirs = DefaultRecordBatch(data)
    assert theirs.validate_crc()
    assert theirs.compression_type == codec and theirs.base_offset == 7
    assert (theirs.producer_id, theirs.producer_epoch, theirs.base_sequence) == (9, 1, 0)
    assert kp_records(theirs) == recs


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", [0, 1, 2, 3])
@given(items=entries)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_legacy_both_ways(magic: int, codec: int, items: list) -> None:
    if codec == 3 and magic == 0 and not real_xxhash():
        pytest.skip("magic-0 LZ4 in kafka-python needs the xxhash package")
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=codec, batch_size=1 << 22)
    for i, (key, value, _headers, dt) in enumerate(items):
        builder.append(i, timestamp=TS + dt, key=key, value=value)
    data = bytes(builder.build())
    theirs = [(r.offset, r.timestamp, r.key, r.value) for b in _kp_batches(data) for r in b]
    ours = L.read_message_set(data)
    assert [(r.offset, None if magic == 0 else r.timestamp, r.key, r.value) for r in ours] == theirs
    # and back: our encoding read by kafka-python
    again = L.build_message_set(ours, magic=magic, compression=codec)
    assert [(r.offset, r.timestamp, r.key, r.value) for b in _kp_batches(again) for r in b] == theirs


def _kp_batches(data: bytes) -> Iterator[object]:
    mr = MemoryRecords(data)
    while mr.has_next():
        batch = mr.next_batch()
        assert batch.validate_crc()
        yield batch


def test_memory_records_builder_multiple_batches() -> None:
    blobs = []
    for codec in (0, 1, 2, 3, 4):
        mrb = MemoryRecordsBuilder(magic=2, compression_type=codec, batch_size=1 << 20, offset=codec * 10)
        for i in range(3):
            mrb.append(timestamp=TS + i, key=b"k", value=b"a fairly compressible value " * 5)
        mrb.close()
        blobs.append(bytes(mrb.buffer()))
    batches = R.split_batches(b"".join(blobs))
    # kafka-python writes baseOffset 0 and the builder's offsets as offsetDelta (lastOffsetDelta follows)
    assert [b.base_offset for b in batches] == [0] * 5
    assert [b.header.last_offset_delta for b in batches] == [2, 12, 22, 32, 42]
    assert [b.compression for b in batches] == [0, 1, 2, 3, 4]
    for codec, b in enumerate(batches):
        b.validate()
        assert [r.offset for r in b.records()] == [codec * 10 + i for i in range(3)]


@pytest.mark.parametrize("magic", [0, 1])
def test_conversions_read_by_kafka_python(magic: int) -> None:
    recs = [Record(20 + i, TS + i, b"k%d" % i, b"value %d " % i * 10, (("h", b"x"),)) for i in range(4)]
    v2 = b"".join(R.build_batch(recs[i:i + 2], compression=c) for i, c in ((0, 1), (2, 0)))
    down = L.down_convert(v2, magic)
    got = [(r.offset, r.timestamp, r.key, r.value) for b in _kp_batches(down) for r in b]
    assert got == [(r.offset, r.timestamp if magic else None, r.key, r.value) for r in recs]
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=2, batch_size=1 << 20)
    for r in recs:
        builder.append(r.offset - 20, timestamp=r.timestamp, key=r.key, value=r.value)
    up = L.up_convert(bytes(builder.build()), base_offset=100)
    theirs = DefaultRecordBatch(up)
    assert theirs.validate_crc() and theirs.compression_type == 2
    assert [(r.offset, r.timestamp, r.key, r.value) for r in theirs] == [
        (100 + i, r.timestamp if magic else -1, r.key, r.value) for i, r in enumerate(recs)]


def test_control_batch_reads_as_control_in_kafka_python() -> None:
    data = R.build_end_txn_marker(commit=True, producer_id=5, producer_epoch=2, coordinator_epoch=11, timestamp=TS)
    theirs = DefaultRecordBatch(data)
    assert theirs.validate_crc() and theirs.is_control_batch and theirs.is_transactional
    (rec,) = list(theirs)
    assert rec.type == 1 and rec.commit
    assert RecordBatch(data).records()[0].value == rec.value

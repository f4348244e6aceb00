"""The log cleaner: time and size retention, key compaction, over memory and segment-file logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from broker.config import BrokerConfig, parse_properties
from broker.core import BrokerCore
from broker.state.cluster import BrokerInfo
from broker.state.filelog import FileLog
from broker.tests.test_core import ctx, fetch_req, produce
from wire.kafka.compression import CompressionType
from wire.kafka.error_codes import ErrorCode
from wire.kafka.records import BatchBuilder, RecordBatch, split_batches

INTERVAL = 100


def make(root: Path | None = None, **cfg: Any) -> BrokerCore:
    config = BrokerConfig(port=0, data_dir=root, flush_messages=1, retention_check_interval_ms=INTERVAL, **cfg)
    return BrokerCore(config, [BrokerInfo(1, "127.0.0.1", 9001)])


def kbatch(pairs: list[tuple[bytes | None, bytes | None]], ts: int, pid: int = -1, seq: int = -1,
           compression: CompressionType = CompressionType.NONE) -> bytes:
    b = BatchBuilder(compression=compression, producer_id=pid, producer_epoch=0 if pid >= 0 else -1,
                     base_sequence=seq)
    for key, value in pairs:
        b.append(value, key, timestamp=ts)
    return b.build()


def fetch(core: BrokerCore, topic: str, offset: int) -> Any:
    return core.handle(ctx(1, 12), fetch_req(topic, offset), core.now_ms).responses[0].partitions[0]


def batches(core: BrokerCore, topic: str, offset: int = 0) -> list[RecordBatch]:
    part = fetch(core, topic, offset)
    assert part.error_code == 0
    return split_batches(part.records)


def records(core: BrokerCore, topic: str, offset: int = 0) -> list[tuple[int, bytes | None, bytes | None]]:
    return [(r.offset, r.key, r.value) for b in batches(core, topic, offset) for r in b.records()]


def run_cleaner(core: BrokerCore, wall: int) -> None:
    """Tick at core time ``wall`` (wall_offset is 0 here) once the check interval allows it."""
    core.next_clean_ms = min(core.next_clean_ms, wall)
    core.tick(wall)


def test_the_cleaner_runs_every_check_interval() -> None:
    core = make()
    assert core.next_deadline() == INTERVAL
    core.cluster.create_topic("t", 1, 1, {"retention.ms": "1000"})
    produce(core, "t", kbatch([(b"a", b"1")], ts=0))
    core.tick(50)  # not due yet
    assert core.cluster.partition("t", 0).log.log_start_offset == 0  # type: ignore[union-attr]
    core.tick(2000)
    assert core.next_deadline() == 2000 + INTERVAL
    assert core.cluster.partition("t", 0).log.log_start_offset == 1  # type: ignore[union-attr]
    assert parse_properties("log.retention.check.interval.ms=250\n").retention_check_interval_ms == 250


@pytest.mark.parametrize("durable", [False, True])
def test_time_retention_drops_old_batches_and_fetches_follow(tmp_path: Path, durable: bool) -> None:
    core = make(tmp_path if durable else None, log_segment_bytes=1)  # one batch per segment file
    core.cluster.create_topic("t", 1, 1, {"retention.ms": "10000"})
    for i, ts in enumerate([1000, 2000, 50000, 60000]):
        produce(core, "t", kbatch([(b"k%d" % i, b"v%d" % i), (b"x", b"y")], ts=ts))
    run_cleaner(core, 30000)  # the first two batches are more than 10 s old
    plog = core.cluster.partition("t", 0).log  # type: ignore[union-attr]
    assert plog.log_start_offset == 4 and plog.high_watermark == 8
    assert [o for o, _, _ in records(core, "t", 4)] == [4, 5, 6, 7]
    assert fetch(core, "t", 3).error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    lo = core.handle(ctx(2, 1), _list_offsets("t", -2), core.now_ms)
    assert lo.topics[0].partitions[0].offset == 4
    if durable:
        assert len(list((tmp_path / "t-0").glob("*.log"))) == 2
        core.close()
        again = make(tmp_path)
        assert again.cluster.partition("t", 0).log.log_start_offset == 4  # type: ignore[union-attr]
        assert [o for o, _, _ in records(again, "t", 4)] == [4, 5, 6, 7]
        assert fetch(again, "t", 2).error_code == ErrorCode.OFFSET_OUT_OF_RANGE


@pytest.mark.parametrize("durable", [False, True])
def test_everything_expired_leaves_an_empty_log_at_the_same_end(tmp_path: Path, durable: bool) -> None:
    core = make(tmp_path if durable else None)  # one big segment: the active one goes too, as in Kafka
    core.cluster.create_topic("t", 1, 1, {"retention.ms": "1000"})
    for i in range(3):
        produce(core, "t", kbatch([(b"k", b"v%d" % i)], ts=100))
    run_cleaner(core, 5000)
    plog = core.cluster.partition("t", 0).log  # type: ignore[union-attr]
    assert (plog.log_start_offset, plog.next_offset, plog.high_watermark) == (3, 3, 3)
    assert fetch(core, "t", 3).records in (b"", None)
    assert produce(core, "t", kbatch([(b"k", b"new")], ts=6000)).responses[0].partition_responses[0].base_offset == 3
    if durable:
        core.close()
        again = make(tmp_path)
        plog = again.cluster.partition("t", 0).log  # type: ignore[union-attr]
        assert (plog.log_start_offset, plog.next_offset) == (3, 4)
        assert records(again, "t", 3) == [(3, b"k", b"new")]


@pytest.mark.parametrize("durable", [False, True])
def test_size_retention_drops_the_oldest_while_over_the_limit(tmp_path: Path, durable: bool) -> None:
    core = make(tmp_path if durable else None, log_segment_bytes=1)
    one = kbatch([(b"k", b"v" * 100)], ts=10**12)
    core.cluster.create_topic("t", 1, 1, {"retention.bytes": str(len(one) * 2 + 10)})
    for _ in range(5):
        produce(core, "t", one)
    run_cleaner(core, 10**12)
    # as Kafka: a segment goes only while what remains is still at least retention.bytes
    plog = core.cluster.partition("t", 0).log  # type: ignore[union-attr]
    assert plog.log_start_offset == 2 and plog.size_bytes == 3 * len(one)
    assert [o for o, _, _ in records(core, "t", 2)] == [2, 3, 4]
    core.cluster.topics["t"].configs["retention.bytes"] = str(len(one) * 2)
    run_cleaner(core, 10**12 + 1)
    assert plog.log_start_offset == 3 and plog.size_bytes == 2 * len(one)
    if durable:
        core.close()
        again = make(tmp_path)
        assert again.cluster.partition("t", 0).log.log_start_offset == 3  # type: ignore[union-attr]
        assert [o for o, _, _ in records(again, "t", 3)] == [3, 4]


def test_retention_never_passes_the_high_watermark_and_skips_compact_only_topics() -> None:
    core = make()
    core.cluster.create_topic("t", 1, 1, {"retention.ms": "1000"})
    core.cluster.create_topic("c", 1, 1, {"retention.ms": "1000", "cleanup.policy": "compact"})
    produce(core, "t", kbatch([(b"k", b"v")], ts=0))
    produce(core, "c", kbatch([(b"k", b"v")], ts=0))
    produce(core, "t", kbatch([(b"k", b"v")], ts=0))
    core.cluster.partition("t", 0).log.high_watermark = 1  # type: ignore[union-attr]
    run_cleaner(core, 10**6)
    assert core.cluster.partition("t", 0).log.log_start_offset == 1  # type: ignore[union-attr]
    assert core.cluster.partition("c", 0).log.log_start_offset == 0  # type: ignore[union-attr]


def _list_offsets(topic: str, ts: int) -> Any:
    from wire.kafka.messages.list_offsets import ListOffsetsRequest as L
    return L(replica_id=-1, topics=[L.ListOffsetsTopic(topic, [L.ListOffsetsPartition(0, timestamp=ts)])])


@pytest.mark.parametrize("durable", [False, True])
def test_compaction_keeps_the_latest_value_per_key_at_its_offset(tmp_path: Path, durable: bool) -> None:
    core = make(tmp_path if durable else None, log_segment_bytes=1)
    core.cluster.create_topic("c", 1, 1, {"cleanup.policy": "compact", "delete.retention.ms": "1000"})
    ts = 10_000
    pid, _ = core.producers.init_producer(None)
    produce(core, "c", kbatch([(b"a", b"a1"), (b"b", b"b1"), (None, b"nokey")], ts, compression=CompressionType.GZIP))
    produce(core, "c", kbatch([(b"a", b"a2"), (b"c", b"c1")], ts, pid=pid, seq=0))  # 3, 4
    produce(core, "c", kbatch([(b"b", None), (b"a", b"a3")], ts))  # 5 (tombstone), 6
    produce(core, "c", kbatch([(b"c", b"c2")], ts, pid=pid, seq=2))  # 7
    produce(core, "c", kbatch([(b"a", b"a4")], ts))  # 8: the active segment, never compacted
    run_cleaner(core, ts + 500)  # the tombstone is young: it stays
    expect = [(2, None, b"nokey"), (5, b"b", None), (6, b"a", b"a3"), (7, b"c", b"c2"), (8, b"a", b"a4")]
    assert records(core, "c") == expect
    bs = batches(core, "c")
    # batch 3-4 lost every record and is not the producer's last: it goes; 0-2 keeps its offset span
    assert [(b.base_offset, b.last_offset) for b in bs] == [(0, 2), (5, 6), (7, 7), (8, 8)]
    assert bs[0].compression == CompressionType.GZIP
    assert (bs[2].header.producer_id, bs[2].header.producer_epoch, bs[2].header.base_sequence) == (pid, 0, 2)
    for b in bs:
        b.validate()
    plog = core.cluster.partition("c", 0).log  # type: ignore[union-attr]
    assert (plog.log_start_offset, plog.high_watermark, plog.next_offset) == (0, 9, 9)
    # fetching inside a compacted-away range returns the next batch there is
    assert records(core, "c", 4)[0][0] == 5
    run_cleaner(core, ts + 5000)  # now the tombstone is old enough to go
    final = [(2, None, b"nokey"), (6, b"a", b"a3"), (7, b"c", b"c2"), (8, b"a", b"a4")]
    assert records(core, "c") == final
    if durable:
        core.close()
        again = make(tmp_path)
        assert records(again, "c") == final
        plog = again.cluster.partition("c", 0).log  # type: ignore[union-attr]
        assert (plog.log_start_offset, plog.next_offset) == (0, 9)


def test_compaction_keeps_the_empty_last_batch_of_a_producer() -> None:
    core = make()
    core.cluster.create_topic("c", 1, 1, {"cleanup.policy": "compact"})
    pid, _ = core.producers.init_producer(None)
    produce(core, "c", kbatch([(b"a", b"1")], 0, pid=pid, seq=0))
    produce(core, "c", kbatch([(b"a", b"2")], 0))
    produce(core, "c", kbatch([(b"z", b"active")], 0))
    run_cleaner(core, 1000)
    bs = batches(core, "c")
    assert [(b.base_offset, b.records_count, b.header.producer_id) for b in bs] == [(0, 0, pid), (1, 1, -1), (2, 1, -1)]


def test_compaction_respects_min_compaction_lag_and_skips_transactional_batches() -> None:
    core = make()
    core.cluster.create_topic("c", 1, 1, {"cleanup.policy": "compact", "min.compaction.lag.ms": "1000"})
    produce(core, "c", kbatch([(b"a", b"1")], 0))
    produce(core, "c", kbatch([(b"a", b"2")], 5000))  # too young: the cleanable part stops before it
    produce(core, "c", kbatch([(b"a", b"3")], 5000))
    produce(core, "c", kbatch([(b"z", b"active")], 5000))
    run_cleaner(core, 5500)
    assert [o for o, _, _ in records(core, "c")] == [0, 1, 2, 3]
    run_cleaner(core, 7000)
    assert [o for o, _, _ in records(core, "c")] == [2, 3]


def test_durable_delete_records_survives_a_restart(tmp_path: Path) -> None:
    core = make(tmp_path, log_segment_bytes=1)
    core.cluster.create_topic("t", 1, 1)
    for i in range(4):
        produce(core, "t", kbatch([(b"k", b"v%d" % i), (b"k", b"w")], ts=0))
    plog = core.cluster.partition("t", 0).log  # type: ignore[union-attr]
    assert isinstance(plog, FileLog)
    plog.delete_before(5)
    assert len(list((tmp_path / "t-0").glob("*.log"))) == 2
    core.close()
    again = make(tmp_path)
    assert again.cluster.partition("t", 0).log.log_start_offset == 5  # type: ignore[union-attr]
    assert fetch(again, "t", 4).error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert [o for o, _, _ in records(again, "t", 5)] == [4, 5, 6, 7]  # the batch holding 5 starts at 4

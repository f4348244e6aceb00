"""Replication without sockets: the log primitives a follower uses, the leader's ISR and high watermark, acks=all.

The leader-side tests drive a ZooKeeper-mode core by applying ZooKeeper events to it directly (no bridge, no
controller): broker 1 leads a partition replicated on 1, 2 and 3; followers are Fetch requests with a replica
id; time is passed in.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from broker.config import BrokerConfig
from broker.core import BrokerCore, Pending, RequestContext
from broker.replication.fetcher import apply_fetched, followed, truncate, truncation_target
from broker.replication.leader import replication
from broker.state.cluster import BrokerInfo, Partition
from broker.state.filelog import FileLog, FlushPolicy
from broker.state.log import PartitionLog
from broker.zk.model import (
    ClaimProducerIds, ProducerIdsClaimed,
    BrokerRegistration, BrokersChanged, ClusterIdKnown, ControllerChanged, PartitionState, PartitionStatesChanged,
    SetPartitionStates, TopicAssignment, TopicsChanged,
)
from wire.kafka.error_codes import ErrorCode
from wire.kafka.headers import RequestHeader
from wire.kafka.messages.fetch import FetchRequest
from wire.kafka.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest as OE
from wire.kafka.messages.produce import ProduceRequest
from wire.kafka.records import BatchBuilder, RecordBatch, split_batches


def batch(values: list[bytes], base: int = 0, epoch: int | None = None) -> bytes:
    b = BatchBuilder(base_offset=base)
    for v in values:
        b.append(v, b"k", timestamp=1000)
    data = b.build()
    return data if epoch is None else RecordBatch(data).with_base_offset(base, epoch)


def leader_log(epochs_and_sizes: list[tuple[int, int]]) -> PartitionLog:
    """A leader's log: for each (epoch, n), n one-record batches appended at that leader epoch."""
    plog = PartitionLog()
    for epoch, n in epochs_and_sizes:
        for _ in range(n):
            data = bytearray(batch([b"v"]))
            plog.append(data, RecordBatch(data).header, epoch)
    plog.advance_high_watermark()
    return plog


def raw(plog: PartitionLog, start: int = 0) -> bytes:
    return plog.read(start, 1 << 30, upper=plog.next_offset)


# -- log primitives -----------------------------------------------------------------------------

def test_append_replica_keeps_offsets_and_epochs_and_skips_what_is_held() -> None:
    leader = leader_log([(0, 2), (3, 2)])
    follower = PartitionLog()
    stored = follower.append_replica(raw(leader))
    assert [(b.base_offset, b.last_offset) for b in stored] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert raw(follower) == raw(leader)  # byte for byte
    assert follower.epochs == [(0, 0), (3, 2)] == leader.epochs
    assert follower.next_offset == 4 and follower.high_watermark == 0  # the fetcher moves the HW
    assert follower.append_replica(raw(leader)) == []  # all held already
    with pytest.raises(ValueError):
        follower.append_replica(batch([b"x", b"y"], base=3, epoch=3))  # overlaps the log end
    follower.append_replica(batch([b"z"], base=10, epoch=4))  # a gap (compaction) is fine
    assert follower.next_offset == 11 and follower.latest_epoch == 4


def test_truncate_to_removes_whole_batches_and_epochs() -> None:
    plog = PartitionLog()
    plog.append_replica(batch([b"a", b"b"], base=0, epoch=1) + batch([b"c", b"d"], base=2, epoch=2)
                        + batch([b"e"], base=4, epoch=5))
    plog.advance_high_watermark(5)
    plog.truncate_to(3)  # offset 3 is inside the 2-3 batch: it goes whole
    assert plog.next_offset == 2 and plog.high_watermark == 2 and plog.epochs == [(1, 0)]
    assert [b.base_offset for b in plog.batches] == [0]
    plog.truncate_to(7)  # beyond the end: nothing
    assert plog.next_offset == 2
    plog.append_replica(batch([b"x"], base=2, epoch=6))
    assert plog.epochs == [(1, 0), (6, 2)]


def test_end_offset_for_epoch_as_kafka_leader_epoch_cache() -> None:
    plog = leader_log([(1, 2), (3, 3), (4, 1)])  # epoch 1: 0-1, epoch 3: 2-4, epoch 4: 5
    assert plog.end_offset_for_epoch(4) == (4, 6)
    assert plog.end_offset_for_epoch(3) == (3, 5)
    assert plog.end_offset_for_epoch(2) == (1, 2)  # largest epoch <= 2, ending where 3 starts
    assert plog.end_offset_for_epoch(0) == (0, 0)  # older than any: the first epoch's start
    assert plog.end_offset_for_epoch(9) == (-1, -1)
    assert plog.end_offset_for_epoch(4, current_epoch=6) == (4, 6)
    assert plog.end_offset_for_epoch(5, current_epoch=6) == (4, 6)
    assert plog.end_offset_for_epoch(6, current_epoch=6) == (6, 6)
    assert PartitionLog().end_offset_for_epoch(0, current_epoch=0) == (0, 0)


def test_file_log_replica_append_and_truncation_survive_a_restart(tmp_path: Path) -> None:
    leader = leader_log([(0, 3), (2, 3)])
    d = tmp_path / "t-0"
    flog = FileLog(d, FlushPolicy(), segment_bytes=200)  # small segments: truncation crosses segment files
    flog.append_replica(raw(leader))
    assert len(list(d.glob("*.log"))) > 1
    flog.truncate_to(4)
    assert flog.next_offset == 4 and flog.epochs == [(0, 0), (2, 3)]
    flog.append_replica(batch([b"new"], base=4, epoch=3))
    flog.close(clean=False)
    again = FileLog(d, FlushPolicy(), segment_bytes=200)
    assert [(b.base_offset, bytes(b.data)) for b in again.batches] == [(b.base_offset, bytes(b.data))
                                                                        for b in flog.batches]
    assert again.next_offset == 5 and again.epochs == [(0, 0), (2, 3), (3, 4)]
    again.truncate_to(0)
    again.close(clean=True)
    empty = FileLog(d, FlushPolicy(), segment_bytes=200)
    assert empty.batches == [] and empty.next_offset == 0


# -- follower truncation (KIP-101 / KIP-279) -------------------------------------------------------

def _follower(epochs_and_sizes: list[tuple[int, int]]) -> Partition:
    p = Partition(0, 1, [1, 2, 3], log=PartitionLog())
    p.log.append_replica(raw(leader_log(epochs_and_sizes)))
    p.log.advance_high_watermark(1)
    return p


def test_truncation_target() -> None:
    # the follower has epoch 2 at 3-5 that the new leader (epoch 3) never had: the leader's epoch 1 ends at 3
    p = _follower([(1, 3), (2, 3)])
    assert truncation_target(p, 1, 3) == (3, True)  # our epoch 1 ends at 3 too: cut there
    # same epoch on both sides: the smaller end
    p = _follower([(1, 5)])
    assert truncation_target(p, 1, 3) == (3, True)
    assert truncation_target(p, 1, 9) == (5, True)
    # the leader knows no such epoch: the high watermark
    assert truncation_target(p, -1, -1) == (1, True)
    # leader answers an epoch we never had, below ours: cut to where our history below it ends, ask again
    p = _follower([(1, 2), (4, 2)])
    assert truncation_target(p, 3, 10) == (2, False)


# -- the leader: ISR, high watermark, acks=all -------------------------------------------------------

T = "r"


def zk_core(isr: list[int] | None = None, lag_ms: int = 1000, min_isr: str | None = None) -> BrokerCore:
    config = BrokerConfig(port=0, first_node_id=1, zookeeper_connect="memory", replica_lag_time_max_ms=lag_ms)
    core = BrokerCore(config, [BrokerInfo(1, "127.0.0.1", 9001)])
    assert core.zk is not None
    core.zk.apply(ClusterIdKnown("c"))
    core.zk.apply(BrokersChanged({n: BrokerRegistration(n, "127.0.0.1", 9000 + n) for n in (1, 2, 3)}))
    core.zk.apply(ControllerChanged(99, 1, 1))  # someone else controls: no controller logic here
    configs = {"min.insync.replicas": min_isr} if min_isr else {}
    core.zk.apply(TopicsChanged({T: TopicAssignment(T, uuid.uuid4(), {0: [1, 2, 3]})}, {T: configs}))
    set_state(core, PartitionState(1, 0, isr or [1, 2, 3], 1, zk_version=0))
    core.zk.apply(ProducerIdsClaimed(0, 999))  # the block claimed at start-up
    assert core.zk.take_writes() == [ClaimProducerIds(1)]
    return core


def set_state(core: BrokerCore, state: PartitionState) -> None:
    assert core.zk is not None
    core.zk.apply(PartitionStatesChanged({(T, 0): state}))


def ctx(key: int, version: int) -> RequestContext:
    return RequestContext(1, RequestHeader(key, version, 1, "test"))


def produce(core: BrokerCore, values: list[bytes], acks: int = -1, now: int = 0) -> Any:
    req = ProduceRequest(acks=acks, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        T, [ProduceRequest.PartitionProduceData(0, batch(values))])])
    return core.handle(ctx(0, 9), req, now)


def follower_fetch(core: BrokerCore, replica: int, offset: int, now: int, epoch: int = 0) -> Any:
    req = FetchRequest(replica_id=replica, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
                       session_epoch=-1, topics=[FetchRequest.FetchTopic(topic=T, partitions=[
                           FetchRequest.FetchPartition(partition=0, current_leader_epoch=epoch, fetch_offset=offset,
                                                       partition_max_bytes=1 << 20)])])
    return core.handle(ctx(1, 12), req, now)


def consumer_fetch(core: BrokerCore, now: int) -> Any:
    req = FetchRequest(max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0, topics=[
        FetchRequest.FetchTopic(topic=T, partitions=[FetchRequest.FetchPartition(partition=0, fetch_offset=0,
                                                                                 partition_max_bytes=1 << 20)])])
    resp: Any = core.handle(ctx(1, 12), req, now)
    return resp.responses[0].partitions[0]


def plog(core: BrokerCore) -> PartitionLog:
    p = core.cluster.partition(T, 0)
    assert p is not None
    return p.log


def test_acks_all_waits_for_the_isr_and_consumers_see_only_below_the_high_watermark() -> None:
    core = zk_core()
    pending: Any = produce(core, [b"a", b"b"])
    assert isinstance(pending, Pending) and pending.deadline_ms == 1000
    assert plog(core).next_offset == 2 and plog(core).high_watermark == 0
    assert consumer_fetch(core, 0).records == b""  # nothing committed yet
    assert pending.poll(10, False) is None
    # follower 2 fetches from 0 (gets the batch), then from 2: not enough while 3 has not
    part = follower_fetch(core, 2, 0, 10).responses[0].partitions[0]
    assert part.records and part.high_watermark == 0  # followers read up to the log end
    follower_fetch(core, 2, 2, 20)
    assert plog(core).high_watermark == 0 and pending.poll(20, False) is None
    follower_fetch(core, 3, 2, 30)
    assert plog(core).high_watermark == 2
    done: Any = pending.poll(30, False)
    assert done is not None and done.responses[0].partition_responses[0].error_code == 0
    assert [r.value for b in split_batches(consumer_fetch(core, 30).records) for r in b.records()] == [b"a", b"b"]
    # acks=1 answers after the local append, before replication
    one = produce(core, [b"c"], acks=1, now=40)
    assert not isinstance(one, Pending) and one.responses[0].partition_responses[0].base_offset == 2
    assert plog(core).high_watermark == 2


def test_acks_all_times_out_and_fails_when_leadership_moves() -> None:
    core = zk_core()
    pending: Any = produce(core, [b"a"])
    assert isinstance(pending, Pending)
    timed_out: Any = pending.poll(1000, True)
    assert timed_out.responses[0].partition_responses[0].error_code == ErrorCode.REQUEST_TIMED_OUT
    # a new leader epoch with this broker still leading (the controller dropped a dead follower) keeps waiting
    pending = produce(core, [b"b"], now=1000)
    set_state(core, PartitionState(1, 1, [1, 2], 1, zk_version=1))
    assert pending.poll(1005, False) is None
    follower_fetch(core, 2, 2, 1006, epoch=1)
    assert pending.poll(1007, False).responses[0].partition_responses[0].error_code == 0
    # leadership moves away: NOT_LEADER_OR_FOLLOWER at once
    pending = produce(core, [b"c"], now=1010)
    set_state(core, PartitionState(2, 2, [2], 1, zk_version=2))
    moved = pending.poll(1010, False)
    assert moved.responses[0].partition_responses[0].error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER


def test_min_insync_replicas_refuses_acks_all_before_appending() -> None:
    core = zk_core(isr=[1], min_isr="2")
    refused = produce(core, [b"a"])
    assert refused.responses[0].partition_responses[0].error_code == ErrorCode.NOT_ENOUGH_REPLICAS
    assert plog(core).next_offset == 0
    ok = produce(core, [b"a"], acks=1)  # acks=1 does not care
    assert ok.responses[0].partition_responses[0].error_code == 0


def test_a_lagging_follower_leaves_the_isr_and_a_caught_up_one_rejoins() -> None:
    core = zk_core(lag_ms=1000)
    assert core.zk is not None
    rep = replication(core)
    pending: Any = produce(core, [b"a"])
    follower_fetch(core, 2, 1, 100)  # 2 is caught up; 3 never fetches
    rep.check(500)
    assert core.zk.outbox == []  # within the lag time
    rep.check(1001)
    writes = core.zk.take_writes()
    assert writes == [SetPartitionStates({(T, 0): PartitionState(1, 0, [1, 2], 1, zk_version=0)}, isr_change=True)]
    rep.check(1500)
    assert core.zk.take_writes() == []  # pending until ZooKeeper answers
    set_state(core, PartitionState(1, 0, [1, 2], 1, zk_version=1))  # the write came back
    assert rep.check(1500)  # the ISR is {1, 2} now: the high watermark moves
    assert plog(core).high_watermark == 1
    assert pending.poll(1500, False).responses[0].partition_responses[0].error_code == 0
    # 3 comes back behind the high watermark: not yet in sync; then at the log end: it rejoins
    follower_fetch(core, 3, 0, 1600)
    assert core.zk.take_writes() == []
    follower_fetch(core, 3, 1, 1700)
    assert core.zk.take_writes() == [
        SetPartitionStates({(T, 0): PartitionState(1, 0, [1, 2, 3], 1, zk_version=1)}, isr_change=True)]


def test_a_follower_with_a_stale_epoch_is_fenced() -> None:
    core = zk_core()
    set_state(core, PartitionState(1, 2, [1, 2, 3], 1, zk_version=1))
    stale = follower_fetch(core, 2, 0, 0, epoch=1).responses[0].partitions[0]
    assert stale.error_code == ErrorCode.FENCED_LEADER_EPOCH
    ahead = follower_fetch(core, 2, 0, 0, epoch=3).responses[0].partitions[0]
    assert ahead.error_code == ErrorCode.UNKNOWN_LEADER_EPOCH


def test_offset_for_leader_epoch_answers_from_the_epoch_history() -> None:
    core = zk_core()
    produce(core, [b"a"], acks=1)
    set_state(core, PartitionState(1, 2, [1, 2, 3], 1, zk_version=1))
    produce(core, [b"b", b"c"], acks=1)
    set_state(core, PartitionState(1, 4, [1, 2, 3], 1, zk_version=2))

    def ask(epoch: int) -> tuple[int, int, int]:
        req = OE(replica_id=2, topics=[OE.OffsetForLeaderTopic(T, [OE.OffsetForLeaderPartition(0, 4, epoch)])])
        resp: Any = core.handle(ctx(23, 4), req, 0)
        r = resp.topics[0].partitions[0]
        return r.error_code, r.leader_epoch, r.end_offset

    assert ask(0) == (0, 0, 1)
    assert ask(1) == (0, 0, 1)
    assert ask(2) == (0, 2, 3)
    assert ask(3) == (0, 2, 3)
    assert ask(4) == (0, 4, 3)
    assert ask(5) == (0, -1, -1)


def follower_core() -> BrokerCore:
    """Broker 2 in ZooKeeper mode, having heard of brokers 1-3 and of a controller elsewhere (99)."""
    config = BrokerConfig(port=0, first_node_id=2, zookeeper_connect="memory")
    core = BrokerCore(config, [BrokerInfo(2, "127.0.0.1", 9002)])
    assert core.zk is not None
    core.zk.apply(ClusterIdKnown("c"))
    core.zk.apply(BrokersChanged({n: BrokerRegistration(n, "127.0.0.1", 9000 + n) for n in (1, 2, 3)}))
    core.zk.apply(ControllerChanged(99, 1, 1))
    return core


def test_a_follower_core_follows_truncates_and_tracks_the_leader_high_watermark() -> None:
    core = follower_core()
    assert core.zk is not None
    core.zk.apply(TopicsChanged({T: TopicAssignment(T, uuid.uuid4(), {0: [1, 2, 3]})}, {}))
    core.zk.apply(PartitionStatesChanged({(T, 0): PartitionState(1, 0, [1, 2, 3], 1, zk_version=0)}))
    assert followed(core) == {1: {(T, 0): 0}}
    p = core.cluster.partition(T, 0)
    assert p is not None
    leader = leader_log([(0, 4)])
    assert apply_fetched(core, (T, 0), p, 2, 0, raw(leader)) == 4
    assert p.log.next_offset == 4 and p.log.high_watermark == 2
    truncate(core, (T, 0), p, 3)
    assert p.log.next_offset == 3 and p.log.high_watermark == 2


def test_a_leaving_follower_follows_each_partition_until_its_state_drops_it_from_the_isr() -> None:
    """Controlled shutdown (``zk.leaving``): a partition stays followed while ZooKeeper's state lists this broker
    in its ISR (the controller's StopReplica comes with the ISR removal), not once it is out of the ISR."""
    core = follower_core()
    assert core.zk is not None
    core.zk.apply(TopicsChanged({T: TopicAssignment(T, uuid.uuid4(), {0: [1, 2, 3], 1: [3, 2, 1]})}, {}))
    core.zk.apply(PartitionStatesChanged({(T, 0): PartitionState(1, 0, [1, 2, 3], 1, zk_version=0),
                                          (T, 1): PartitionState(3, 0, [3, 2, 1], 1, zk_version=0)}))
    both = {1: {(T, 0): 0}, 3: {(T, 1): 0}}
    assert followed(core) == both
    core.zk.leaving = True
    assert followed(core) == both  # still in both ISRs: still fetching
    core.zk.apply(PartitionStatesChanged({(T, 1): PartitionState(3, 1, [3, 1], 1, zk_version=1)}))
    assert followed(core) == {1: {(T, 0): 0}}  # out of this ISR: that partition alone stops
    core.zk.leaving = False
    assert followed(core) == {1: {(T, 0): 0}, 3: {(T, 1): 1}}  # not leaving: an out-of-ISR replica catches up


def test_reset_to_starts_an_empty_log_at_an_offset(tmp_path: Path) -> None:
    mem = leader_log([(0, 3)])
    mem.reset_to(10)
    assert (mem.batches, mem.log_start_offset, mem.next_offset, mem.high_watermark, mem.epochs) == ([], 10, 10, 10, [])
    flog = FileLog(tmp_path / "t-0", FlushPolicy())
    flog.append_replica(raw(leader_log([(0, 3)])))
    flog.reset_to(10)
    flog.append_replica(batch([b"x"], base=10, epoch=2))
    flog.close()
    again = FileLog(tmp_path / "t-0", FlushPolicy())
    assert (again.log_start_offset, again.next_offset, [b.base_offset for b in again.batches]) == (10, 11, [10])


def test_fetch_v15_names_the_replica_in_replica_state() -> None:
    core = zk_core()
    produce(core, [b"a"], acks=1)
    req = FetchRequest(replica_state=FetchRequest.ReplicaState(replica_id=2, replica_epoch=-1), max_wait_ms=0,
                       min_bytes=1, max_bytes=1 << 20, isolation_level=0, session_epoch=-1,
                       topics=[FetchRequest.FetchTopic(topic_id=core.cluster.topics[T].topic_id, partitions=[
                           FetchRequest.FetchPartition(partition=0, current_leader_epoch=0, fetch_offset=0,
                                                       partition_max_bytes=1 << 20)])])
    resp: Any = core.handle(ctx(1, 15), req, 0)
    part = resp.responses[0].partitions[0]
    assert part.error_code == 0 and part.records and part.high_watermark == 0  # above the HW: a replica
    rep = replication(core)
    assert rep.led[(T, 0)].followers[2].log_end_offset == 0

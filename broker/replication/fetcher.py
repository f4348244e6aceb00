"""The follower's side of replication (ZooKeeper mode): one fetcher per leader broker, over the Kafka protocol.

``run_fetchers(server)`` runs in the shell's nursery. Whenever the core's
cluster changes (ZooKeeper events bump ``data_version`` and wake the shell's
data event) it works out which partitions this broker follows (it keeps their
log, is a replica, and another live broker leads them) and gives each leader's
``ReplicaFetcher`` its set; a fetcher left without partitions ends. In this
broker's controlled shutdown (``zk.leaving``) it keeps following a partition
until the partition's state, as heard from ZooKeeper, takes it out of the ISR
(Kafka's StopReplica comes with that ISR removal), so acks=all produce does not
wait on it while the controller is slow or unreachable. It also runs
the leader's periodic ISR check (``Replication.check``) every half
``replica.lag.time.max.ms`` and whenever the cluster changes.

A ``ReplicaFetcher`` keeps one connection to its leader and loops, as Kafka's
ReplicaFetcherThread:

1. a partition new to it, or whose leader epoch changed, first truncates
   (KIP-101/279): OffsetForLeaderEpoch (v4, replica id) with the epoch of its
   last batch; the leader answers the largest epoch at or below it and where it
   ends; the follower truncates to the smaller of that and its own end of that
   epoch, repeating while the epochs differ; an unknown epoch truncates to the
   high watermark;
2. then Fetch (v12, replica id, read_uncommitted, sessionless) from its log end
   offset; the leader's batches are appended verbatim (same offsets, same leader
   epochs) and the local high watermark becomes min(leader HW, local LEO);
   producer state follows the appended batch headers.

Errors: a stale or too new epoch, NOT_LEADER_OR_FOLLOWER or an unknown partition
waits for the metadata to move (a short back-off); OFFSET_OUT_OF_RANGE truncates
again; a connection error closes the connection and backs off
``replica.fetch.backoff.ms`` before reconnecting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from broker.replication.client import KafkaConnection, ProtocolError
from broker.replication.leader import replication
from wire.errors import DecodeError
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.fetch import FetchRequest, FetchRequest_FetchPartition, FetchResponse
from wire.kafka.messages.offset_for_leader_epoch import (
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochRequest_OffsetForLeaderPartition, OffsetForLeaderEpochResponse,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore
    from broker.server import BrokerServer
    from broker.state.cluster import Partition
    from broker.zk.model import PartitionState

log = logging.getLogger("broker.replication")

Key = tuple[str, int]
FETCH_VERSION = 12
OFFSET_FOR_LEADER_EPOCH_VERSION = 4
PARTITION_MAX_BYTES = 1 << 20
FETCH_MAX_BYTES = 10 << 20
COALESCE_S = 0.005  # the follower manager looks at the cluster at most this often


def now_ms() -> int:
    return int(trio.current_time() * 1000)


# -- pure follower steps (tested without sockets) -------------------------------------------------

def followed(core: BrokerCore) -> dict[int, dict[Key, int]]:
    """Leader id -> {partition: leader epoch} for the partitions this broker follows."""
    me = core.config.node_ids[0]
    out: dict[int, dict[Key, int]] = {}
    states = core.zk.view.states if core.zk is not None and core.zk.leaving else None
    for name, topic in core.cluster.topics.items():
        for p in topic.partitions:
            if (p.local and p.leader >= 0 and p.leader != me and me in p.replicas
                    and p.leader in core.cluster.brokers):
                if states is not None and not _still_in_isr(states.get((name, p.index)), me):
                    continue
                out.setdefault(p.leader, {})[(name, p.index)] = p.leader_epoch
    return out


def _still_in_isr(state: PartitionState | None, me: int) -> bool:
    """In controlled shutdown: whether this broker still follows a partition. Kafka's controller sends StopReplica
    together with the ISR removal (doControlledShutdown), so the broker keeps fetching until the partition's state,
    as heard from ZooKeeper, no longer lists it in the ISR (or names it leader): until then acks=all produce
    waits for it, and stopping earlier would stall that produce until replica.lag.time.max.ms whenever the
    controller is slow, failing over or unreachable."""
    return state is not None and state.leader != me and me in state.isr


def truncation_target(partition: Partition, leader_epoch: int, end_offset: int) -> tuple[int, bool]:
    """(offset to truncate to, whether truncation is complete) from the leader's OffsetForLeaderEpoch answer
    for this follower's latest epoch (Kafka's AbstractFetcherThread.getOffsetTruncationState)."""
    plog = partition.log
    leo = plog.next_offset
    if end_offset < 0:  # the leader knows no such epoch: fall back to the high watermark
        return min(plog.high_watermark, leo), True
    if leader_epoch < 0:
        return min(end_offset, leo), True
    own_epoch, own_end = plog.end_offset_for_epoch(leader_epoch)
    if own_end < 0:
        return min(end_offset, leo), True
    if own_epoch != leader_epoch:  # we never had the leader's epoch: cut to where ours ends, then ask again
        return min(own_end, leo), False
    return min(end_offset, own_end, leo), True


def truncate(core: BrokerCore, key: Key, partition: Partition, offset: int) -> None:
    """Truncate a followed log to ``offset`` and rebuild its producer state from what is left."""
    plog = partition.log
    if offset < plog.next_offset:
        log.info("%s-%d: truncating from %d to %d", key[0], key[1], plog.next_offset, offset)
        plog.truncate_to(offset)
        _rebuild_producers(core, key, partition)


def _rebuild_producers(core: BrokerCore, key: Key, partition: Partition) -> None:
    table = core.producers
    for k in [k for k in table.states if k[1] == key[0] and k[2] == key[1]]:
        del table.states[k]
    table.partitions.pop(key, None)
    table.rebuild(key[0], key[1], partition.log.batches)


def reset(core: BrokerCore, key: Key, partition: Partition, offset: int) -> None:
    """Start a followed log over, empty, at the leader's log start offset (Kafka's truncateFullyAndStartAt)."""
    log.info("%s-%d: behind the leader's log start: restarting the log at %d", key[0], key[1], offset)
    partition.log.reset_to(offset)
    _rebuild_producers(core, key, partition)


def apply_fetched(core: BrokerCore, key: Key, partition: Partition, high_watermark: int, log_start_offset: int,
                  records: bytes | None) -> int:
    """Append what the leader sent and move the local high watermark; returns the batches appended."""
    plog = partition.log
    stored = plog.append_replica(records) if records else []
    if stored:
        core.producers.rebuild(key[0], key[1], stored)
        plog.maybe_flush(core.now_ms)
    if high_watermark >= 0:  # the leader's, capped at what we hold (it may move back: a restarted
        plog.advance_high_watermark(min(high_watermark, plog.next_offset))  # follower's recovered HW is its LEO)
    if 0 <= plog.log_start_offset < log_start_offset <= plog.high_watermark:
        plog.delete_before(log_start_offset)
    return len(stored)


# -- the fetcher task -----------------------------------------------------------------------------

@dataclass
class Followed:
    leader_epoch: int
    truncated: bool = False  # OffsetForLeaderEpoch done for this leader epoch
    retry_at: float = 0.0  # trio time before which this partition is not fetched (a back-off after an error)


class ReplicaFetcher:
    def __init__(self, server: BrokerServer, leader_id: int) -> None:
        self.server = server
        assert server.core is not None
        self.core = server.core
        self.leader_id = leader_id
        self.node_id = self.core.config.node_ids[0]
        self.partitions: dict[Key, Followed] = {}
        self.changed = trio.Event()
        self.conn: KafkaConnection | None = None
        self.cancel = trio.CancelScope()

    def assign(self, wanted: dict[Key, int]) -> None:
        """The partitions to follow from this leader, with their current leader epochs."""
        for key in [k for k in self.partitions if k not in wanted]:
            del self.partitions[key]
        for key, epoch in wanted.items():
            cur = self.partitions.get(key)
            if cur is None or cur.leader_epoch != epoch:
                self.partitions[key] = Followed(epoch)
        self.changed.set()

    @property
    def backoff(self) -> float:
        return max(0.001, self.core.config.replica_fetch_backoff_ms / 1000)

    def _partition(self, key: Key, followed_: Followed) -> Partition | None:
        """The partition, if it is still followed from this leader at the same epoch."""
        p = self.core.cluster.partition(*key)
        if (p is None or not p.local or p.leader != self.leader_id or p.leader_epoch != followed_.leader_epoch
                or self.partitions.get(key) is not followed_):
            return None
        return p

    async def run(self) -> None:
        with self.cancel:
            try:
                while True:
                    if not self.partitions:
                        self.changed = trio.Event()
                        await self.changed.wait()
                        continue
                    try:
                        await self._round()
                    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, DecodeError,
                            ProtocolError) as exc:
                        log.info("fetcher for leader %d: %s; retrying in %.3fs", self.leader_id, exc, self.backoff)
                        await self._close()
                        with trio.move_on_after(self.backoff):
                            await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await self._close()

    async def _close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                await conn.aclose()
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    async def _connection(self) -> KafkaConnection:
        if self.conn is None:
            broker = self.core.cluster.brokers.get(self.leader_id)
            if broker is None:
                raise OSError(f"leader {self.leader_id} is not a live broker")
            self.conn = await KafkaConnection.open(broker.host, broker.port, f"replica-fetcher-{self.node_id}")
        return self.conn

    async def _round(self) -> None:
        await trio.lowlevel.checkpoint()  # a round that finds nothing to send must still let other tasks run
        conn = await self._connection()
        now = trio.current_time()
        ready = {k: f for k, f in self.partitions.items() if f.retry_at <= now}
        if not ready:
            wake = min(f.retry_at for f in self.partitions.values())
            changed = self.changed
            with trio.move_on_at(wake):
                await changed.wait()
            if self.changed is changed and changed.is_set():
                self.changed = trio.Event()
            return
        to_truncate = {k: f for k, f in ready.items() if not f.truncated}
        if to_truncate:
            await self._truncate(conn, to_truncate)
            return
        await self._fetch(conn, ready)

    async def _truncate(self, conn: KafkaConnection, todo: dict[Key, Followed]) -> None:
        OE = OffsetForLeaderEpochRequest
        by_topic: dict[str, list[OffsetForLeaderEpochRequest_OffsetForLeaderPartition]] = {}
        asked: dict[Key, tuple[Followed, int]] = {}
        for key, f in todo.items():
            p = self._partition(key, f)
            if p is None:  # no longer followed from this leader (deleted, or leadership moved): forget it
                if self.partitions.get(key) is f:
                    del self.partitions[key]
                continue
            epoch = p.log.latest_epoch
            if epoch < 0:  # nothing to truncate
                f.truncated = True
                continue
            asked[key] = (f, epoch)
            by_topic.setdefault(key[0], []).append(OE.OffsetForLeaderPartition(key[1], f.leader_epoch, epoch))
        if not by_topic:
            return
        req = OE(replica_id=self.node_id, topics=[OE.OffsetForLeaderTopic(t, ps) for t, ps in by_topic.items()])
        resp = await conn.request(23, OFFSET_FOR_LEADER_EPOCH_VERSION, req)
        assert isinstance(resp, OffsetForLeaderEpochResponse)
        for t in resp.topics:
            for r in t.partitions:
                key = (t.topic, r.partition)
                if key not in asked:
                    continue
                f, _ = asked[key]
                p = self._partition(key, f)
                if p is None:
                    continue
                if r.error_code != ErrorCode.NONE:
                    log.info("%s-%d: OffsetForLeaderEpoch from %d: %s", key[0], key[1], self.leader_id,
                             ErrorCode(r.error_code).name)
                    f.retry_at = trio.current_time() + self.backoff
                    continue
                target, complete = truncation_target(p, r.leader_epoch, r.end_offset)
                truncate(self.core, key, p, target)
                f.truncated = complete
        self._notify()

    async def _fetch(self, conn: KafkaConnection, ready: dict[Key, Followed]) -> None:
        FR = FetchRequest
        by_topic: dict[str, list[FetchRequest_FetchPartition]] = {}
        sent: dict[Key, Followed] = {}
        for key, f in ready.items():
            p = self._partition(key, f)
            if p is None:  # no longer followed from this leader: forget it
                if self.partitions.get(key) is f:
                    del self.partitions[key]
                continue
            plog = p.log
            by_topic.setdefault(key[0], []).append(FR.FetchPartition(
                partition=key[1], current_leader_epoch=f.leader_epoch, fetch_offset=plog.next_offset,
                last_fetched_epoch=plog.latest_epoch, log_start_offset=plog.log_start_offset,
                partition_max_bytes=PARTITION_MAX_BYTES))
            sent[key] = f
        if not by_topic:
            return
        req = FR(replica_id=self.node_id, max_wait_ms=max(0, self.core.config.replica_fetch_wait_max_ms),
                 min_bytes=1, max_bytes=FETCH_MAX_BYTES, isolation_level=0, session_id=0, session_epoch=-1,
                 topics=[FR.FetchTopic(topic=t, partitions=ps) for t, ps in by_topic.items()])
        resp = await conn.request(1, FETCH_VERSION, req)
        assert isinstance(resp, FetchResponse)
        if resp.error_code != ErrorCode.NONE:
            raise ProtocolError(f"Fetch error {ErrorCode(resp.error_code).name}")
        appended = False
        for t in resp.responses:
            for pd in t.partitions:
                key = (t.topic, pd.partition_index)
                sent_f = sent.get(key)
                if sent_f is None:
                    continue
                f = sent_f
                p = self._partition(key, f)
                if p is None:
                    continue
                code = pd.error_code
                if code == ErrorCode.NONE:
                    try:
                        appended = apply_fetched(self.core, key, p, pd.high_watermark, pd.log_start_offset,
                                                 pd.records) > 0 or appended
                    except (ValueError, DecodeError) as exc:
                        log.warning("%s-%d: unusable data from leader %d (%s): truncating again", key[0], key[1],
                                    self.leader_id, exc)
                        f.truncated = False
                        f.retry_at = trio.current_time() + self.backoff
                elif code == ErrorCode.OFFSET_OUT_OF_RANGE:
                    if 0 <= p.log.next_offset < pd.log_start_offset:  # the leader deleted what we lack
                        reset(self.core, key, p, pd.log_start_offset)
                    else:  # ahead of the leader's log end: truncate again
                        f.truncated = False
                else:
                    log.info("%s-%d: Fetch from %d: %s", key[0], key[1], self.leader_id, ErrorCode(code).name)
                    f.retry_at = trio.current_time() + self.backoff
        self._notify(appended)

    def _notify(self, appended: bool = True) -> None:
        if appended:
            self.core.appended()
            self.server._notify_data()


async def run_fetchers(server: BrokerServer) -> None:
    """Follow leadership: one ReplicaFetcher per leader this broker replicates from; the leader's ISR checks."""
    core = server.core
    assert core is not None
    rep = replication(core)
    fetchers: dict[int, ReplicaFetcher] = {}
    interval = max(0.001, core.config.replica_lag_time_max_ms / 2000)
    next_check = trio.current_time()
    async with trio.open_nursery() as nursery:
        while True:
            wanted = followed(core)
            for leader_id in [i for i in fetchers if i not in wanted]:
                fetchers.pop(leader_id).cancel.cancel()
            for leader_id, parts in wanted.items():
                fetcher = fetchers.get(leader_id)
                if fetcher is None:
                    fetcher = fetchers[leader_id] = ReplicaFetcher(server, leader_id)
                    nursery.start_soon(fetcher.run)
                fetcher.assign(parts)
            if trio.current_time() >= next_check:
                next_check = trio.current_time() + interval
            if rep.check(now_ms()):
                core.appended()
                server._notify_data()
            server._flush_zk_writes()
            data = server._data
            with trio.move_on_at(next_check):
                await data.wait()
            # appends wake this loop too, and only cluster changes matter here: take a burst of them as one
            await trio.sleep(COALESCE_S)

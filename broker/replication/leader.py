"""The leader's side of replication (ZooKeeper mode): follower progress, the ISR and the high watermark.

Pure state, time passed in (ms), as Kafka's ``Partition``/``Replica`` keep it:

- Each follower's log end offset is the fetch offset of its latest Fetch (a
  follower fetches from its own log end). ``last_caught_up_ms`` moves to the fetch
  time when that fetch reached the leader's log end offset, or to the previous
  fetch's time when it reached the log end the leader had then (Replica.
  updateFetchStateOrThrow).
- The high watermark is the smallest log end offset over the leader and every
  replica that is in the ISR, in a pending ISR change, or caught up
  (Partition.maybeIncrementLeaderHW); it never moves back. A replica whose log
  end offset is not known yet (no fetch since this broker became leader) holds it.
- A follower outside the ISR rejoins once its log end offset reaches the high
  watermark and the offset at which this leader's epoch began (maybeExpandIsr);
  an ISR member that has not been caught up for ``replica.lag.time.max.ms`` (and is
  not at the leader's log end) is removed (maybeShrinkIsr, run periodically).
- An ISR change is written by the leader to ZooKeeper as ``SetPartitionStates``
  conditional on the state znode's version, with ``isr_change``; until ZooKeeper's
  answer updates ``partition.isr`` the change is pending and no other is made.

``Replication`` hangs off the core (``replication(core)``); one-process
multi-broker mode never uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.zk.model import PartitionState, SetPartitionStates

if TYPE_CHECKING:
    from broker.core import BrokerCore
    from broker.state.cluster import Partition

Key = tuple[str, int]


@dataclass
class FollowerState:
    log_end_offset: int = -1  # -1: unknown (no fetch since this broker became leader)
    last_caught_up_ms: int = 0
    last_fetch_leader_leo: int = -1
    last_fetch_ms: int = 0

    def caught_up(self, leader_leo: int, now_ms: int, max_lag_ms: int) -> bool:
        return self.log_end_offset == leader_leo or now_ms - self.last_caught_up_ms <= max_lag_ms


@dataclass
class PendingIsr:
    isr: list[int]
    based_on_version: int  # the state znode version the write is conditional on
    sent_ms: int


@dataclass
class LeaderState:
    partition: Partition
    leader_epoch: int
    epoch_start_offset: int  # the log end offset when this broker became leader for this epoch
    followers: dict[int, FollowerState] = field(default_factory=dict)
    pending: PendingIsr | None = None

    def maximal_isr(self) -> set[int]:
        isr = set(self.partition.isr)
        if self.pending is not None:
            isr |= set(self.pending.isr)
        return isr


class Replication:
    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        self.node_id = core.config.node_ids[0]
        self.led: dict[Key, LeaderState] = {}

    @property
    def max_lag_ms(self) -> int:
        return max(1, self.core.config.replica_lag_time_max_ms)

    def state(self, key: Key, partition: Partition, now_ms: int) -> LeaderState:
        """This broker's leader state for ``partition``, started afresh on a new leader epoch (or a partition
        object that replaced the old one): followers' offsets unknown, ISR members counted as caught up now."""
        st = self.led.get(key)
        if st is None or st.partition is not partition or st.leader_epoch != partition.leader_epoch:
            st = LeaderState(partition, partition.leader_epoch, partition.log.next_offset)
            for replica in partition.replicas:
                if replica != self.node_id:
                    st.followers[replica] = FollowerState(
                        last_caught_up_ms=now_ms if replica in partition.isr else 0)
            self.led[key] = st
        return st

    # -- a follower fetched ---------------------------------------------------------------------

    def follower_fetched(self, key: Key, partition: Partition, replica_id: int, fetch_offset: int,
                         now_ms: int) -> bool:
        """Record a follower's Fetch at ``fetch_offset``; expand the ISR if it has caught up; advance the high
        watermark. True when the high watermark moved."""
        st = self.state(key, partition, now_ms)
        if replica_id not in partition.replicas:
            return False
        f = st.followers.setdefault(replica_id, FollowerState())
        leader_leo = partition.log.next_offset
        if fetch_offset >= leader_leo:
            f.last_caught_up_ms = max(f.last_caught_up_ms, now_ms)
        elif fetch_offset >= f.last_fetch_leader_leo >= 0:
            f.last_caught_up_ms = max(f.last_caught_up_ms, f.last_fetch_ms)
        f.log_end_offset = fetch_offset
        f.last_fetch_leader_leo = leader_leo
        f.last_fetch_ms = now_ms
        self._maybe_expand(key, st, replica_id, now_ms)
        return self.maybe_advance_hw(key, partition, now_ms)

    def _maybe_expand(self, key: Key, st: LeaderState, replica_id: int, now_ms: int) -> None:
        partition = st.partition
        if replica_id in partition.isr or not self._can_change(key, st, now_ms):
            return
        zk = self.core.zk
        assignment = zk.view.topics.get(key[0]) if zk is not None else None
        if assignment is not None and replica_id in assignment.removing.get(key[1], ()):
            return  # a replica being reassigned away does not come back into the ISR (Kafka stops it)
        f = st.followers[replica_id]
        if f.log_end_offset >= partition.log.high_watermark and f.log_end_offset >= st.epoch_start_offset:
            self._write_isr(key, st, sorted(set(partition.isr) | {replica_id}, key=partition.replicas.index), now_ms)

    # -- the high watermark -----------------------------------------------------------------------

    def maybe_advance_hw(self, key: Key, partition: Partition, now_ms: int) -> bool:
        """Move the high watermark up to the smallest log end offset that must hold it. True if it moved."""
        plog = partition.log
        st = self.state(key, partition, now_ms)
        leader_leo = plog.next_offset
        hw = leader_leo
        members = st.maximal_isr()
        for replica, f in st.followers.items():
            if replica in members or (f.log_end_offset >= 0 and f.caught_up(leader_leo, now_ms, self.max_lag_ms)):
                if replica not in partition.replicas:
                    continue
                hw = min(hw, f.log_end_offset)
        if hw > plog.high_watermark:
            plog.advance_high_watermark(hw)
            return True
        return False

    # -- shrinking the ISR (periodic) ---------------------------------------------------------------

    def check(self, now_ms: int) -> bool:
        """For every partition this broker leads: drop ISR members that lag, settle pending ISR changes and
        advance high watermarks (an ISR change just heard may let one move). True if any high watermark moved."""
        moved = False
        for name, topic in self.core.cluster.topics.items():
            for partition in topic.partitions:
                key = (name, partition.index)
                if partition.leader != self.node_id or not partition.local:
                    self.led.pop(key, None)
                    continue
                st = self.state(key, partition, now_ms)
                if self._can_change(key, st, now_ms):
                    leader_leo = partition.log.next_offset
                    lagging = {r for r in partition.isr if r != self.node_id
                               and not st.followers.setdefault(r, FollowerState()).caught_up(
                                   leader_leo, now_ms, self.max_lag_ms)}
                    if lagging:
                        self._write_isr(key, st, [r for r in partition.isr if r not in lagging], now_ms)
                moved = self.maybe_advance_hw(key, partition, now_ms) or moved
        for key in [k for k in self.led if self.core.cluster.partition(*k) is None]:
            del self.led[key]
        return moved

    # -- writing ISR changes -----------------------------------------------------------------------

    def _can_change(self, key: Key, st: LeaderState, now_ms: int) -> bool:
        """No ISR change is in flight (one settles when ZooKeeper's state moves, or is retried after the lag
        time), and ZooKeeper still names this broker leader at this epoch."""
        zk = self.core.zk
        if zk is None:
            return False
        current = zk.view.states.get(key)
        if current is None or current.leader != self.node_id or current.leader_epoch != st.leader_epoch:
            return False
        if st.pending is not None:
            if current.zk_version != st.pending.based_on_version or now_ms - st.pending.sent_ms > self.max_lag_ms:
                st.pending = None
            else:
                return False
        return True

    def _write_isr(self, key: Key, st: LeaderState, isr: list[int], now_ms: int) -> None:
        zk = self.core.zk
        assert zk is not None
        current = zk.view.states[key]
        if self.node_id not in isr:
            isr = [self.node_id, *isr]
        if isr == list(current.isr):
            return
        state = PartitionState(self.node_id, st.leader_epoch, list(isr), current.controller_epoch,
                               zk_version=current.zk_version)
        zk.outbox.append(SetPartitionStates({key: state}, isr_change=True))
        st.pending = PendingIsr(list(isr), current.zk_version, now_ms)


def replication(core: BrokerCore) -> Replication:
    """The core's leader-side replication state (ZooKeeper mode only: it lives in ``core.zk``)."""
    if core.zk is None:
        raise RuntimeError("replication runs in ZooKeeper mode only")
    return core.zk.replication

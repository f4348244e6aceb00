"""Rewrites of ``/brokers/topics/<topic>`` (``AddPartitions``) are conditional: on the topic znode's version the
new assignment was decided from, and (the controller's) on ``/controller_epoch``'s version.

Several writers rebuild the whole znode from their view (the controller completing a reassignment or giving a
topic an id, AlterPartitionReassignments, the legacy ``/admin/reassign_partitions``, CreatePartitions); two
decided from the same view must not undo each other. The race is reproduced deterministically: one broker's
``ZkMetadata`` over ``MemoryZooKeeper``, its writes performed by hand in a chosen order.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from broker.config import BrokerConfig
from broker.core import BrokerCore, Pending
from broker.state.cluster import BrokerInfo
from broker.handlers.alter_partition_reassignments import alter_partition_reassignments
from broker.zk import controller, layout
from broker.zk.memory import MemoryZooKeeper
from broker.zk.metadata import ZkMetadata
from broker.zk.model import (
    AddPartitions, BrokerRegistration, LegacyReassignmentRequested, PartitionState, SetLegacyReassignment,
    TopicAssignment, TopicsChanged, WriteFailed, ZkEvent, ZkView, ZkWrite,
)
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest as Req, AlterPartitionReassignmentsResponse,
)

TID = uuid.UUID(int=7)


def reassigning_topic(version: int = 4) -> TopicAssignment:
    """Partition 0 moving from [2, 1] to [3, 2] (3 added, 1 removed), partition 1 on [1, 2]."""
    return TopicAssignment("t", TID, {0: [3, 2, 1], 1: [1, 2]}, {0: [3]}, {0: [1]}, zk_version=version)


# -- pure decisions and layout ---------------------------------------------------------------------------------

def view() -> ZkView:
    return ZkView(cluster_id="c", brokers={b: BrokerRegistration(b, "h", 9000 + b) for b in (1, 2, 3)},
                  controller_id=1, controller_epoch=4, controller_epoch_version=3, topics={"t": reassigning_topic()},
                  states={("t", 0): PartitionState(3, 1, [3, 2], 4, zk_version=2),
                          ("t", 1): PartitionState(1, 0, [1, 2], 4, zk_version=0)})


def test_the_controllers_topic_rewrites_carry_the_version_decided_from_and_the_epoch_fence() -> None:
    completion = [w for w in controller.decide(view(), 1) if isinstance(w, AddPartitions)]
    assert completion == [AddPartitions(TopicAssignment("t", TID, {0: [3, 2], 1: [1, 2]}, zk_version=4), 3)]
    started, results = controller.reassign(view(), 1, {("t", 1): [3, 2]})
    assert results == {("t", 1): (0, None)}
    assert started == [AddPartitions(TopicAssignment("t", TID, {0: [3, 2, 1], 1: [3, 2, 1]}, {0: [3], 1: [3]},
                                                     {0: [1], 1: [1]}, zk_version=4), 3)]
    legacy = view()
    legacy.legacy_reassignment = {("t", 1): [3, 2]}
    assert [w for w in controller.legacy_reassignment_writes(legacy, 1) if isinstance(w, AddPartitions)] == started


def test_a_decoded_topic_carries_its_znode_version() -> None:
    data = layout.encode_topic(reassigning_topic())
    assert layout.decode_topic("t", data, 9) == reassigning_topic(9)
    assert layout.decode_topic("t", data).zk_version == -1  # not read from ZooKeeper


# -- MemoryZooKeeper's conditional semantics ----------------------------------------------------------------------

def test_memory_zookeeper_refuses_a_rewrite_decided_from_an_older_version_or_by_a_deposed_controller() -> None:
    zk = MemoryZooKeeper()
    zk.controller_epoch_version = 3
    zk.topics["t"] = reassigning_topic()
    completion = next(w for w in controller.decide(view(), 1) if isinstance(w, AddPartitions))
    started, _ = controller.reassign(view(), 1, {("t", 1): [3, 2]})
    # both decided from the same view (version 4): the first lands, the second is a lost race
    assert zk.apply(started[0]) is None
    assert zk.topics["t"].zk_version == 5
    assert zk.apply(completion) == "BadVersion: /brokers/topics/t"
    assert zk.topics["t"].partitions == {0: [3, 2, 1], 1: [3, 2, 1]}  # the reassignment of partition 1 is kept
    # decided again from what ZooKeeper holds now: both changes
    again = replace(view(), topics={"t": zk.topics["t"]})
    redone = [w for w in controller.decide(again, 1) if isinstance(w, AddPartitions)]
    assert zk.apply(redone[0]) is None
    assert zk.topics["t"] == TopicAssignment("t", TID, {0: [3, 2], 1: [3, 2, 1]}, {1: [3]}, {1: [1]}, zk_version=6)
    # a controller whose epoch moved on is fenced
    zk.controller_epoch_version = 4
    fenced = controller.reassign(replace(again, topics={"t": zk.topics["t"]}), 1, {("t", 1): None})
    assert zk.apply(fenced[0][0]) == "BadVersion: /controller_epoch"
    assert zk.topics["t"].zk_version == 6
    # a rewrite of a topic that does not exist is a lost race too
    assert zk.apply(AddPartitions(TopicAssignment("missing", TID, {0: [1]}))) == "NoNode: /brokers/topics/missing"


# -- one broker's ZkMetadata, writes performed in a chosen order ------------------------------------------------

class Harness:
    """Broker 1 (the controller) over a MemoryZooKeeper where brokers 2 and 3 are registered too; ``t`` is as
    ``reassigning_topic`` with partition 0's reassignment ready to complete."""

    def __init__(self, root: Path) -> None:
        self.zk = MemoryZooKeeper()
        self.zk.topics["t"] = reassigning_topic()
        self.zk.states.update(view().states)
        for b in (2, 3):
            self.zk.bridge("memory", b, BrokerRegistration(b, "h", 9000 + b), 6000, lambda _e: None).start()
        config = BrokerConfig(port=0, first_node_id=1, zookeeper_connect="memory", data_dir=root)
        self.core = BrokerCore(config, [BrokerInfo(1, "127.0.0.1", 9001)])
        self.failed: list[WriteFailed] = []
        self.dropping = False  # /admin/reassign_partitions reads are not delivered
        self.topic_reads: list[ZkEvent] | None = None  # a list: topic reads are held back in it
        self.bridge = self.zk.bridge("memory", 1, BrokerRegistration(1, "h", 9001), 6000, self.deliver)
        self.bridge.start()

    @property
    def meta(self) -> ZkMetadata:
        assert self.core.zk is not None
        return self.core.zk

    def deliver(self, event: ZkEvent) -> None:
        if self.dropping and isinstance(event, LegacyReassignmentRequested):
            return
        if self.topic_reads is not None and isinstance(event, TopicsChanged):
            self.topic_reads.append(event)
            return
        if isinstance(event, WriteFailed):
            self.failed.append(event)
        self.meta.apply(event)

    def perform(self, write: ZkWrite) -> None:
        self.bridge.apply(write)
        self.meta.write_performed()

    def hold_completion(self) -> list[ZkWrite]:
        """Perform every queued write except the controller's completion of partition 0: the same write, once or
        more (the core may send a write again while it has not come back): returned, to be performed later."""
        held = self.pump(hold=AddPartitions)
        assert held and all(w == held[0] for w in held)
        assert isinstance(held[0], AddPartitions) and held[0].assignment.partitions[0] == [3, 2]
        return held

    def perform_all(self, writes: list[ZkWrite]) -> None:
        for write in writes:
            self.perform(write)

    def lost(self, write: ZkWrite) -> bool:
        return any(f.write is write for f in self.failed)

    def pump(self, hold: type | None = None) -> list[ZkWrite]:
        """Perform every queued write (and those they lead to) except those of type ``hold``: returned."""
        held: list[ZkWrite] = []
        while self.meta.outbox:
            for write in self.meta.take_writes():
                if hold is not None and isinstance(write, hold):
                    held.append(write)
                else:
                    self.perform(write)
        return held

    def reassign(self, partition: int, target: list[int] | None) -> Pending:
        req = Req(timeout_ms=30000, topics=[Req.ReassignableTopic("t", [Req.ReassignablePartition(partition, target)])])
        pending = alter_partition_reassignments(self.core, cast(Any, None), req, 0)
        assert isinstance(pending, Pending)
        return pending


def answer(pending: Pending) -> AlterPartitionReassignmentsResponse:
    resp = pending.poll(0, False)
    assert isinstance(resp, AlterPartitionReassignmentsResponse)
    return resp


BOTH = TopicAssignment("t", TID, {0: [3, 2], 1: [3, 2, 1]}, {1: [3]}, {1: [1]})


def test_an_api_reassignment_that_loses_its_race_to_a_completion_is_decided_again(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    completion = h.hold_completion()  # the controller completes partition 0 (from version 4) ...
    pending = h.reassign(1, [3, 2])  # ... and, from the same view, AlterPartitionReassignments starts partition 1
    (api,) = h.meta.take_writes()
    assert isinstance(api, AddPartitions) and api.assignment.zk_version == 4
    h.perform_all(completion)
    h.perform(api)  # lost: decided from version 4
    assert h.lost(api)
    assert pending.poll(0, False) is None  # not answered yet: decided again, written again
    h.pump()
    resp = answer(pending)
    assert resp.error_code == 0
    assert [(p.partition_index, p.error_code) for t in resp.responses for p in t.partitions] == [(1, 0)]
    assert h.zk.topics["t"] == replace(BOTH, zk_version=6)


def test_a_completion_that_loses_its_race_to_an_api_reassignment_is_decided_again(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    completion = h.hold_completion()
    pending = h.reassign(1, [3, 2])
    (api,) = h.meta.take_writes()
    h.perform(api)
    h.perform_all(completion)  # lost: it would have dropped partition 1's reassignment
    assert h.lost(completion[0])
    h.pump()
    assert answer(pending).error_code == 0
    assert h.zk.topics["t"].partitions == BOTH.partitions
    assert (h.zk.topics["t"].adding, h.zk.topics["t"].removing) == (BOTH.adding, BOTH.removing)


def test_a_cancellation_whose_reassignment_completed_meanwhile_is_no_reassignment_in_progress(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    completion = h.hold_completion()
    pending = h.reassign(0, None)  # cancel partition 0's reassignment, decided before the completion landed
    (cancel,) = h.meta.take_writes()
    h.perform_all(completion)
    h.perform(cancel)
    assert h.lost(cancel)
    h.pump()
    resp = answer(pending)
    assert [(p.partition_index, p.error_code) for t in resp.responses for p in t.partitions] == [
        (0, ErrorCode.NO_REASSIGNMENT_IN_PROGRESS)]
    assert h.zk.topics["t"].partitions == {0: [3, 2], 1: [1, 2]}


def test_an_api_reassignment_fenced_by_a_new_controller_answers_not_controller(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.hold_completion()
    pending = h.reassign(1, [3, 2])
    (api,) = h.meta.take_writes()
    with h.zk.lock:  # another broker became controller meanwhile
        h.zk.controller_id, h.zk.controller_epoch = 2, h.zk.controller_epoch + 1
        h.zk.controller_epoch_version += 1
    h.perform(api)
    assert h.lost(api) and h.failed[-1].reason == "BadVersion: /controller_epoch"
    h.zk.expire(3)  # any change: the broker hears the new controller
    h.pump()
    assert answer(pending).error_code == ErrorCode.NOT_CONTROLLER
    assert h.zk.topics["t"].partitions[1] == [1, 2]


def test_create_partitions_that_loses_its_race_is_written_again_from_the_topic_read_again(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    completion = h.hold_completion()
    topic = h.core.cluster.topics["t"]
    h.meta.add_partitions(topic, 3, [[2, 3]])
    (grow,) = h.meta.take_writes()
    h.perform_all(completion)
    h.perform(grow)  # lost: it would have undone partition 0's completion
    assert h.lost(grow)
    h.pump()
    assert h.zk.topics["t"].partitions == {0: [3, 2], 1: [1, 2], 2: [2, 3]}


def test_the_controller_decides_a_lost_rewrite_again_only_once_the_topics_are_read_again(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    completion = h.hold_completion()
    h.meta.apply(WriteFailed(completion[0], "ConnectionLoss: "))  # no race: ZooKeeper still has version 4
    assert not [w for w in h.meta.outbox if isinstance(w, AddPartitions)]  # not again from the version it lost on
    h.meta.apply(next(e for e in h.zk.snapshot() if isinstance(e, TopicsChanged)))  # read again: same version
    assert [w for w in h.meta.outbox if isinstance(w, AddPartitions)] == [completion[0]]
    h.pump()
    h.perform_all(completion)  # the old copies lose, the one sent again won
    assert h.zk.topics["t"].partitions == {0: [3, 2], 1: [1, 2]}


# -- /admin/reassign_partitions and API reassignments: the latest request wins -----------------------------------

def test_a_legacy_znode_naming_a_partition_an_api_reassignment_moves_elsewhere_takes_over(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.pump()
    pending = h.reassign(1, [3, 2])
    h.pump()
    assert answer(pending).error_code == 0 and h.zk.topics["t"].target(1) == [3, 2]
    h.zk.request_reassignment({("t", 1): [1, 3]})  # the old tool, later: it wins (before, it was dropped)
    h.pump()
    assert h.zk.topics["t"].target(1) == [1, 3] and h.zk.topics["t"].origin(1) == [1, 2]
    assert h.zk.legacy_reassignment == {("t", 1): [1, 3]}  # until done


def test_an_api_reassignment_takes_a_partition_out_of_the_legacy_znode_first(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.zk.request_reassignment({("t", 1): [1, 3], ("t", 0): [3, 2]})
    h.pump()
    assert h.zk.topics["t"].target(1) == [1, 3]
    pending = h.reassign(1, [3, 2])
    writes = h.meta.take_writes()
    assert [type(w).__name__ for w in writes] == ["SetLegacyReassignment", "AddPartitions"]
    h.dropping = True  # the topic is read again before the znode (the kazoo bridge reads topics first)
    h.perform_all(writes)
    assert (h.meta.view.legacy_reassignment or {}).get(("t", 1)) == [1, 3]  # not read again yet
    assert h.meta.view.topics["t"].target(1) == [3, 2]
    # the znode as last read names t-1 towards [1, 3]: that old request does not start again
    assert not [w for w in h.meta.outbox if isinstance(w, AddPartitions) and w.assignment.partitions[1] != [3, 2, 1]]
    h.dropping = False
    h.meta.apply(next(e for e in h.zk.snapshot() if isinstance(e, LegacyReassignmentRequested)))
    h.pump()
    assert answer(pending).error_code == 0
    assert h.zk.legacy_reassignment in ({("t", 0): [3, 2]}, None)  # (t-0's may be done)
    assert h.zk.topics["t"].target(1) == [3, 2]


def test_a_lost_write_taking_partitions_out_of_the_legacy_znode_is_made_again(tmp_path: Path) -> None:
    """The znode names t-1 towards [1, 3]; an API reassignment moves it to [3, 2] and the controller's write
    taking t-1 out of the znode is lost (a connection loss): once the znode is read again, still naming it, the
    controller takes it out again (before, it stayed there for good and was never started either)."""
    h = Harness(tmp_path)
    h.zk.request_reassignment({("t", 1): [1, 3]})
    h.pump()
    pending = h.reassign(1, [3, 2])
    removal, api = h.meta.take_writes()
    assert isinstance(removal, SetLegacyReassignment) and isinstance(api, AddPartitions)
    h.deliver(WriteFailed(removal, "ConnectionLoss"))
    h.meta.write_performed()
    h.perform(api)
    assert h.zk.legacy_reassignment == {("t", 1): [1, 3]}  # the lost write left it there
    h.meta.apply(next(e for e in h.zk.snapshot() if isinstance(e, LegacyReassignmentRequested)))  # read again
    h.pump()
    assert answer(pending).error_code == 0
    assert h.zk.legacy_reassignment is None and h.zk.topics["t"].target(1) == [3, 2]


def test_a_rewrite_whose_answer_timed_out_is_not_decided_again(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    completion = h.hold_completion()
    pending = h.reassign(1, [3, 2])
    (api,) = h.meta.take_writes()
    resp = pending.poll(0, True)  # request.timeout.ms ran out first
    assert isinstance(resp, AlterPartitionReassignmentsResponse)
    assert [p.error_code for t in resp.responses for p in t.partitions] == [ErrorCode.REQUEST_TIMED_OUT]
    h.perform_all(completion)
    h.perform(api)  # lost: nobody waits for it any more, so it is not written again
    assert h.lost(api)
    h.pump()
    assert h.zk.topics["t"].target(1) == [1, 2] and not h.zk.topics["t"].reassigning(1)


def test_a_reassignment_is_answered_once_the_controller_has_read_it_back(tmp_path: Path) -> None:
    """Kafka's controller context has an accepted reassignment at once, so ListPartitionReassignments right
    after the answer lists it: the answer waits until this controller's view has the topic as written."""
    h = Harness(tmp_path)
    h.pump()
    h.topic_reads = []
    pending = h.reassign(1, [3, 2])
    h.pump()
    assert h.zk.topics["t"].reassigning(1)  # written ...
    assert pending.poll(0, False) is None  # ... not read back yet: not answered
    held, h.topic_reads = h.topic_reads, None
    for event in held:
        h.meta.apply(event)
    assert answer(pending).error_code == 0
    assert controller.reassignments(h.meta.view, [("t", 1)]) == {("t", 1): ([3, 2, 1], [3], [1])}

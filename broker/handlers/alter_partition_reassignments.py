"""AlterPartitionReassignments (45): move a partition's replicas to other brokers (KIP-455).

ZooKeeper mode: only the controller takes it (NOT_CONTROLLER, top level, elsewhere; admin
clients send it to the controller). Each partition is validated and its reassignment started
by rewriting ``/brokers/topics/<topic>`` with the full replica set and its ``adding_replicas`` /
``removing_replicas`` (``broker.zk.controller.reassign``, Kafka 3.9's
``processApiPartitionReassignment``); null replicas cancel an ongoing one. The answer goes once
ZooKeeper has the write; the write is conditional on the topic znode's version, and one that
lost a race to another writer is decided again from the topic as read again. A partition the
legacy ``/admin/reassign_partitions`` names towards another target is taken out of it first
(the latest request wins, as Kafka's ``maybeRemoveFromZkReassignment``). The controller then carries the reassignment out
(``controller.reassignment_step``): the added replicas fetch and join the ISR, then leadership
moves into the target replicas, the removed ones leave the ISR and the assignment becomes the
target. A replica removed from a partition keeps its log (Kafka deletes it).

Without ZooKeeper replicas never move: an unknown partition is UNKNOWN_TOPIC_OR_PARTITION, a
cancellation NO_REASSIGNMENT_IN_PROGRESS, any other target INVALID_REPLICA_ASSIGNMENT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from broker.core import Pending
from broker.handlers import handles
from broker.zk.controller import reassign
from broker.zk.metadata import ZK_WRITE_TIMEOUT_MS, AwaitedRewrite
from broker.zk.model import AddPartitions, ZkView
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    AlterPartitionReassignmentsResponse_ReassignablePartitionResponse,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

Resp = AlterPartitionReassignmentsResponse
NOT_CONTROLLER_MESSAGE = "This is not the correct controller for this cluster."


@handles(45)
def alter_partition_reassignments(core: BrokerCore, ctx: RequestContext, req: AlterPartitionReassignmentsRequest,
                                  version: int) -> AlterPartitionReassignmentsResponse | Pending:
    requested: dict[tuple[str, int], list[int] | None] = {
        (topic.name, p.partition_index): None if p.replicas is None else list(p.replicas)
        for topic in req.topics for p in topic.partitions}
    zk = core.zk
    if zk is None:
        results: dict[tuple[str, int], tuple[int, str | None]] = {}
        for key, target in requested.items():
            if core.cluster.partition(*key) is None:
                results[key] = (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist.")
            elif target is None:
                results[key] = (ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "No partition reassignment is in progress.")
            else:
                results[key] = (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                "Partition reassignment needs ZooKeeper mode in wiretwin.")
        return _response(results)
    if zk.view.controller_id != zk.node_id:
        return Resp(throttle_time_ms=0, error_code=ErrorCode.NOT_CONTROLLER, error_message=NOT_CONTROLLER_MESSAGE)
    writes, results = reassign(zk.view, zk.node_id, requested, zk.shutting_down)
    if not writes:
        return _response(results)
    # The topic znode rewrite is conditional on the version it was decided from, so it can lose a race (the
    # controller completing another partition's reassignment of the same topic, another request, a legacy
    # /admin/reassign_partitions start). Kafka's controller handles the request in its event loop against a
    # context that already has every earlier change, so such a request never fails there: a client expects its
    # valid reassignment to be accepted, and no error code would tell it to simply retry. So the reassignment
    # is decided again from the topic as read again (re-validated: e.g. cancelling one that completed meanwhile
    # is then NO_REASSIGNMENT_IN_PROGRESS); a controller that lost its role answers NOT_CONTROLLER, as Kafka's
    # does for a request it can no longer handle; one still not written after the timeout is REQUEST_TIMED_OUT.
    moved = [False]

    def retry_for(topic: str) -> Callable[[ZkView], AddPartitions | None]:
        keys = [k for k in requested if k[0] == topic and results[k][0] == ErrorCode.NONE]

        def retry(view: ZkView) -> AddPartitions | None:
            if view.controller_id != zk.node_id:
                moved[0] = True
                return None
            again, redone = reassign(view, zk.node_id, {k: requested[k] for k in keys}, zk.shutting_down)
            results.update(redone)
            return next((w for w in again if isinstance(w, AddPartitions)), None)
        return retry

    # the latest request wins: partitions /admin/reassign_partitions names towards another target leave it
    zk.take_from_legacy_reassignment({  # (a cancellation's target is the origin replicas)
        k: target if (target := requested[k]) is not None else zk.view.topics[k[0]].origin(k[1])
        for k, (code, _) in results.items() if code == ErrorCode.NONE})
    awaited = [zk.await_rewrite(w, retry_for(w.assignment.name)) for w in writes if isinstance(w, AddPartitions)]

    def read_back(a: AwaitedRewrite) -> bool:
        """The controller's view has the topic as written (or newer, or gone), so ListPartitionReassignments
        right after the answer lists the reassignment, as Kafka's controller context has it at once."""
        topic = zk.view.topics.get(a.write.assignment.name)
        gave_up = a.failed_at_read is not None  # (settled without a write: decided again to nothing)
        return a.settled and (gave_up or topic is None or topic.zk_version > a.write.assignment.zk_version)

    def poll(_now: int, expired: bool) -> AlterPartitionReassignmentsResponse | None:
        if not expired and not all(read_back(a) for a in awaited):
            return None
        for a in awaited:  # answered: a write that loses its race from now on is not decided again
            a.abandoned = True
        if moved[0]:
            return Resp(throttle_time_ms=0, error_code=ErrorCode.NOT_CONTROLLER, error_message=NOT_CONTROLLER_MESSAGE)
        for a in awaited:
            if not a.settled:
                for key in requested:
                    if key[0] == a.write.assignment.name and results[key][0] == ErrorCode.NONE:
                        results[key] = (ErrorCode.REQUEST_TIMED_OUT,
                                        "Timed out waiting for the reassignment to be written to ZooKeeper.")
        return _response(results)

    return Pending(core.now_ms + ZK_WRITE_TIMEOUT_MS, poll)


def _response(results: dict[tuple[str, int], tuple[int, str | None]]) -> AlterPartitionReassignmentsResponse:
    by_topic: dict[str, list[AlterPartitionReassignmentsResponse_ReassignablePartitionResponse]] = {}
    for (topic, index), (code, message) in sorted(results.items()):
        by_topic.setdefault(topic, []).append(Resp.ReassignablePartitionResponse(index, int(code), message))
    return Resp(throttle_time_ms=0, error_code=0, error_message=None,
                responses=[Resp.ReassignableTopicResponse(topic, parts) for topic, parts in by_topic.items()])

"""ElectLeaders (43).

A single broker (no ZooKeeper): every leader already is its preferred replica, so no election is ever needed.
Preferred (0) and unclean (1) elections answer ELECTION_NOT_NEEDED (84) for each named partition
(the leader is the first replica and is alive), UNKNOWN_TOPIC_OR_PARTITION for one that does not
exist. With ``topic_partitions`` null (every partition) Kafka's controller leaves the
ELECTION_NOT_NEEDED partitions out, so the answer is empty. Another election type is
INVALID_REQUEST for every partition. The top-level error code (v1+) is 0.

ZooKeeper mode: the controller decides (``broker.zk.controller.requested_election``; a broker that is not
the controller answers NOT_CONTROLLER per partition, and admin clients send the request to the controller),
writes the new partition states, and answers once ZooKeeper reports them back, or REQUEST_TIMED_OUT for the
partitions still waiting after the request's ``timeout_ms``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.core import Pending
from broker.handlers import handles
from broker.zk.controller import requested_election
from broker.zk.model import PartitionState, SetPartitionStates
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.elect_leaders import (
    ElectLeadersRequest, ElectLeadersResponse, ElectLeadersResponse_PartitionResult,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

EResp = ElectLeadersResponse
PREFERRED, UNCLEAN = 0, 1


@handles(43)
def elect_leaders(core: BrokerCore, ctx: RequestContext, req: ElectLeadersRequest,
                  version: int) -> ElectLeadersResponse | Pending:
    if core.zk is not None:
        return _elect_in_zookeeper(core, req, version)
    resp = EResp(error_code=0)
    if req.topic_partitions is None:
        return resp
    election = req.election_type if version >= 1 else PREFERRED
    by_topic: dict[str, list[ElectLeadersResponse_PartitionResult]] = {}
    for tp in req.topic_partitions:
        results = by_topic.setdefault(tp.topic, [])
        for index in tp.partitions:
            if election not in (PREFERRED, UNCLEAN):
                results.append(EResp.PartitionResult(index, ErrorCode.INVALID_REQUEST,
                                                     f"Unknown election type {election}"))
            elif core.cluster.partition(tp.topic, index) is None:
                results.append(EResp.PartitionResult(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                                     "The partition does not exist."))
            else:
                results.append(EResp.PartitionResult(index, ErrorCode.ELECTION_NOT_NEEDED,
                                                     "Leader election not needed for topic partition"))
    resp.replica_election_results = [EResp.ReplicaElectionResult(topic, results) for topic, results in by_topic.items()]
    return resp


def _elect_in_zookeeper(core: BrokerCore, req: ElectLeadersRequest, version: int) -> ElectLeadersResponse | Pending:
    zk = core.zk
    assert zk is not None
    election = req.election_type if version >= 1 else PREFERRED
    named = None if req.topic_partitions is None else [(tp.topic, p) for tp in req.topic_partitions
                                                         for p in tp.partitions]
    states, failures = requested_election(zk.view, zk.node_id, election, named, zk.shutting_down)
    by_topic: dict[str, dict[tuple[str, int], PartitionState]] = {}
    for key, state in states.items():
        by_topic.setdefault(key[0], {})[key] = state
    zk.outbox.extend(SetPartitionStates(group, zk.view.controller_epoch_version) for _, group in sorted(by_topic.items()))
    results: dict[str, list[ElectLeadersResponse_PartitionResult]] = {}
    waiting: list[tuple[ElectLeadersResponse_PartitionResult, tuple[str, int], PartitionState]] = []
    for key in sorted(set(states) | set(failures)):
        code, message = failures.get(key, (ErrorCode.NONE, None))
        result = EResp.PartitionResult(key[1], int(code), message)
        results.setdefault(key[0], []).append(result)
        if key in states:
            waiting.append((result, key, states[key]))
    resp = EResp(error_code=0, replica_election_results=[EResp.ReplicaElectionResult(topic, partition_results)
                                                         for topic, partition_results in results.items()])
    if not waiting:
        return resp

    def elected(key: tuple[str, int], target: PartitionState) -> bool:
        now = zk.view.states.get(key)
        return now is not None and now.leader_epoch >= target.leader_epoch

    def poll(now_ms: int, expired: bool) -> ElectLeadersResponse | None:
        left = [(r, k) for r, k, target in waiting if not elected(k, target)]
        if left and not expired:
            return None
        for result, (topic, index) in left:
            result.error_code = ErrorCode.REQUEST_TIMED_OUT
            result.error_message = f"Timed out waiting for the election of a leader for {topic}-{index}."
        return resp

    return Pending(core.now_ms + max(0, req.timeout_ms), poll)

"""ElectLeaders (43): every leader already is its preferred replica, so no election is ever needed.

Preferred (0) and unclean (1) elections answer ELECTION_NOT_NEEDED (84) for each named partition
(the leader is the first replica and is alive), UNKNOWN_TOPIC_OR_PARTITION for one that does not
exist. With ``topic_partitions`` null (every partition) Kafka's controller leaves the
ELECTION_NOT_NEEDED partitions out, so the answer is empty. Another election type is
INVALID_REQUEST for every partition. The top-level error code (v1+) is 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.elect_leaders import (
    ElectLeadersRequest, ElectLeadersResponse, ElectLeadersResponse_PartitionResult,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

EResp = ElectLeadersResponse
PREFERRED, UNCLEAN = 0, 1


@handles(43)
def elect_leaders(core: BrokerCore, ctx: RequestContext, req: ElectLeadersRequest, version: int) -> ElectLeadersResponse:
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

"""WriteTxnMarkers (27): a transaction coordinator in another broker process asks for COMMIT/ABORT markers.

The inter-broker half of ending a transaction in ZooKeeper mode: the
coordinator writes the markers of the partitions it leads itself and sends the
others here (``broker.state.transactions.RemoteMarker``). Each partition this
broker leads gets its control batch (through the same ``write_marker`` the
coordinator uses, so the producer state, the last stable offset and the
aborted-transaction index follow); a partition of ``__consumer_offsets`` also
commits or drops the offsets the producer committed in the transaction to this
broker's group coordinator, as Kafka's group coordinator does on the marker.
Per partition: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER, or none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.internal import GROUP_TOPIC
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.write_txn_markers import WriteTxnMarkersRequest, WriteTxnMarkersResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

WResp = WriteTxnMarkersResponse


@handles(27)
def write_txn_markers(core: BrokerCore, ctx: RequestContext, req: WriteTxnMarkersRequest,
                      version: int) -> WriteTxnMarkersResponse:
    resp = WResp()
    for marker in req.markers:
        result = WResp.WritableTxnMarkerResult(producer_id=marker.producer_id)
        resp.markers.append(result)
        offsets_done = False
        for topic in marker.topics:
            out = WResp.WritableTxnMarkerTopicResult(name=topic.name)
            result.topics.append(out)
            for index in topic.partition_indexes:
                partition = core.cluster.partition(topic.name, index)
                if partition is None:
                    code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif partition.leader != ctx.node_id or not partition.local:
                    code = ErrorCode.NOT_LEADER_OR_FOLLOWER
                else:
                    core.txns.write_marker(topic.name, index, marker.producer_id, marker.producer_epoch,
                                           marker.transaction_result, marker.coordinator_epoch)
                    code = ErrorCode.NONE
                    if topic.name == GROUP_TOPIC and not offsets_done:
                        core.offsets.complete_transaction(marker.producer_id, marker.transaction_result)
                        offsets_done = True
                out.partitions.append(WResp.WritableTxnMarkerPartitionResult(index, int(code)))
    core.appended()
    return resp

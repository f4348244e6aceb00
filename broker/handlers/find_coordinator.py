"""FindCoordinator (10): which broker coordinates a group (key type 0) or a transactional id (key type 1).

The coordinator of a key is the leader of its partition of the internal topic
(``__consumer_offsets`` for groups, ``__transaction_state`` for transactional
ids; see ``broker.state.internal``), which is created on the first lookup, as
Kafka creates it. Kafka answers COORDINATOR_NOT_AVAILABLE while that topic is
being created; ours exists at once, so the first answer is already the
coordinator. Share groups (key type 2) are not enabled: INVALID_REQUEST, as
Kafka answers without share groups; any other key type is INVALID_REQUEST too.
Versions 4+ batch keys in ``coordinator_keys`` and answer per key.

The API must be advertised even for clients that never use groups: librdkafka
(confluent-kafka, kcat) infers LZ4 support from FindCoordinator being in
ApiVersions (``rdkafka_feature.c``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.internal import GROUP_TOPIC, TXN_TOPIC
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.find_coordinator import (
    FindCoordinatorRequest, FindCoordinatorResponse, FindCoordinatorResponse_Coordinator,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

FResp = FindCoordinatorResponse
KEY_TOPICS = {0: GROUP_TOPIC, 1: TXN_TOPIC}
SHARE_KEY_TYPE = 2


def lookup(core: BrokerCore, key: str, key_type: int) -> FindCoordinatorResponse_Coordinator:
    """The coordinator of one key, as the v4+ per-key entry (older versions copy its fields)."""
    topic = KEY_TOPICS.get(key_type)
    if topic is None:
        message = "Share groups are not enabled." if key_type == SHARE_KEY_TYPE else (
            f"Unknown coordinator type {key_type}")
        return FResp.Coordinator(key=key, node_id=-1, host="", port=-1, error_code=ErrorCode.INVALID_REQUEST,
                                 error_message=message)
    node_id = core.internal.coordinator(topic, key)
    broker = core.cluster.brokers.get(node_id)
    if broker is None:
        return FResp.Coordinator(key=key, node_id=-1, host="", port=-1,
                                 error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE,
                                 error_message="The coordinator is not available.")
    return FResp.Coordinator(key=key, node_id=node_id, host=core.config.advertised_host or broker.host,
                             port=broker.port, error_code=0, error_message="NONE")


@handles(10)
def find_coordinator(core: BrokerCore, ctx: RequestContext, req: FindCoordinatorRequest,
                     version: int) -> FindCoordinatorResponse:
    if version >= 4:
        return FResp(coordinators=[lookup(core, key, req.key_type) for key in req.coordinator_keys])
    found = lookup(core, req.key, req.key_type)
    return FResp(error_code=found.error_code, error_message=found.error_message if version >= 1 else "",
                 node_id=found.node_id, host=found.host, port=found.port)

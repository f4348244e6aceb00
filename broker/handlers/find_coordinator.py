"""FindCoordinator (10): no group or transaction coordinator yet, so every key is COORDINATOR_NOT_AVAILABLE.

This is what Kafka answers while the coordinator's internal topic is not ready
(error 15, node -1, host "", port -1), and clients retry it. The API must still
be advertised: librdkafka (confluent-kafka, kcat) infers LZ4 support from
FindCoordinator being in ApiVersions (``rdkafka_feature.c``, "GroupCoordinator
was released in 0.8.2") and silently produces LZ4 topics uncompressed without
it. Key types: 0 group, 1 transaction, 2 share; any other is INVALID_REQUEST.
Versions 4+ batch keys in ``coordinator_keys`` and answer per key.

To be replaced by the real coordinator lookup when consumer groups and
transactions are built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.find_coordinator import FindCoordinatorRequest, FindCoordinatorResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

FResp = FindCoordinatorResponse
KEY_TYPES = (0, 1, 2)
MESSAGES = {ErrorCode.COORDINATOR_NOT_AVAILABLE: "The coordinator is not available.",
            ErrorCode.INVALID_REQUEST: "Unknown coordinator type"}


def _error(key_type: int) -> ErrorCode:
    return ErrorCode.COORDINATOR_NOT_AVAILABLE if key_type in KEY_TYPES else ErrorCode.INVALID_REQUEST


@handles(10)
def find_coordinator(core: BrokerCore, ctx: RequestContext, req: FindCoordinatorRequest,
                     version: int) -> FindCoordinatorResponse:
    error = _error(req.key_type)
    if version >= 4:
        return FResp(coordinators=[FResp.Coordinator(key=key, node_id=-1, host="", port=-1, error_code=error,
                                                     error_message=MESSAGES[error])
                                   for key in req.coordinator_keys])
    return FResp(error_code=error, error_message=MESSAGES[error] if version >= 1 else "", node_id=-1, host="",
                 port=-1)

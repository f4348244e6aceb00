"""ApiVersions (18): the advertised API ranges, built from the handler registry alone, and features.

An ApiVersions request at a version we do not support never reaches here: the
connection answers it with the KIP-511 v0-body fallback (see broker.connection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import REGISTRY, handles
from wire.kafka.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse, ApiVersionsResponse_ApiVersion

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

# Feature levels consistent with what is implemented, finalized as a new Kafka 4.0 cluster finalizes
# them: group.version 1 (the KIP-848 consumer protocol, ConsumerGroupHeartbeat), transaction.version 2
# (KIP-890: EndTxn v5 bumps the epoch, Produce v12 / TxnOffsetCommit v5 add partitions to the transaction
# themselves), and a KRaft-era metadata.version that Kafka 4.0 also reports.
SUPPORTED_FEATURES = {"metadata.version": (1, 25), "transaction.version": (0, 2), "group.version": (0, 1)}
FINALIZED_FEATURES = {"metadata.version": 25, "transaction.version": 2, "group.version": 1}
FINALIZED_EPOCH = 1


def api_keys() -> list[ApiVersionsResponse_ApiVersion]:
    return [ApiVersionsResponse.ApiVersion(key, reg.min_version, reg.max_version)
            for key, reg in sorted(REGISTRY.items())]


def unsupported_version_response() -> ApiVersionsResponse:
    """KIP-511: error UNSUPPORTED_VERSION, only the ApiVersions entry, always encoded as v0."""
    reg = REGISTRY[18]
    return ApiVersionsResponse(error_code=35, api_keys=[ApiVersionsResponse.ApiVersion(18, reg.min_version,
                                                                                         reg.max_version)])


@handles(18)
def api_versions(core: BrokerCore, ctx: RequestContext, req: ApiVersionsRequest, version: int) -> ApiVersionsResponse:
    resp = ApiVersionsResponse(error_code=0, api_keys=api_keys(), throttle_time_ms=0)
    if version >= 3:
        resp.supported_features = [ApiVersionsResponse.SupportedFeatureKey(name, lo, hi)
                                   for name, (lo, hi) in SUPPORTED_FEATURES.items()]
        resp.finalized_features_epoch = FINALIZED_EPOCH
        resp.finalized_features = [ApiVersionsResponse.FinalizedFeatureKey(name, level, level)
                                   for name, level in FINALIZED_FEATURES.items()]
    return resp

"""ApiVersions (18): the advertised API ranges, built from the handler registry alone, and features.

Features: without ZooKeeper, the levels a new Kafka 4.0 cluster finalizes (below); in ZooKeeper mode, what a
Kafka 3.9 ZooKeeper-mode broker reports: no supported features, the finalized features of ``/feature`` and its
znode version as the epoch (``broker.zk.metadata`` keeps that cache).

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


def _zookeeper_mode_features(core: BrokerCore, resp: ApiVersionsResponse, version: int) -> None:
    """As a Kafka 3.9 broker in ZooKeeper mode answers: its supported features (none:
    ``BrokerFeatures.createEmpty()``; below v4 those with a minimum of 0 are left out, KAFKA-17492), the finalized
    features of ``/feature`` (without ``metadata.version``, which ZooKeeper mode never reports, and without
    level-0 entries) and, as the finalized features epoch, ``/feature``'s znode version (-1 while it is absent
    or disabled)."""
    from broker.zk.controller import ZK_SUPPORTED_FEATURES

    assert core.zk is not None
    resp.supported_features = [ApiVersionsResponse.SupportedFeatureKey(name, lo, hi)
                               for name, (lo, hi) in ZK_SUPPORTED_FEATURES.items() if version >= 4 or lo != 0]
    finalized = core.zk.finalized_features
    resp.finalized_features_epoch = core.zk.finalized_epoch if finalized is not None else -1
    resp.finalized_features = [ApiVersionsResponse.FinalizedFeatureKey(name, level, level)
                               for name, level in (finalized or {}).items()
                               if name != "metadata.version" and level != 0]


def api_keys(zookeeper_mode: bool) -> list[ApiVersionsResponse_ApiVersion]:
    return [ApiVersionsResponse.ApiVersion(key, reg.min_version, reg.max_version)
            for key, reg in sorted(REGISTRY.items()) if reg.exposed(zookeeper_mode)]


def unsupported_version_response() -> ApiVersionsResponse:
    """KIP-511: error UNSUPPORTED_VERSION, only the ApiVersions entry, always encoded as v0."""
    reg = REGISTRY[18]
    return ApiVersionsResponse(error_code=35, api_keys=[ApiVersionsResponse.ApiVersion(18, reg.min_version,
                                                                                         reg.max_version)])


@handles(18)
def api_versions(core: BrokerCore, ctx: RequestContext, req: ApiVersionsRequest, version: int) -> ApiVersionsResponse:
    resp = ApiVersionsResponse(error_code=0, api_keys=api_keys(core.zk is not None), throttle_time_ms=0)
    if version >= 3 and core.zk is not None:
        _zookeeper_mode_features(core, resp, version)
    elif version >= 3:
        resp.supported_features = [ApiVersionsResponse.SupportedFeatureKey(name, lo, hi)
                                   for name, (lo, hi) in SUPPORTED_FEATURES.items()]
        resp.finalized_features_epoch = FINALIZED_EPOCH
        resp.finalized_features = [ApiVersionsResponse.FinalizedFeatureKey(name, level, level)
                                   for name, level in FINALIZED_FEATURES.items()]
    return resp

"""DescribeCluster (60): brokers, controller and cluster id (kafka-python's describe_cluster)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from wire.kafka.messages.describe_cluster import DescribeClusterRequest, DescribeClusterResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


@handles(60)
def describe_cluster(core: BrokerCore, ctx: RequestContext, req: DescribeClusterRequest,
                     version: int) -> DescribeClusterResponse:
    cluster = core.cluster
    host = core.config.advertised_host
    return DescribeClusterResponse(
        cluster_id=cluster.cluster_id, controller_id=cluster.controller_id, endpoint_type=req.endpoint_type,
        brokers=[DescribeClusterResponse.DescribeClusterBroker(b.node_id, host or b.host, b.port, b.rack)
                 for b in sorted(cluster.brokers.values(), key=lambda b: b.node_id)],
    )

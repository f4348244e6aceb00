"""Metadata (3): brokers, controller, cluster id, topics with ids, partitions, leaders and epochs."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import auto_create, topic_name_error
from broker.state.cluster import Topic
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.metadata import MetadataRequest, MetadataResponse, MetadataResponse_MetadataResponseTopic
from wire.primitives import ZERO_UUID

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

MResp = MetadataResponse


def _topic(topic: Topic, live: Collection[int]) -> MetadataResponse_MetadataResponseTopic:
    """A leader that is not a live broker (ZooKeeper mode: its session ended, before the controller has moved
    leadership) is reported as -1 with LEADER_NOT_AVAILABLE, as Kafka's metadata cache does."""
    partitions = []
    for p in topic.partitions:
        leader = p.leader if p.leader in live else -1
        partitions.append(MResp.MetadataResponsePartition(ErrorCode.LEADER_NOT_AVAILABLE if leader < 0 else 0,
                                                          p.index, leader, p.leader_epoch, list(p.replicas),
                                                          list(p.isr), []))
    return MResp.MetadataResponseTopic(error_code=0, name=topic.name, topic_id=topic.topic_id,
                                       is_internal=topic.internal, partitions=partitions)


@handles(3)
def metadata(core: BrokerCore, ctx: RequestContext, req: MetadataRequest, version: int) -> MetadataResponse:
    cluster = core.cluster
    host = core.config.advertised_host
    resp = MResp(
        brokers=[MResp.MetadataResponseBroker(b.node_id, host or b.host, b.port, b.rack)
                 for b in sorted(cluster.brokers.values(), key=lambda b: b.node_id)],
        cluster_id=cluster.cluster_id,
        controller_id=cluster.controller_id,
    )
    # v0: an empty list means all topics; v1+: null means all, empty means none
    everything = req.topics is None or (version == 0 and not req.topics)
    if everything:
        resp.topics = [_topic(t, cluster.brokers) for t in cluster.topics.values() if not t.internal or version > 0]
        return resp
    allow_auto = req.allow_auto_topic_creation if version >= 4 else True
    for wanted in req.topics or []:
        name = wanted.name
        if name is None and wanted.topic_id != ZERO_UUID:
            topic = cluster.by_id.get(wanted.topic_id)
            if topic is None:
                resp.topics.append(MResp.MetadataResponseTopic(ErrorCode.UNKNOWN_TOPIC_ID, None, wanted.topic_id))
            else:
                resp.topics.append(_topic(topic, cluster.brokers))
            continue
        error = topic_name_error(name)
        if error is not None:
            resp.topics.append(MResp.MetadataResponseTopic(error, name))
            continue
        assert name is not None
        topic = cluster.topics.get(name)
        if topic is None and allow_auto:
            topic = auto_create(core, name)
            if topic is None and core.zk is not None and name in core.zk.auto_creating:
                # being created in ZooKeeper: Kafka answers LEADER_NOT_AVAILABLE and the client asks again
                resp.topics.append(MResp.MetadataResponseTopic(ErrorCode.LEADER_NOT_AVAILABLE, name))
                continue
        if topic is None:
            resp.topics.append(MResp.MetadataResponseTopic(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name))
        else:
            resp.topics.append(_topic(topic, cluster.brokers))
    return resp

"""DeleteTopics (20): by name (v0-5) or by name or id (v6+).

In ZooKeeper mode the topic is marked in ``/admin/delete_topics`` and the answer
waits (up to timeout_ms, then REQUEST_TIMED_OUT) until the controller has
removed it and ZooKeeper no longer lists it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import when_zookeeper_reports
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.delete_topics import (
    DeleteTopicsRequest, DeleteTopicsResponse, DeleteTopicsResponse_DeletableTopicResult,
)
from wire.primitives import ZERO_UUID

if TYPE_CHECKING:
    from broker.core import BrokerCore, Pending, RequestContext

DResp = DeleteTopicsResponse


@handles(20)
def delete_topics(core: BrokerCore, ctx: RequestContext, req: DeleteTopicsRequest,
                  version: int) -> DeleteTopicsResponse | Pending:
    resp = DResp()
    waiting: list[tuple[DeleteTopicsResponse_DeletableTopicResult, str]] = []
    cluster = core.cluster
    wanted = [(t.name, t.topic_id) for t in req.topics] if version >= 6 else [(n, ZERO_UUID) for n in req.topic_names]
    for name, topic_id in wanted:
        topic = cluster.topics.get(name) if name is not None else cluster.by_id.get(topic_id)
        res = DResp.DeletableTopicResult(name=name, topic_id=topic_id)
        resp.responses.append(res)
        if topic is None:
            res.error_code = ErrorCode.UNKNOWN_TOPIC_ID if name is None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            continue
        res.name, res.topic_id = topic.name, topic.topic_id if version >= 6 else ZERO_UUID
        if core.zk is not None:
            core.zk.mark_for_deletion(topic.name)
            waiting.append((res, topic.name))
            continue
        cluster.delete_topic(topic)
        core.offsets.delete_topic(topic.name)  # as Kafka's coordinator drops offsets of deleted partitions
        core.producers.drop_topic(topic.name)  # open transactions there must not hold back a re-created topic
    core.appended()  # wake parked fetches so they see the topic gone
    if not waiting:
        return resp
    return when_zookeeper_reports(core, req.timeout_ms, resp, [res for res, _ in waiting],
                                  lambda res: res.name not in cluster.topics, "the deletion of topic")

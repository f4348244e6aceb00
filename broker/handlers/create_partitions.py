"""CreatePartitions (37): grow a topic's partition count, optionally with explicit assignments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.create_partitions import CreatePartitionsRequest, CreatePartitionsResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


@handles(37)
def create_partitions(core: BrokerCore, ctx: RequestContext, req: CreatePartitionsRequest,
                      version: int) -> CreatePartitionsResponse:
    resp = CreatePartitionsResponse()
    for t in req.topics:
        res = CreatePartitionsResponse.CreatePartitionsTopicResult(t.name)
        resp.results.append(res)
        topic = core.cluster.topics.get(t.name)
        if topic is None:
            res.error_code, res.error_message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The topic does not exist."
            continue
        current = len(topic.partitions)
        if t.count < current:
            res.error_code = ErrorCode.INVALID_PARTITIONS
            res.error_message = f"Topic currently has {current} partitions, which is higher than the requested {t.count}."
            continue
        if t.count == current:
            res.error_code = ErrorCode.INVALID_PARTITIONS
            res.error_message = f"Topic already has {current} partitions."
            continue
        assignments = [a.broker_ids for a in t.assignments] if t.assignments else None
        if assignments is not None and len(assignments) != t.count - current:
            res.error_code = ErrorCode.INVALID_REPLICA_ASSIGNMENT
            res.error_message = f"Increasing the number of partitions by {t.count - current} but {len(assignments)} assignments provided."
            continue
        if not req.validate_only:
            core.cluster.add_partitions(topic, t.count, assignments)
    return resp

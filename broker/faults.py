"""Error responses for the broker's ``fail_next`` fault rule (the shared model is ``zkserver.faults``).

``error_response(api_key, version, request, error)`` builds the response Kafka's
``AbstractRequest.getErrorResponse`` would send for a request that failed as a
whole, WITHOUT executing it: every partition (or topic, or resource) the request
names carries ``error``; offsets and high watermarks are -1 and no records are
returned. Metadata still lists the brokers and the controller (taken from the
core when one is passed) so that a client can keep routing.

Covered API keys: Produce (0), Fetch (1), ListOffsets (2), Metadata (3),
DescribeConfigs (32), CreateTopics (19), DeleteTopics (20), InitProducerId (22),
FindCoordinator (10), AddPartitionsToTxn (24), EndTxn (26). For any other API key ``error_response`` returns ``None``
and the shell closes the connection instead (and logs that), which is also what
it does for an acks=0 Produce, whose producer reads no response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wire.kafka._message import Message
from wire.kafka.messages.add_partitions_to_txn import AddPartitionsToTxnResponse
from wire.kafka.messages.create_topics import CreateTopicsResponse
from wire.kafka.messages.delete_topics import DeleteTopicsResponse
from wire.kafka.messages.end_txn import EndTxnResponse
from wire.kafka.messages.describe_configs import DescribeConfigsResponse
from wire.kafka.messages.fetch import FetchResponse
from wire.kafka.messages.find_coordinator import FindCoordinatorResponse
from wire.kafka.messages.init_producer_id import InitProducerIdResponse
from wire.kafka.messages.list_offsets import ListOffsetsResponse
from wire.kafka.messages.metadata import MetadataResponse
from wire.kafka.messages.produce import ProduceResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore

COVERED = frozenset({0, 1, 2, 3, 10, 19, 20, 22, 24, 26, 32})


def _produce(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    return ProduceResponse(responses=[
        ProduceResponse.TopicProduceResponse(name=t.name, partition_responses=[
            ProduceResponse.PartitionProduceResponse(index=p.index, error_code=error, base_offset=-1)
            for p in t.partition_data])
        for t in req.topic_data])


def _fetch(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    return FetchResponse(
        error_code=error, session_id=0,
        responses=[FetchResponse.FetchableTopicResponse(topic=t.topic, topic_id=t.topic_id, partitions=[
            FetchResponse.PartitionData(partition_index=p.partition, error_code=error, high_watermark=-1,
                                        records=b"")
            for p in t.partitions])
            for t in req.topics])


def _list_offsets(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    return ListOffsetsResponse(topics=[
        ListOffsetsResponse.ListOffsetsTopicResponse(name=t.name, partitions=[
            ListOffsetsResponse.ListOffsetsPartitionResponse(partition_index=p.partition_index, error_code=error)
            for p in t.partitions])
        for t in req.topics])


def _metadata(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    resp = MetadataResponse()
    if core is not None:
        cluster = core.cluster
        host = core.config.advertised_host
        resp.brokers = [MetadataResponse.MetadataResponseBroker(b.node_id, host or b.host, b.port, b.rack)
                        for b in sorted(cluster.brokers.values(), key=lambda b: b.node_id)]
        resp.cluster_id = cluster.cluster_id
        resp.controller_id = cluster.controller_id
    everything = req.topics is None or (version == 0 and not req.topics)
    if everything:
        names = [] if core is None else [t.name for t in core.cluster.topics.values() if not t.internal or version > 0]
        resp.topics = [MetadataResponse.MetadataResponseTopic(error_code=error, name=n) for n in names]
    else:
        resp.topics = [MetadataResponse.MetadataResponseTopic(error_code=error, name=t.name, topic_id=t.topic_id)
                       for t in req.topics]
    return resp


def _create_topics(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    return CreateTopicsResponse(topics=[
        CreateTopicsResponse.CreatableTopicResult(name=t.name, error_code=error, error_message=None)
        for t in req.topics])


def _delete_topics(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    if version >= 6:
        results = [DeleteTopicsResponse.DeletableTopicResult(name=t.name, topic_id=t.topic_id, error_code=error)
                   for t in req.topics]
    else:
        results = [DeleteTopicsResponse.DeletableTopicResult(name=n, error_code=error) for n in req.topic_names]
    return DeleteTopicsResponse(responses=results)


def _init_producer_id(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    return InitProducerIdResponse(error_code=error, producer_id=-1, producer_epoch=-1)


def _add_partitions_to_txn(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    if version >= 4:  # the batched (broker) form: the error for the request as a whole
        return AddPartitionsToTxnResponse(error_code=error)
    return AddPartitionsToTxnResponse(results_by_topic_v3_and_below=[
        AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult(name=t.name, results_by_partition=[
            AddPartitionsToTxnResponse.AddPartitionsToTxnPartitionResult(partition_index=p, partition_error_code=error)
            for p in t.partitions])
        for t in req.v3_and_below_topics])


def _end_txn(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    return EndTxnResponse(error_code=error, producer_id=-1, producer_epoch=-1)


def _find_coordinator(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    if version >= 4:
        return FindCoordinatorResponse(coordinators=[
            FindCoordinatorResponse.Coordinator(key=k, node_id=-1, host="", port=-1, error_code=error,
                                                error_message=None)
            for k in req.coordinator_keys])
    return FindCoordinatorResponse(error_code=error, error_message=None, node_id=-1, host="", port=-1)


def _describe_configs(req: Any, version: int, error: int, core: BrokerCore | None) -> Message:
    return DescribeConfigsResponse(results=[
        DescribeConfigsResponse.DescribeConfigsResult(error_code=error, error_message=None,
                                                      resource_type=r.resource_type, resource_name=r.resource_name)
        for r in req.resources])


_BUILDERS = {0: _produce, 1: _fetch, 2: _list_offsets, 3: _metadata, 10: _find_coordinator, 19: _create_topics,
             20: _delete_topics, 22: _init_producer_id, 24: _add_partitions_to_txn, 26: _end_txn,
             32: _describe_configs}


def error_response(api_key: int, version: int, request: Any, error: int,
                   core: BrokerCore | None = None) -> Message | None:
    """The response that fails ``request`` as a whole with ``error``, or ``None`` for an API not covered."""
    builder = _BUILDERS.get(api_key)
    return None if builder is None else builder(request, version, int(error), core)

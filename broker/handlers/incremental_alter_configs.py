"""IncrementalAlterConfigs (44): SET/DELETE/APPEND/SUBTRACT on topic and broker configs, as Kafka 3.9 answers.

Topic resources (type 2): an unknown topic is UNKNOWN_TOPIC_OR_PARTITION; an unknown config name or a
value LogConfig would reject is INVALID_CONFIG; APPEND/SUBTRACT on a config that is not a LIST is
INVALID_CONFIG; a null value for SET/APPEND/SUBTRACT, an unknown operation, or a key named twice in
one resource is INVALID_REQUEST ("Error due to duplicate config keys", "Null value not supported for :
a, b"). Every check runs before anything changes, so a resource is altered
whole or not at all; ``validate_only`` runs the checks and changes nothing. Changes are stored in
``Topic.configs`` through ``apply_topic_configs``, which calls the cluster's change hook so a
``--data-dir`` broker saves them in its metadata file.

Broker resources (type 4), Kafka's dynamic broker configs: "" is the cluster-wide default
(``/config/brokers/<default>``), this broker's id its own entry (``/config/brokers/<id>``); another id
is INVALID_REQUEST ("Unexpected broker id, expected ..."), a name that is not a number INVALID_REQUEST
("Node id must be an integer ..."). The operations apply to the stored entry, then the whole entry is
validated as ``DynamicBrokerConfig.validate`` does: a key Kafka cannot change dynamically (broker.id,
num.partitions, ...) is "Cannot update these configs dynamically: Set(...)", a bad value "Invalid value
...", both INVALID_REQUEST with that message, as Kafka 3.9's ``ConfigAdminManager.preprocess`` answers
in both ZooKeeper and KRaft mode. The keys wiretwin honours are the topic-config synonyms and
``transaction.partition.verification.enable`` (``broker.state.dynamic``); other keys Kafka could change dynamically are refused the same way, saying
wiretwin does not support them. A resource named twice in one request is INVALID_REQUEST "Each resource
must appear at most once." (both times). Accepted entries go to ZooKeeper with a change
notification (ZooKeeper mode) or into the core (and the ``--data-dir`` metadata file). Other resource
types are INVALID_REQUEST.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.configs import TOPIC_CONFIGS, ConfigType, TopicConfigDef, topic_config_error
from broker.state.dynamic import BROKER_TO_TOPIC, HONOURED_BROKER_KEYS, broker_config_problem, scala_set, unhonoured
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.incremental_alter_configs import (
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsRequest_AlterableConfig, IncrementalAlterConfigsResponse,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, Pending, RequestContext
    from broker.state.cluster import Topic

TOPIC, BROKER = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3

Outcome = tuple[int, str | None]


def apply_topic_configs(core: BrokerCore, topic: Topic, configs: dict[str, str]) -> None:
    """Replace a topic's overrides and let the cluster persist them (the --data-dir metadata file)."""
    topic.configs = dict(configs)
    core.cluster._changed()
    if core.zk is not None:  # ZooKeeper mode: /config/topics/<topic> and a change notification
        core.zk.set_topic_configs(topic.name, configs)


def alter_broker(core: BrokerCore, ctx: RequestContext, name: str,
                 new_props: Callable[[dict[str, str]], dict[str, str] | Outcome], validate_only: bool) -> Outcome:
    """A BROKER resource: the default ("") or this broker's entry; see the module docstring."""
    broker_id: int | None = None
    if name:
        try:
            broker_id = int(name)
        except ValueError:
            return ErrorCode.INVALID_REQUEST, f"Node id must be an integer, but it is: {name}"
        if broker_id != ctx.node_id:
            return ErrorCode.INVALID_REQUEST, f"Unexpected broker id, expected {ctx.node_id}, but received {name}"
    new = new_props(core.dynamic.broker_props(broker_id))
    if isinstance(new, tuple):
        return new
    problem = broker_config_problem(new)
    if problem is None and unhonoured(new):
        problem = (f"Dynamic broker configs {scala_set(unhonoured(new))} are not supported by wiretwin (it honours "
                   f"the topic-config defaults {', '.join(sorted(HONOURED_BROKER_KEYS))})")
    if problem is not None:  # ConfigAdminManager.preprocess: the ConfigException as InvalidRequestException
        return ErrorCode.INVALID_REQUEST, problem
    if not validate_only:
        core.dynamic.set_broker_props(broker_id, new)
        if core.zk is not None:  # /config/brokers/<id|<default>> and a change notification
            core.zk.set_entity_config(f"brokers/{name or '<default>'}", new)
        else:
            core.dynamic_changed()
    return ErrorCode.NONE, None


def topic_lookup(core: BrokerCore, name: str) -> Topic | Outcome:
    topic = core.cluster.topics.get(name)
    if topic is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist."
    return topic


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _apply_ops(current: dict[str, str], ops: list[IncrementalAlterConfigsRequest_AlterableConfig],
               spec_of: Callable[[str], TopicConfigDef | None], known_only: bool = False) -> dict[str, str] | Outcome:
    """``prepareIncrementalConfigs``: the ops on a copy of ``current``. ``spec_of`` gives a key's type and
    default (None: not a LIST; with ``known_only`` an unknown topic config name, INVALID_CONFIG)."""
    if len({op.name for op in ops}) < len(ops):
        return ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys"
    nulls = [op.name for op in ops if op.value is None and op.config_operation != DELETE]
    if nulls:
        return ErrorCode.INVALID_REQUEST, f"Null value not supported for : {', '.join(nulls)}"
    for op in ops:
        if op.config_operation not in (SET, DELETE, APPEND, SUBTRACT):
            return ErrorCode.INVALID_REQUEST, f"Unknown operations type {op.config_operation}"
    new = dict(current)
    for op in ops:
        if known_only and spec_of(op.name) is None:
            return ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {op.name}"
        if op.config_operation == DELETE:
            new.pop(op.name, None)
            continue
        assert op.value is not None
        if op.config_operation == SET:
            new[op.name] = op.value
            continue
        spec = spec_of(op.name)
        if spec is None or spec.type != ConfigType.LIST:
            verb = "append" if op.config_operation == APPEND else "subtract"
            return ErrorCode.INVALID_CONFIG, f"Config value {verb} is not allowed for config key: {op.name}"
        items = _list(new.get(op.name, spec.default))
        if op.config_operation == APPEND:
            new[op.name] = ",".join(items + [v for v in _list(op.value) if v not in items])
        else:
            drop = set(_list(op.value))
            new[op.name] = ",".join(v for v in items if v not in drop)
    return new


def _incremental(topic: Topic, ops: list[IncrementalAlterConfigsRequest_AlterableConfig]) -> dict[str, str] | Outcome:
    new = _apply_ops(topic.configs, ops, TOPIC_CONFIGS.get, known_only=True)
    if isinstance(new, tuple):
        return new
    for key in {op.name for op in ops} & new.keys():
        error = topic_config_error(key, new[key])
        if error is not None:
            return ErrorCode.INVALID_CONFIG, error
    return new


def _broker_spec(name: str) -> TopicConfigDef | None:
    topic_key = BROKER_TO_TOPIC.get(name)
    return None if topic_key is None else TOPIC_CONFIGS[topic_key]


def alter_resource(core: BrokerCore, ctx: RequestContext, resource_type: int, resource_name: str,
                   new_configs: Callable[[Topic], dict[str, str] | Outcome],
                   new_broker_props: Callable[[dict[str, str]], dict[str, str] | Outcome],
                   validate_only: bool) -> Outcome:
    """The per-resource flow both alter APIs share: find the topic, compute and check its new overrides
    (``new_configs``), apply them unless validating; a broker's dynamic configs (``new_broker_props`` of the
    stored entry); refuse unknown types."""
    if resource_type == TOPIC:
        found = topic_lookup(core, resource_name)
        if isinstance(found, tuple):
            return found
        new = new_configs(found)
        if isinstance(new, tuple):
            return new
        if not validate_only:
            apply_topic_configs(core, found, new)
        return ErrorCode.NONE, None
    if resource_type == BROKER:
        return alter_broker(core, ctx, resource_name, new_broker_props, validate_only)
    return ErrorCode.INVALID_REQUEST, f"Unexpected resource type {resource_type}"


def repeated_resources(resources: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """The (type, name) pairs a request names more than once (each such resource is refused)."""
    return {r for r in resources if resources.count(r) > 1}


@handles(44)
def incremental_alter_configs(core: BrokerCore, ctx: RequestContext, req: IncrementalAlterConfigsRequest,
                              version: int) -> IncrementalAlterConfigsResponse | Pending:
    resp = IncrementalAlterConfigsResponse()
    twice = repeated_resources([(r.resource_type, r.resource_name) for r in req.resources])
    for res in req.resources:
        outcome: Outcome
        if (res.resource_type, res.resource_name) in twice:
            outcome = ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."
        else:
            outcome = alter_resource(core, ctx, res.resource_type, res.resource_name,
                                           lambda topic: _incremental(topic, res.configs),
                                           lambda props: _apply_ops(props, res.configs, _broker_spec),
                                           req.validate_only)
        code, message = outcome
        resp.responses.append(IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
            error_code=code, error_message=message, resource_type=res.resource_type,
            resource_name=res.resource_name))
    if core.zk is not None:  # answered once ZooKeeper has the change, as Kafka answers
        return core.zk.when_written(resp)
    return resp

"""IncrementalAlterConfigs (44): SET/DELETE/APPEND/SUBTRACT on topic configs, as Kafka 3.9/4.0 answers.

Topic resources (type 2): an unknown topic is UNKNOWN_TOPIC_OR_PARTITION; an unknown config name or a
value LogConfig would reject is INVALID_CONFIG; APPEND/SUBTRACT on a config that is not a LIST is
INVALID_CONFIG; a null value for SET/APPEND/SUBTRACT, an unknown operation, or a key named twice in
one resource is INVALID_REQUEST. Every check runs before anything changes, so a resource is altered
whole or not at all; ``validate_only`` runs the checks and changes nothing. Changes are stored in
``Topic.configs`` through ``apply_topic_configs``, which calls the cluster's change hook so a
``--data-dir`` broker saves them in its metadata file.

Broker resources (type 4): wiretwin has no dynamic broker configuration. A resource naming another
broker id is INVALID_REQUEST ("Unexpected broker id ..."), as in Kafka. A key Kafka cannot change
dynamically (broker.id, num.partitions, auto.create.topics.enable, ...) is INVALID_REQUEST with
Kafka's message "Cannot update these configs dynamically: Set(...)" (Kafka's broker wraps the
ConfigException from DynamicBrokerConfig in InvalidRequestException). Keys Kafka could change
dynamically are also refused with INVALID_REQUEST, saying wiretwin does not support them, rather
than accepted and ignored. Other resource types are INVALID_REQUEST.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.configs import TOPIC_CONFIGS, ConfigType, topic_config_error
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.incremental_alter_configs import (
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsRequest_AlterableConfig, IncrementalAlterConfigsResponse,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext
    from broker.state.cluster import Topic

TOPIC, BROKER = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3

# broker keys Kafka 3.9 can change at runtime (DynamicBrokerConfig): the topic synonyms and a few more
DYNAMIC_BROKER_KEYS = frozenset(
    {spec.broker_key for spec in TOPIC_CONFIGS.values() if spec.broker_key is not None}
    | {"message.max.bytes", "log.cleaner.threads", "num.io.threads", "num.network.threads",
       "num.replica.fetchers", "background.threads", "max.connections", "max.connections.per.ip"}
)

Outcome = tuple[int, str | None]


def apply_topic_configs(core: BrokerCore, topic: Topic, configs: dict[str, str]) -> None:
    """Replace a topic's overrides and let the cluster persist them (the --data-dir metadata file)."""
    topic.configs = dict(configs)
    core.cluster._changed()
    if core.zk is not None:  # ZooKeeper mode: /config/topics/<topic> and a change notification
        core.zk.set_topic_configs(topic.name, configs)


def broker_error(ctx: RequestContext, core: BrokerCore, name: str, keys: list[str]) -> Outcome:
    """The answer to any alteration of a BROKER resource (always an error; see the module docstring)."""
    if name not in ("", *(str(n) for n in core.cluster.brokers)) or (name and int(name) != ctx.node_id):
        return (ErrorCode.INVALID_REQUEST,
                f"Unexpected broker id, expected {ctx.node_id} or empty string, but received {name}")
    static = sorted(k for k in keys if k not in DYNAMIC_BROKER_KEYS)
    if static:
        return ErrorCode.INVALID_REQUEST, f"Cannot update these configs dynamically: Set({', '.join(static)})"
    return ErrorCode.INVALID_REQUEST, "Dynamic broker configs are not supported by wiretwin"


def topic_lookup(core: BrokerCore, name: str) -> Topic | Outcome:
    topic = core.cluster.topics.get(name)
    if topic is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist."
    return topic


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _incremental(topic: Topic, ops: list[IncrementalAlterConfigsRequest_AlterableConfig]) -> dict[str, str] | Outcome:
    seen: set[str] = set()
    for op in ops:
        if op.name in seen:
            return ErrorCode.INVALID_REQUEST, f"Error due to duplicate config keys: {op.name}"
        seen.add(op.name)
        if op.config_operation not in (SET, DELETE, APPEND, SUBTRACT):
            return ErrorCode.INVALID_REQUEST, f"Unknown operation type {op.config_operation}"
        if op.value is None and op.config_operation != DELETE:
            return ErrorCode.INVALID_REQUEST, f"Null value not supported for : {op.name}"
    new = dict(topic.configs)
    for op in ops:
        spec = TOPIC_CONFIGS.get(op.name)
        if spec is None:
            return ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {op.name}"
        if op.config_operation == DELETE:
            new.pop(op.name, None)
            continue
        assert op.value is not None
        if op.config_operation == SET:
            new[op.name] = op.value
            continue
        if spec.type != ConfigType.LIST:
            verb = "append" if op.config_operation == APPEND else "subtract"
            return ErrorCode.INVALID_CONFIG, f"Config value {verb} is not allowed for config key: {op.name}"
        current = _list(new.get(op.name, spec.default))
        if op.config_operation == APPEND:
            new[op.name] = ",".join(current + [v for v in _list(op.value) if v not in current])
        else:
            drop = set(_list(op.value))
            new[op.name] = ",".join(v for v in current if v not in drop)
    for key in seen & new.keys():
        error = topic_config_error(key, new[key])
        if error is not None:
            return ErrorCode.INVALID_CONFIG, error
    return new


def alter_resource(core: BrokerCore, ctx: RequestContext, resource_type: int, resource_name: str,
                   keys: list[str], new_configs: Callable[[Topic], dict[str, str] | Outcome],
                   validate_only: bool) -> Outcome:
    """The per-resource flow both alter APIs share: find the topic, compute and check its new overrides
    (``new_configs``), apply them unless validating; refuse broker resources and unknown types."""
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
        return broker_error(ctx, core, resource_name, keys)
    return ErrorCode.INVALID_REQUEST, f"Unexpected resource type {resource_type}"


@handles(44)
def incremental_alter_configs(core: BrokerCore, ctx: RequestContext, req: IncrementalAlterConfigsRequest,
                              version: int) -> IncrementalAlterConfigsResponse:
    resp = IncrementalAlterConfigsResponse()
    for res in req.resources:
        code, message = alter_resource(core, ctx, res.resource_type, res.resource_name,
                                       [c.name for c in res.configs],
                                       lambda topic: _incremental(topic, res.configs), req.validate_only)
        resp.responses.append(IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
            error_code=code, error_message=message, resource_type=res.resource_type,
            resource_name=res.resource_name))
    return resp

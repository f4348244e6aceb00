"""AlterConfigs (33), the legacy whole-set replace: a topic's overrides become exactly the configs sent.

Same checks and errors as IncrementalAlterConfigs (see incremental_alter_configs.py): unknown topic
UNKNOWN_TOPIC_OR_PARTITION, unknown name or bad value INVALID_CONFIG, a null value or a duplicate key
INVALID_REQUEST, ``validate_only`` changes nothing. A BROKER resource's dynamic entry (the default "" or
this broker's id) becomes exactly the configs sent, validated as in IncrementalAlterConfigs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers.incremental_alter_configs import Outcome, alter_resource, repeated_resources
from broker.state.configs import topic_config_error
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.alter_configs import (
    AlterConfigsRequest, AlterConfigsRequest_AlterableConfig, AlterConfigsResponse,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, Pending, RequestContext


def _legacy_props(configs: list[AlterConfigsRequest_AlterableConfig]) -> dict[str, str] | Outcome:
    """``ConfigAdminManager.preprocess``: no key twice, no null value; the configs sent, as a dict."""
    if len({c.name for c in configs}) < len(configs):
        return ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys"
    nulls = [c.name for c in configs if c.value is None]
    if nulls:
        return ErrorCode.INVALID_REQUEST, f"Null value not supported for : {', '.join(nulls)}"
    return {c.name: c.value for c in configs if c.value is not None}


def _replacement(configs: list[AlterConfigsRequest_AlterableConfig]) -> dict[str, str] | Outcome:
    new = _legacy_props(configs)
    if isinstance(new, tuple):
        return new
    for name, value in new.items():
        error = topic_config_error(name, value)
        if error is not None:
            return ErrorCode.INVALID_CONFIG, error
    return new


@handles(33)
def alter_configs(core: BrokerCore, ctx: RequestContext, req: AlterConfigsRequest, version: int) -> AlterConfigsResponse | Pending:
    resp = AlterConfigsResponse()
    twice = repeated_resources([(r.resource_type, r.resource_name) for r in req.resources])
    for res in req.resources:
        outcome: Outcome
        if (res.resource_type, res.resource_name) in twice:
            outcome = ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."
        else:
            outcome = alter_resource(core, ctx, res.resource_type, res.resource_name,
                                           lambda topic: _replacement(res.configs),
                                           lambda _props: _legacy_props(res.configs),
                                           req.validate_only)
        code, message = outcome
        resp.responses.append(AlterConfigsResponse.AlterConfigsResourceResponse(
            error_code=code, error_message=message, resource_type=res.resource_type,
            resource_name=res.resource_name))
    if core.zk is not None:  # answered once ZooKeeper has the change, as Kafka answers
        return core.zk.when_written(resp)
    return resp

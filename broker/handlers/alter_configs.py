"""AlterConfigs (33), the legacy whole-set replace: a topic's overrides become exactly the configs sent.

Same checks and errors as IncrementalAlterConfigs (see incremental_alter_configs.py): unknown topic
UNKNOWN_TOPIC_OR_PARTITION, unknown name or bad value INVALID_CONFIG, a null value or a duplicate key
INVALID_REQUEST, ``validate_only`` changes nothing. A BROKER resource's dynamic entry (the default "" or
this broker's id) becomes exactly the configs sent with a value (Kafka's ``ZkAdminManager.alterConfigs``
drops null values), validated as in IncrementalAlterConfigs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers.incremental_alter_configs import Outcome, alter_resource
from broker.state.configs import topic_config_error
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.alter_configs import (
    AlterConfigsRequest, AlterConfigsRequest_AlterableConfig, AlterConfigsResponse,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, Pending, RequestContext


def _replacement(configs: list[AlterConfigsRequest_AlterableConfig]) -> dict[str, str] | Outcome:
    new: dict[str, str] = {}
    for c in configs:
        if c.name in new:
            return ErrorCode.INVALID_REQUEST, f"Error due to duplicate config keys: {c.name}"
        if c.value is None:
            return ErrorCode.INVALID_REQUEST, f"Null value not supported for : {c.name}"
        error = topic_config_error(c.name, c.value)
        if error is not None:
            return ErrorCode.INVALID_CONFIG, error
        new[c.name] = c.value
    return new


@handles(33)
def alter_configs(core: BrokerCore, ctx: RequestContext, req: AlterConfigsRequest, version: int) -> AlterConfigsResponse | Pending:
    resp = AlterConfigsResponse()
    for res in req.resources:
        code, message = alter_resource(core, ctx, res.resource_type, res.resource_name,
                                       lambda topic: _replacement(res.configs),
                                       lambda _props: {c.name: c.value for c in res.configs if c.value is not None},
                                       req.validate_only)
        resp.responses.append(AlterConfigsResponse.AlterConfigsResourceResponse(
            error_code=code, error_message=message, resource_type=res.resource_type,
            resource_name=res.resource_name))
    if core.zk is not None:  # answered once ZooKeeper has the change, as Kafka answers
        return core.zk.when_written(resp)
    return resp

"""DescribeClientQuotas (48): the client quota entities matching a filter, as Kafka 3.9's ZooKeeper-mode broker.

The filter rules and errors are ``ZkAdminManager.describeClientQuotas``' (``broker.state.dynamic``):
components match an entity type exactly (a name), its default entity, or any entity of the type; with
``strict`` an entity may have no other types; user/client-id and ip components do not mix. A refused
filter answers the top-level error (INVALID_REQUEST, or UNSUPPORTED_VERSION for a custom entity type)
with no entries. Entities are answered from the core's ``DynamicConfigs`` (in ZooKeeper mode kept up to
date from ``/config/users|clients|ips`` by the bridge). Values are doubles, as stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.dynamic import FilterComponent, Refusal, describe_quotas
from wire.kafka.messages.describe_client_quotas import DescribeClientQuotasRequest, DescribeClientQuotasResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

DResp = DescribeClientQuotasResponse


@handles(48)
def describe_client_quotas(core: BrokerCore, ctx: RequestContext, req: DescribeClientQuotasRequest,
                           version: int) -> DescribeClientQuotasResponse:
    components = [FilterComponent(c.entity_type, c.match_type, c.match) for c in req.components]
    try:
        found = describe_quotas(core.dynamic.quotas, components, req.strict)
    except Refusal as refusal:
        return DResp(error_code=refusal.code, error_message=refusal.message, entries=None)
    entries = [DResp.EntryData(entity=[DResp.EntityData(kind, name) for kind, name in entity],
                               values=[DResp.ValueData(key, value) for key, value in sorted(values.items())])
               for entity, values in sorted(found.items(), key=lambda item: repr(item[0]))]
    return DResp(error_code=0, error_message=None, entries=entries)

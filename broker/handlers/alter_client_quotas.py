"""AlterClientQuotas (49): set or remove client quotas of user / client-id / ip entities, as Kafka 3.9's
ZooKeeper-mode broker (``ZkAdminManager.alterClientQuotas``).

Each entry is checked and applied on its own (``broker.state.dynamic``): an empty entity, an unknown entity
type, an empty name, an ip mixed with user/client-id, an invalid ip, an unknown key, or a fractional value
for a LONG/INT key is INVALID_REQUEST with Kafka's message. Accepted entries replace the entity's stored
properties (removing the last key keeps an empty entity, as Kafka's ``{"version":1,"config":{}}`` znode);
in ZooKeeper mode they are written to ``/config/users/<user>[/clients/<client-id>]``,
``/config/clients/<client-id>`` or ``/config/ips/<ip>`` (names sanitized, ``<default>`` for the default
entity) with a ``/config/changes`` notification; without ZooKeeper they are kept in the core (and in the
``--data-dir`` metadata file). ``validate_only`` changes nothing. Quotas are not enforced: wiretwin does
not throttle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.dynamic import Refusal, alter_quota, quota_entity
from broker.zk.layout import quota_entity_path
from wire.kafka.messages.alter_client_quotas import AlterClientQuotasRequest, AlterClientQuotasResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, Pending, RequestContext

AResp = AlterClientQuotasResponse


@handles(49)
def alter_client_quotas(core: BrokerCore, ctx: RequestContext, req: AlterClientQuotasRequest,
                        version: int) -> AlterClientQuotasResponse | Pending:
    resp = AResp()
    changed = False
    for entry in req.entries:
        out = AResp.EntryData(error_code=0, error_message=None,
                              entity=[AResp.EntityData(e.entity_type, e.entity_name) for e in entry.entity])
        resp.entries.append(out)
        try:
            entity = quota_entity([(e.entity_type, e.entity_name) for e in entry.entity])
            props = alter_quota(core.dynamic.quotas.get(entity, {}), entity,
                                [(op.key, None if op.remove else op.value) for op in entry.ops])
        except Refusal as refusal:
            out.error_code, out.error_message = refusal.code, refusal.message
            continue
        if req.validate_only:
            continue
        core.dynamic.quotas[entity] = props
        changed = True
        if core.zk is not None:
            core.zk.set_entity_config(quota_entity_path(entity), props)
    if changed and core.zk is None:
        core.dynamic_changed()
    if core.zk is not None:  # answered once ZooKeeper has the change, as Kafka answers
        return core.zk.when_written(resp)
    return resp

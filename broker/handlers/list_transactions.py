"""ListTransactions (66): the transactional ids this broker coordinates, filtered.

Filters as Kafka's: by state name (names this coordinator does not know are returned in
``unknown_state_filters`` and match nothing), by producer id, and from v1 by duration
(only transactions running longer than ``duration_filter`` ms). Dead ids are never listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.transactions import STATE_NAMES, TxnState
from wire.kafka.messages.list_transactions import ListTransactionsRequest, ListTransactionsResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

LResp = ListTransactionsResponse


@handles(66)
def list_transactions(core: BrokerCore, ctx: RequestContext, req: ListTransactionsRequest,
                      version: int) -> ListTransactionsResponse:
    unknown = [name for name in req.state_filters if name not in STATE_NAMES]
    states: set[TxnState] = {STATE_NAMES[name] for name in req.state_filters if name in STATE_NAMES}
    resp = LResp(error_code=0, unknown_state_filters=unknown)
    if req.state_filters and not states:
        return resp  # only unknown states asked for: nothing matches
    duration = req.duration_filter if version >= 1 else -1
    for meta in core.txns.list_transactions(ctx.node_id, states, set(req.producer_id_filters), duration):
        resp.transaction_states.append(LResp.TransactionState(meta.transactional_id, meta.producer_id,
                                                              meta.state.value))
    return resp

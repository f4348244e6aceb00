"""ControlledShutdown (7): a ZooKeeper-mode broker asks the controller to move its leaderships before it stops.

On the controller (``ZkMetadata.controlled_shutdown`` and the pure decision
``broker.zk.controller.controlled_shutdown``, Kafka 3.9's ``doControlledShutdown``): the
broker is marked as shutting down, the partitions it leads get another in-sync replica
as leader (leader epoch + 1, the ISR without the shutting-down brokers), it leaves the
ISR of the partitions it follows, and the answer, once ZooKeeper has the new states,
lists the partitions it still leads (replicated ones only; none eligible to take over).
Errors as Kafka answers them: STALE_CONTROLLER_EPOCH on a broker that is not the
controller (Kafka's ``ControllerMovedException``), STALE_BROKER_EPOCH for an epoch
older than the broker's registration, BROKER_NOT_AVAILABLE for a broker the controller
does not know (v0/v1). v0 has the request header without a client id (``wire.kafka.headers``).
The broker's own side (SIGTERM -> requests, retries) is ``BrokerServer.controlled_shutdown``.

Without ZooKeeper there is no controller to ask: the API is not advertised (its schema's
listeners are zkBroker and controller, not a KRaft broker) and a request for it closes the
connection (``BrokerCore.handle``), as for any API this kind of broker does not serve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.core import CloseConnection, Pending
from broker.handlers import handles
from wire.kafka.messages.controlled_shutdown import ControlledShutdownRequest, ControlledShutdownResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


@handles(7)
def controlled_shutdown(core: BrokerCore, ctx: RequestContext, req: ControlledShutdownRequest,
                        version: int) -> ControlledShutdownResponse | Pending | CloseConnection:
    if core.zk is None:
        return CloseConnection("ControlledShutdown without ZooKeeper: there is no ZooKeeper-mode controller")

    def answer(error_code: int, remaining: list[tuple[str, int]]) -> ControlledShutdownResponse:
        return ControlledShutdownResponse(
            error_code=error_code,
            remaining_partitions=[ControlledShutdownResponse.RemainingPartition(topic, index)
                                  for topic, index in remaining])

    epoch = req.broker_epoch if version >= 2 else -1
    return core.zk.controlled_shutdown(req.broker_id, epoch, answer)

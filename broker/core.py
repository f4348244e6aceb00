"""The pure broker core: decoded requests and the time in, responses (or waits) out.

``BrokerCore`` owns the cluster state. ``handle`` dispatches a decoded request
to its registered handler, which returns the response message, ``None`` (no
response: acks=0) or ``Pending`` (a long poll: the shell waits until the
deadline or until ``data_version`` moves, then calls ``poll`` again). Nothing
here sleeps, awaits or touches a socket; time is passed in as milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broker.config import BrokerConfig
from broker.handlers import REGISTRY, load_all
from broker.state.cluster import BrokerInfo, Cluster
from broker.state.producers import ProducerTable
from wire.kafka._message import Message
from wire.kafka.headers import RequestHeader

log = logging.getLogger("broker")


@dataclass
class RequestContext:
    """Where a request came from: which broker (listener) it reached, on which connection."""

    node_id: int
    header: RequestHeader
    connection_id: int = 0
    client_host: str = "127.0.0.1"

    @property
    def client_id(self) -> str | None:
        return self.header.client_id


@dataclass
class Pending:
    """A response that waits: ``poll(now_ms, expired)`` returns it once ready (always when expired)."""

    deadline_ms: int
    poll: Callable[[int, bool], Message | None]


HandlerResult = Message | Pending | None


@dataclass
class BrokerCore:
    config: BrokerConfig
    brokers: list[BrokerInfo]
    now_ms: int = 0
    cluster: Cluster = field(init=False)
    producers: ProducerTable = field(default_factory=ProducerTable)
    data_version: int = 0  # bumped on every append, so parked fetches know to look again
    wall_offset: int = 0  # wall-clock ms = now_ms + wall_offset (record timestamps)

    def __post_init__(self) -> None:
        load_all()
        self.cluster = Cluster(self.config.cluster_id, self.brokers)

    def supports(self, api_key: int, version: int) -> bool:
        reg = REGISTRY.get(api_key)
        return reg is not None and reg.min_version <= version <= reg.max_version

    def handle(self, ctx: RequestContext, request: Any, now_ms: int) -> HandlerResult:
        self.now_ms = now_ms
        reg = REGISTRY[ctx.header.api_key]
        return reg.handler(self, ctx, request, ctx.header.api_version)

    def wall_ms(self) -> int:
        return self.now_ms + self.wall_offset

    def appended(self) -> None:
        self.data_version += 1

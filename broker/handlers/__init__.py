"""The handler registry: one module per Kafka API key, each registering its version range.

This registry is the only source of what ApiVersions advertises, so nothing is
advertised that is not implemented; of it, a broker advertises and serves the APIs
its kind exposes (the schemas' listeners: ZooKeeper mode or not). A handler is a plain function
``(core, ctx, request, version) -> response | Pending | None``: it never sleeps
or awaits; a request that must wait (a long-poll Fetch) returns ``Pending`` with
a deadline, and ``None`` means no response at all (Produce with acks=0).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wire.kafka.messages import APIS

if TYPE_CHECKING:
    from broker.core import BrokerCore, HandlerResult, RequestContext

Handler = Callable[["BrokerCore", "RequestContext", Any, int], "HandlerResult"]


@dataclass(frozen=True)
class Registration:
    api_key: int
    min_version: int
    max_version: int
    handler: Handler

    def exposed(self, zookeeper_mode: bool) -> bool:
        """Whether a broker of this kind serves the API: Kafka 3.9's schemas name the listeners of each
        ("zkBroker": a ZooKeeper-mode broker, "broker": a KRaft broker, as wiretwin is without ZooKeeper).
        ControlledShutdown is ZooKeeper-mode only, DescribeTopicPartitions KRaft only."""
        return ("zkBroker" if zookeeper_mode else "broker") in APIS[self.api_key].listeners


REGISTRY: dict[int, Registration] = {}

def _handler_modules() -> tuple[str, ...]:
    """Every module of this package not starting with "_": one per API key, found rather than listed,
    so adding an API is adding its module."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


MODULES = _handler_modules()


def handles(api_key: int, min_version: int | None = None, max_version: int | None = None) -> Callable[[Handler], Handler]:
    """Register ``fn`` for ``api_key``; the version range defaults to every version the schemas define
    (3.9's minimum to 4.0's maximum), minus an unstable latest version. Which kind of broker serves it
    comes from the schema's listeners (``Registration.exposed``)."""
    info = APIS[api_key]
    lo = info.min_version if min_version is None else min_version
    hi = info.max_version - (1 if info.latest_version_unstable else 0) if max_version is None else max_version

    def register(fn: Handler) -> Handler:
        if api_key in REGISTRY:
            raise RuntimeError(f"API key {api_key} registered twice")
        REGISTRY[api_key] = Registration(api_key, lo, hi, fn)
        return fn

    return register


def load_all() -> dict[int, Registration]:
    for name in MODULES:
        importlib.import_module(f"broker.handlers.{name}")
    return REGISTRY

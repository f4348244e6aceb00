"""The shape of the generated registry's entries, with lazy access to the message classes."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from wire.kafka._message import Message


@dataclass(frozen=True)
class ApiInfo:
    """Facts about one Kafka API (one API key), as the merged 3.9 + 4.0 schemas give them."""

    api_key: int
    module: str
    request_name: str
    response_name: str
    versions: frozenset[int]
    request_flexible_versions: frozenset[int]
    response_flexible_versions: frozenset[int]
    deprecated_versions: frozenset[int]
    latest_version_unstable: bool
    listeners: tuple[str, ...]

    @property
    def min_version(self) -> int:
        return min(self.versions)

    @property
    def max_version(self) -> int:
        return max(self.versions)

    @property
    def request(self) -> type[Message]:
        return _load(self.module, self.request_name)

    @property
    def response(self) -> type[Message]:
        return _load(self.module, self.response_name)


@dataclass(frozen=True)
class DataInfo:
    """A non-RPC schema (e.g. the consumer protocol's subscription and assignment)."""

    module: str
    name: str
    versions: frozenset[int]

    @property
    def message(self) -> type[Message]:
        return _load(self.module, self.name)


_cache: dict[tuple[str, str], type[Message]] = {}


def _load(module: str, name: str) -> type[Message]:
    key = (module, name)
    cls = _cache.get(key)
    if cls is None:
        mod = importlib.import_module(f"wire.kafka.messages.{module}")
        cls = getattr(mod, name)
        _cache[key] = cls
    return cls

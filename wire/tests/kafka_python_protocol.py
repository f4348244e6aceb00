"""Access to kafka-python 3.0.12's own JSON-schema codec (``kafka.protocol``), for cross-checks.

kafka-python bundles Kafka 4.x-era message schemas (``kafka/protocol/schemas/resources``) and
builds one class per request, response and data schema from them. This module finds those
classes without hard-coding their module paths, so the tests compare against whatever the
installed kafka-python defines.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import Iterator
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # its loader uses importlib.resources.read_text
    import kafka.protocol as _kp_protocol
    from kafka.protocol.api_data import ApiData
    from kafka.protocol.api_header import RequestHeader as KpRequestHeader
    from kafka.protocol.api_header import ResponseHeader as KpResponseHeader
    from kafka.protocol.api_message import ApiMessage
    from kafka.protocol.schemas import BaseField


def _subclasses(cls: type) -> Iterator[Any]:
    sub: Any
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _load() -> tuple[dict[tuple[int, str], Any], dict[str, Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for mod in pkgutil.walk_packages(_kp_protocol.__path__, "kafka.protocol."):
            if ".old" in mod.name or mod.name.endswith("generate_stubs"):
                continue  # the pre-JSON hand-written structs, and a dev script
            importlib.import_module(mod.name)
    apis: dict[tuple[int, str], Any] = {}
    for c in _subclasses(ApiMessage):
        if getattr(c, "_class_version", None) is None and "_json" in c.__dict__:
            apis[(c.API_KEY, c.type)] = c
    data = {c.__name__: c for c in _subclasses(ApiData) if "_json" in c.__dict__}
    return apis, data


# kafka-python's message classes by (api key, "request" | "response"), and its data classes by name
KP_APIS, KP_DATA = _load()


def kp_range(kp_cls: Any) -> frozenset[int]:
    """The versions kafka-python's bundled JSON declares (its loader then resets the minimum to 0)."""
    lo, hi = BaseField.parse_versions(kp_cls._json["validVersions"])
    return frozenset(range(lo, hi + 1))


def kp_decode(kp_cls: Any, data: bytes, version: int) -> Any:
    """Decode a body (no header) with kafka-python."""
    obj = kp_cls.decode(data, version=version, header=False)
    if hasattr(kp_cls, "with_header"):
        obj._header = None  # objects built by its compiled decoder lack this slot, which encode() reads
    return obj


def kp_encode(obj: Any, version: int) -> bytes:
    """Encode a body (no header) with kafka-python."""
    return bytes(obj.encode(version=version, header=False))


__all__ = ["KP_APIS", "KP_DATA", "KpRequestHeader", "KpResponseHeader", "kp_decode", "kp_encode", "kp_range"]

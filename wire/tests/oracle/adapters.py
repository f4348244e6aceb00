"""Small explicit mappings between plain oracle values and ``wire``'s message classes (generated Kafka
``Struct`` classes, ZooKeeper dataclasses).

The oracle's field names are the schema names in snake_case, which is also how
``wire`` names its attributes; ``RENAMES`` lists the exceptions, by the
dataclass's qualified name. Nested classes are found from the dataclass's type
hints (not from ``FIELDS``), so nothing here leans on the generated schema facts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import lru_cache
from typing import Any

from wire.kafka._message import Struct

#: (dataclass name, oracle field) -> dataclass attribute, where the two differ.
RENAMES: dict[tuple[str, str], str] = {}


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _struct_class(hint: Any) -> type | None:
    """The dataclass a hint names, directly, inside ``list[...]`` or ``... | None``."""
    if isinstance(hint, type) and (dataclasses.is_dataclass(hint) or issubclass(hint, Struct)):
        return hint
    origin = typing.get_origin(hint)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            found = _struct_class(arg)
            if found is not None:
                return found
    return None


def _convert(hint: Any, value: Any) -> Any:
    if isinstance(value, dict):
        cls = _struct_class(hint)
        if cls is None:
            raise TypeError(f"no dataclass in {hint!r} for {value!r}")
        return from_plain(cls, value)
    if isinstance(value, list):
        cls = _struct_class(hint)
        if cls is not None:
            return [from_plain(cls, item) if isinstance(item, dict) else item for item in value]
        return list(value)
    return value


def attr_name(cls: type, field: str) -> str:
    return RENAMES.get((cls.__name__, field), field)


def from_plain(cls: type, value: dict[str, Any], **renames: str) -> Any:
    """Build ``cls`` from a plain oracle value; fields the value lacks keep their defaults."""
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for key, item in value.items():
        attr = renames.get(key) or attr_name(cls, key)
        if attr not in hints:
            raise KeyError(f"{cls.__name__} has no attribute {attr!r} (oracle field {key!r})")
        kwargs[attr] = _convert(hints[attr], item)
    return cls(**kwargs)


__all__ = ["RENAMES", "attr_name", "from_plain"]

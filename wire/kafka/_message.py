"""Runtime support for the generated Kafka message classes in ``wire.kafka.messages``.

The generated modules define slotted classes (each with its own ``__init__``)
and plain read/write functions; this module gives them their shared public
surface: value equality and a repr like a dataclass's, ``replace``,
``Message.decode(buf, version)`` and ``msg.encode(version)``, version checks,
and the ``FieldInfo`` facts each class carries (used by tests to build values
of every message at every version). The classes are not dataclasses: the
dataclass decorator costs about 1 ms per class at import, which made broker
start-up pay tens of milliseconds per API it serves.
"""

from __future__ import annotations

import builtins
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from wire.errors import EncodeError, TrailingBytesError, UnsupportedVersionError
from wire.primitives import Buffer, decoding_errors, encoding_errors

M = TypeVar("M", bound="Message")


def parse_version_set(spec: str) -> frozenset[int]:
    """``"0-3,5,7-9"`` -> {0, 1, 2, 3, 5, 7, 8, 9}; ``""`` -> the empty set."""
    out: set[int] = set()
    for part in spec.split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """Schema facts about one field of a generated message or struct."""

    name: str  # the schema's name, e.g. "TopicData"
    attr: str  # the Python attribute, e.g. "topic_data"
    type: str  # the schema's type, e.g. "[]TopicProduceData", "int32", "records"
    versions: frozenset[int]
    nullable_versions: frozenset[int]
    tagged_versions: frozenset[int]
    tag: int | None
    ignorable: bool
    map_key: bool
    entity_type: str | None
    struct: builtins.type[Any] | None  # the generated class of a struct (or struct array) field


# the default of a list or struct field in a generated ``__init__``: a fresh value is made per instance
FRESH: Any = object()

S = TypeVar("S", bound="Struct")


class Struct:
    """Base of every generated class, nested structs included: equality, repr and ``replace`` over the
    concrete class's ``__slots__`` (its fields, in schema order)."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]  # mutable values, compared by value
    FIELDS: ClassVar[tuple[FieldInfo, ...]] = ()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The attributes of this class, in schema order (``unknown_tagged_fields`` last)."""
        return cls.__slots__  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.field_names())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.field_names())
        return f"{type(self).__qualname__}({fields})"

    def replace(self: S, **changes: Any) -> S:
        """A copy with ``changes`` applied (like ``dataclasses.replace``)."""
        names = self.field_names()
        unknown = set(changes) - set(names)
        if unknown:
            raise TypeError(f"{type(self).__qualname__} has no field(s) {sorted(unknown)}")
        values: dict[str, Any] = {name: getattr(self, name) for name in names}
        values.update(changes)
        return type(self)(**values)


class Message(Struct):
    """Base of every generated top-level message (request, response or data record)."""

    __slots__ = ()
    NAME: ClassVar[str]
    API_KEY: ClassVar[int | None]
    KIND: ClassVar[str]  # "request", "response" or "data"
    VERSIONS: ClassVar[frozenset[int]]
    FLEXIBLE_VERSIONS: ClassVar[frozenset[int]]
    _read: ClassVar[Callable[[Buffer, int, int], tuple[Any, int]]]
    _write: ClassVar[Callable[[bytearray, Any, int], None]]

    @classmethod
    def min_version(cls) -> int:
        return min(cls.VERSIONS)

    @classmethod
    def max_version(cls) -> int:
        return max(cls.VERSIONS)

    @classmethod
    def is_flexible(cls, version: int) -> bool:
        return version in cls.FLEXIBLE_VERSIONS

    @classmethod
    def decode(cls: type[M], buf: Buffer, version: int, *, pos: int = 0, whole: bool = True) -> M:
        """Decode a body at ``version``. The whole buffer (from ``pos``) must be consumed."""
        obj, end = cls.decode_from(buf, version, pos)
        if whole and end != len(buf):
            raise TrailingBytesError(f"{cls.NAME} v{version}: {len(buf) - end} bytes left after the message")
        return obj

    @classmethod
    def decode_from(cls: type[M], buf: Buffer, version: int, pos: int = 0) -> tuple[M, int]:
        """Decode a body at ``version`` starting at ``pos``; return it and the position after it."""
        if version not in cls.VERSIONS:
            raise UnsupportedVersionError(f"{cls.NAME} has no version {version}")
        try:  # inline rather than decoding_errors(): this is the hot path of every request
            obj, end = cls._read(buf, pos, version)
        except (struct.error, UnicodeDecodeError):
            with decoding_errors(f"{cls.NAME} v{version}"):
                raise
        return obj, end  # type: ignore[no-any-return]

    def encode(self, version: int) -> bytes:
        out = bytearray()
        self.encode_into(out, version)
        return bytes(out)

    def encode_into(self, out: bytearray, version: int) -> None:
        cls = type(self)
        if version not in cls.VERSIONS:
            raise EncodeError(f"{cls.NAME} has no version {version}")
        with encoding_errors(f"{cls.NAME} v{version}"):
            cls._write(out, self, version)


def cannot_carry(struct: str, field: str, version: int) -> EncodeError:
    return EncodeError(f"{struct}.{field} is set but version {version} cannot carry it")

"""Kafka's primitive types, declared in construct from the protocol guide.

From https://kafka.apache.org/protocol#protocol_types and the schema README:

* INT8/16/32/64: big-endian two's complement; UINT32 for CRCs; BOOLEAN one byte
  (0 false, anything else true); UUID 16 bytes; FLOAT64 IEEE 754 big-endian.
* UNSIGNED_VARINT: LEB128; VARINT / VARLONG: zigzag then LEB128.
* STRING: int16 length then UTF-8; NULLABLE_STRING: length -1 is null.
* COMPACT_STRING: unsigned varint of length+1 then UTF-8; COMPACT_NULLABLE_STRING: 0 is null.
* BYTES / NULLABLE_BYTES: int32 length (-1 null); COMPACT_(NULLABLE_)BYTES: varint length+1 (0 null).
* ARRAY: int32 count (-1 null); COMPACT_ARRAY: unsigned varint count+1 (0 null).
* Tagged fields (flexible versions): after each struct's fields, an unsigned varint
  count, then per field an unsigned varint tag, an unsigned varint size and the data.
  A tagged field is written only when its value differs from its default, in
  ascending tag order.

Each type is a construct object that also carries what ``strategies`` needs to
draw values for it (``nullable``, the element type, the tag table).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from construct import (
    Adapter,
    Array,
    Bytes,
    Construct,
    Container,
    Flag,
    Float64b,
    GreedyBytes,
    If,
    Int8sb,
    Int16sb,
    Int16ub,
    Int32sb,
    Int32ub,
    Int64sb,
    ListContainer,
    Prefixed,
    PrefixedArray,
    Rebuild,
    Struct,
    ValidationError,
    VarInt,
    ZigZag,
    this,
)

INT8 = Int8sb
INT16 = Int16sb
UINT16 = Int16ub
INT32 = Int32sb
UINT32 = Int32ub
INT64 = Int64sb
BOOL = Flag
FLOAT64 = Float64b


class Ranged(Adapter):  # type: ignore[misc]
    """A pass-through over an unbounded integer construct that records the range Kafka allows."""

    def __init__(self, subcon: Construct, lo: int, hi: int) -> None:
        super().__init__(subcon)
        self.lo = lo
        self.hi = hi

    def _decode(self, obj: int, context: Any, path: str) -> int:
        return obj

    def _encode(self, obj: int, context: Any, path: str) -> int:
        if not self.lo <= obj <= self.hi:
            raise ValidationError(f"{obj} outside [{self.lo}, {self.hi}]", path=path)
        return obj


UVARINT = Ranged(VarInt, 0, 2**32 - 1)  # UNSIGNED_VARINT: unsigned LEB128 (construct's VarInt)
VARINT = Ranged(ZigZag, -(2**31), 2**31 - 1)  # VARINT: zigzag then LEB128
VARLONG = Ranged(ZigZag, -(2**63), 2**63 - 1)  # VARLONG


def plain(value: Any) -> Any:
    """A parsed construct value as plain Python: dicts without ``_io``, lists, tuples kept."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, (list, ListContainer)):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


class Uuid(Adapter):  # type: ignore[misc]
    """UUID: 16 raw bytes <-> uuid.UUID."""

    def __init__(self) -> None:
        super().__init__(Bytes(16))

    def _decode(self, obj: bytes, context: Any, path: str) -> uuid.UUID:
        return uuid.UUID(bytes=bytes(obj))

    def _encode(self, obj: uuid.UUID, context: Any, path: str) -> bytes:
        return obj.bytes


UUID = Uuid()


def _length_prefixed(length: Construct, compact: bool) -> Construct:
    """{length, data}: classic (length, -1 null) or compact (length+1, 0 null)."""
    if compact:
        return Struct(
            "length" / Rebuild(length, lambda ctx: 0 if ctx.data is None else len(ctx.data) + 1),
            "data" / If(this.length > 0, Bytes(this.length - 1)),
        )
    return Struct(
        "length" / Rebuild(length, lambda ctx: -1 if ctx.data is None else len(ctx.data)),
        "data" / If(this.length >= 0, Bytes(this.length)),
    )


class KBytes(Adapter):  # type: ignore[misc]
    """BYTES / NULLABLE_BYTES / COMPACT_(NULLABLE_)BYTES (and ``records``, which is nullable bytes)."""

    def __init__(self, *, compact: bool, nullable: bool, length: Construct | None = None) -> None:
        super().__init__(_length_prefixed(length if length is not None else (UVARINT if compact else INT32), compact))
        self.compact = compact
        self.nullable = nullable

    def _decode(self, obj: Any, context: Any, path: str) -> bytes | None:
        if obj.data is None:
            if not self.nullable:
                raise ValidationError("null in a non-nullable field", path=path)
            return None
        return bytes(obj.data)

    def _encode(self, obj: bytes | None, context: Any, path: str) -> Any:
        if obj is None and not self.nullable:
            raise ValidationError("null in a non-nullable field", path=path)
        return Container(data=obj)


class KString(Adapter):  # type: ignore[misc]
    """STRING / NULLABLE_STRING / COMPACT_(NULLABLE_)STRING: UTF-8 text."""

    def __init__(self, *, compact: bool, nullable: bool, length: Construct | None = None) -> None:
        super().__init__(KBytes(compact=compact, nullable=nullable,
                                length=length if length is not None else (UVARINT if compact else INT16)))
        self.compact = compact
        self.nullable = nullable

    def _decode(self, obj: bytes | None, context: Any, path: str) -> str | None:
        return None if obj is None else obj.decode("utf-8")

    def _encode(self, obj: str | None, context: Any, path: str) -> bytes | None:
        return None if obj is None else obj.encode("utf-8")


class KArray(Adapter):  # type: ignore[misc]
    """ARRAY (int32 count, -1 null) / COMPACT_ARRAY (uvarint count+1, 0 null) of ``element``."""

    def __init__(self, element: Construct, *, compact: bool, nullable: bool = False,
                 count: Construct | None = None) -> None:
        if compact:
            inner = Struct(
                "count" / Rebuild(UVARINT, lambda ctx: 0 if ctx["items"] is None else len(ctx["items"]) + 1),
                "items" / If(this.count > 0, Array(this.count - 1, element)),
            )
        else:
            inner = Struct(
                "count" / Rebuild(count if count is not None else INT32,
                                  lambda ctx: -1 if ctx["items"] is None else len(ctx["items"])),
                "items" / If(this.count >= 0, Array(this.count, element)),
            )
        super().__init__(inner)
        self.element = element
        self.compact = compact
        self.nullable = nullable

    def _decode(self, obj: Any, context: Any, path: str) -> list[Any] | None:
        if obj["items"] is None:
            if not self.nullable:
                raise ValidationError("null array in a non-nullable field", path=path)
            return None
        return list(obj["items"])

    def _encode(self, obj: list[Any] | None, context: Any, path: str) -> Any:
        if obj is None and not self.nullable:
            raise ValidationError("null array in a non-nullable field", path=path)
        return Container(items=obj)


#: The raw tagged-field section: count, then (tag, size-prefixed data) per field.
RAW_TAGGED_FIELDS = PrefixedArray(UVARINT, Struct("tag" / UVARINT, "data" / Prefixed(UVARINT, GreedyBytes)))


class Tagged:
    """One known tagged field: its name, its encoding and the default that means "absent"."""

    __slots__ = ("name", "subcon", "default")

    def __init__(self, name: str, subcon: Construct, default: Any) -> None:
        self.name = name
        self.subcon = subcon
        self.default = default


#: The attribute that holds a struct's unknown tagged fields, as (tag, bytes) pairs in tag order.
UNKNOWN = "unknown_tagged_fields"


class KStruct(Adapter):  # type: ignore[misc]
    """A Kafka struct: fields in order, plus (when ``flexible``) a tagged-field section.

    Parses into a flat Container: the regular fields, every known tagged field (its
    default when absent) and, when flexible, ``unknown_tagged_fields``.
    """

    def __init__(self, fields: Iterable[Construct | None], *, flexible: bool,
                 tagged: dict[int, Tagged] | None = None) -> None:
        self.fields = [f for f in fields if f is not None]
        self.flexible = flexible
        self.tagged = dict(tagged or {})
        if self.tagged and not flexible:
            raise ValueError("tagged fields need a flexible version")
        subcons = list(self.fields)
        if flexible:
            subcons.append("_tagged" / RAW_TAGGED_FIELDS)
        super().__init__(Struct(*subcons))

    def _decode(self, obj: Any, context: Any, path: str) -> Container:
        out = Container()
        for f in self.fields:
            out[f.name] = obj[f.name]
        if not self.flexible:
            return out
        for tagged in self.tagged.values():
            out[tagged.name] = tagged.default
        unknown: list[tuple[int, bytes]] = []
        for raw in obj["_tagged"]:
            known = self.tagged.get(raw.tag)
            if known is None:
                unknown.append((raw.tag, bytes(raw.data)))
            else:
                out[known.name] = known.subcon.parse(raw.data)
        out[UNKNOWN] = unknown
        return out

    def _encode(self, obj: Any, context: Any, path: str) -> Container:
        out = Container()
        for f in self.fields:
            out[f.name] = obj[f.name]
        if self.flexible:
            raw: list[tuple[int, bytes]] = []
            for tag, known in self.tagged.items():
                value = obj.get(known.name, known.default)
                if plain(value) != plain(known.default):
                    raw.append((tag, known.subcon.build(value)))
            raw.extend((tag, bytes(data)) for tag, data in obj.get(UNKNOWN, []))
            raw.sort(key=lambda item: item[0])
            out["_tagged"] = [Container(tag=tag, data=data) for tag, data in raw]
        return out


class Kafka:
    """The type constructors for one message version: compact forms when ``flexible``."""

    def __init__(self, version: int, flexible_from: int | None) -> None:
        self.v = version
        self.flexible = flexible_from is not None and version >= flexible_from

    def string(self, nullable: bool = False) -> KString:
        return KString(compact=self.flexible, nullable=nullable)

    def bytes(self, nullable: bool = False) -> KBytes:
        return KBytes(compact=self.flexible, nullable=nullable)

    def records(self) -> KBytes:
        return KBytes(compact=self.flexible, nullable=True)

    def array(self, element: Construct, nullable: bool = False) -> KArray:
        return KArray(element, compact=self.flexible, nullable=nullable)

    def struct(self, *fields: Construct | None, tagged: dict[int, Tagged] | None = None) -> KStruct:
        return KStruct(fields, flexible=self.flexible, tagged=tagged)


def since(cond: bool, field: Construct) -> Construct | None:
    """``field`` if the version has it (``cond``), else nothing."""
    return field if cond else None


def tags(*entries: tuple[bool, int, Tagged]) -> dict[int, Tagged]:
    """The tag table of a struct at one version: the entries whose condition holds."""
    return {tag: t for cond, tag, t in entries if cond}


__all__ = [
    "BOOL", "FLOAT64", "INT8", "INT16", "INT32", "INT64", "RAW_TAGGED_FIELDS", "UINT16", "UINT32", "UNKNOWN",
    "UUID", "UVARINT", "VARINT", "VARLONG", "KArray", "KBytes", "KString", "KStruct", "Kafka", "Ranged",
    "Tagged", "Uuid", "plain", "since", "tags",
]

"""Load Kafka's JSON message schemas and merge the 3.9 and 4.0 sets into one model.

The model is what the emitter needs and nothing more: for every message, its
version range and, for every field, the exact set of versions in which it is
present, nullable or tagged. Version attributes are kept as sets rather than
ranges because merging two schema sets can make them non-contiguous.

Merge rule (see the project issue): a message's versions are the union of both
files' ``validVersions``. A version that the 4.0 file defines takes the 4.0
definition; a version only the 3.9 file defines (one that 4.0 removed) takes
the 3.9 definition. Fields are matched by name within each struct.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

PRIMITIVES = frozenset(
    {"bool", "int8", "int16", "uint16", "int32", "uint32", "int64", "float64", "string", "bytes", "uuid", "records"}
)

_COMMENT = re.compile(r"^\s*//.*$", re.M)


class SchemaError(Exception):
    """The schema files are not what the generator understands."""


def parse_versions(spec: str | None, universe: frozenset[int]) -> frozenset[int]:
    """``"3+"``, ``"0-4"``, ``"2"`` or ``"none"`` as a set, clipped to ``universe``."""
    if spec is None or spec == "none":
        return frozenset()
    if spec.endswith("+"):
        lo = int(spec[:-1])
        return frozenset(v for v in universe if v >= lo)
    if "-" in spec:
        lo_s, hi_s = spec.split("-")
        lo, hi = int(lo_s), int(hi_s)
        return frozenset(v for v in universe if lo <= v <= hi)
    return frozenset({int(spec)}) & universe


def _range(spec: str) -> frozenset[int]:
    if spec == "none":
        return frozenset()
    if "-" in spec:
        lo_s, hi_s = spec.split("-")
        return frozenset(range(int(lo_s), int(hi_s) + 1))
    return frozenset({int(spec)})


def snake_case(name: str) -> str:
    """``TopicProduceData`` -> ``topic_produce_data``; ``isKRaftController`` -> ``is_kraft_controller``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


@dataclass
class FieldSpec:
    name: str
    type: str  # a primitive, "[]<primitive>", "[]<Struct>" or "<Struct>"
    versions: frozenset[int]
    nullable: frozenset[int]
    tagged: frozenset[int]
    tag: int | None
    ignorable: bool
    default: str | None
    map_key: bool
    entity_type: str | None
    zero_copy: bool
    flexible: frozenset[int] | None  # a per-field override of the message's flexible versions

    @property
    def py_name(self) -> str:
        return snake_case(self.name)

    @property
    def is_array(self) -> bool:
        return self.type.startswith("[]")

    @property
    def element_type(self) -> str:
        return self.type[2:] if self.is_array else self.type

    @property
    def is_struct(self) -> bool:
        return self.element_type not in PRIMITIVES


@dataclass
class StructSpec:
    name: str
    fields: list[FieldSpec]
    versions: frozenset[int]  # versions in which any use of the struct is present


@dataclass
class MessageSpec:
    name: str
    kind: str  # request, response, header, data
    api_key: int | None
    versions: frozenset[int]
    flexible: frozenset[int]
    deprecated: frozenset[int]
    latest_version_unstable: bool
    listeners: tuple[str, ...]
    fields: list[FieldSpec]
    structs: dict[str, StructSpec] = field(default_factory=dict)  # every nested struct, by type name
    sources: tuple[str, ...] = ()


def _load_json(path: Path) -> dict:  # type: ignore[type-arg]
    text = _COMMENT.sub("", path.read_text(encoding="utf-8"))
    data = json.loads(text)
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: not a JSON object")
    return data


class _Side:
    """One schema file's view of a message: its raw JSON and the versions it owns in the merge."""

    def __init__(self, raw: dict, owned: frozenset[int]) -> None:  # type: ignore[type-arg]
        self.raw = raw
        self.owned = owned
        self.universe = _range(raw["validVersions"])
        self.common = {c["name"]: c for c in raw.get("commonStructs", [])}


def _field_from_side(raw: dict, side: _Side) -> FieldSpec:  # type: ignore[type-arg]
    u = side.universe
    versions = parse_versions(raw["versions"], u)
    tagged = parse_versions(raw.get("taggedVersions"), u)
    flexible = raw.get("flexibleVersions")
    return FieldSpec(
        name=raw["name"],
        type=raw["type"],
        versions=versions & side.owned,
        nullable=parse_versions(raw.get("nullableVersions"), u) & side.owned,
        tagged=tagged & side.owned,
        tag=None if raw.get("tag") is None else int(raw["tag"]),
        ignorable=bool(raw.get("ignorable", False)),
        default=None if raw.get("default") is None else str(raw["default"]).lower()
        if isinstance(raw.get("default"), bool)
        else str(raw["default"]),
        map_key=bool(raw.get("mapKey", False)),
        entity_type=raw.get("entityType"),
        zero_copy=bool(raw.get("zeroCopy", False)),
        flexible=None if flexible is None else parse_versions(flexible, u) & side.owned,
    )


def _merge_field(new: FieldSpec | None, old: FieldSpec | None) -> FieldSpec:
    """Combine a field as the 4.0 side (``new``) and the 3.9 side (``old``) see it."""
    if new is None:
        assert old is not None
        return old
    if old is None:
        return new
    if new.type != old.type and old.versions and new.versions:
        raise SchemaError(f"field {new.name} changes type: {old.type} -> {new.type}")
    flexible: frozenset[int] | None
    if new.flexible is None and old.flexible is None:
        flexible = None
    else:
        flexible = (new.flexible or frozenset()) | (old.flexible or frozenset())
    if new.tag != old.tag and old.tagged and new.tagged:
        raise SchemaError(f"field {new.name} changes tag")
    return FieldSpec(
        name=new.name,
        type=new.type if new.versions else old.type,
        versions=new.versions | old.versions,
        nullable=new.nullable | old.nullable,
        tagged=new.tagged | old.tagged,
        tag=new.tag if new.tagged else old.tag,
        ignorable=new.ignorable,
        default=new.default,
        map_key=new.map_key,
        entity_type=new.entity_type or old.entity_type,
        zero_copy=new.zero_copy,
        flexible=flexible,
    )


class _Merger:
    def __init__(self, name: str, sides: list[_Side]) -> None:
        self.name = name
        self.sides = sides  # [new, old]; either may own no versions
        self.structs: dict[str, StructSpec] = {}

    def _struct_raw(self, side: _Side, fields_raw: list[dict] | None, type_name: str) -> list[dict] | None:  # type: ignore[type-arg]
        if fields_raw is not None:
            return fields_raw
        if type_name in side.common:
            return list(side.common[type_name]["fields"])
        return None

    def merge_fields(self, per_side: list[list[dict] | None]) -> list[FieldSpec]:  # type: ignore[type-arg]
        """Merge one struct's field lists (one list per side, None where the side lacks it)."""
        order: list[str] = []
        specs: dict[str, list[FieldSpec | None]] = {}
        raws: dict[str, list[dict | None]] = {}  # type: ignore[type-arg]
        for i, fields_raw in enumerate(per_side):
            prev: str | None = None
            for raw in fields_raw or []:
                fname = raw["name"]
                if fname not in specs:
                    specs[fname] = [None] * len(self.sides)
                    raws[fname] = [None] * len(self.sides)
                    # keep a field the later side adds just after its predecessor in that side's order
                    order.insert(order.index(prev) + 1 if prev is not None else 0, fname)
                specs[fname][i] = _field_from_side(raw, self.sides[i])
                raws[fname][i] = raw
                prev = fname
        result: list[FieldSpec] = []
        for fname in order:
            new, old = specs[fname]
            merged = _merge_field(new, old)
            if not merged.versions:
                continue
            if merged.is_struct:
                self._define_struct(merged, raws[fname])
            result.append(merged)
        return result

    def _define_struct(self, spec: FieldSpec, raws: list[dict | None]) -> None:  # type: ignore[type-arg]
        type_name = spec.element_type
        per_side = [
            None if raw is None else self._struct_raw(side, raw.get("fields"), type_name)
            for raw, side in zip(raws, self.sides)
        ]
        if all(p is None for p in per_side):
            # a reference to a struct defined inline by another field; defined when that field is merged
            if type_name not in self.structs:
                self.structs[type_name] = StructSpec(type_name, [], frozenset())
            self.structs[type_name].versions |= spec.versions
            return
        fields = self.merge_fields(per_side)
        existing = self.structs.get(type_name)
        if existing is not None and existing.fields and [f.name for f in existing.fields] != [f.name for f in fields]:
            raise SchemaError(f"{self.name}: struct {type_name} defined twice differently")
        versions = spec.versions | (existing.versions if existing else frozenset())
        self.structs[type_name] = StructSpec(type_name, fields, versions)


def _owned(raw: dict | None) -> frozenset[int]:  # type: ignore[type-arg]
    return frozenset() if raw is None else _range(raw["validVersions"])


def merge_message(new_raw: dict | None, old_raw: dict | None, sources: tuple[str, ...]) -> MessageSpec:  # type: ignore[type-arg]
    """Merge the 4.0 (``new_raw``) and 3.9 (``old_raw``) definitions of one message."""
    new_owned = _owned(new_raw)
    old_owned = _owned(old_raw) - new_owned
    raws = [r for r in (new_raw, old_raw) if r is not None]
    base = raws[0]
    sides = [
        _Side(new_raw if new_raw is not None else {"validVersions": "none"}, new_owned),
        _Side(old_raw if old_raw is not None else {"validVersions": "none"}, old_owned),
    ]
    merger = _Merger(base["name"], sides)
    fields = merger.merge_fields([None if new_raw is None else new_raw.get("fields", []),
                                  None if old_raw is None else old_raw.get("fields", [])])
    versions = new_owned | old_owned
    flexible: frozenset[int] = frozenset()
    for side in sides:
        if side.owned:
            flexible |= parse_versions(side.raw.get("flexibleVersions"), side.universe) & side.owned
    deprecated: frozenset[int] = frozenset()
    for raw in raws:
        deprecated |= parse_versions(raw.get("deprecatedVersions"), _range(raw["validVersions"]) or frozenset(range(64)))
    listeners: list[str] = []
    for raw in raws:
        for lst in raw.get("listeners", []):
            if lst not in listeners:
                listeners.append(lst)
    unstable_src = new_raw if new_owned else old_raw
    assert unstable_src is not None
    for name, struct in merger.structs.items():
        if not struct.fields:
            raise SchemaError(f"{base['name']}: struct {name} is referenced but never defined")
    return MessageSpec(
        name=base["name"],
        kind=base["type"],
        api_key=base.get("apiKey"),
        versions=versions,
        flexible=flexible,
        deprecated=deprecated & versions,
        latest_version_unstable=bool(unstable_src.get("latestVersionUnstable", False)),
        listeners=tuple(listeners),
        fields=fields,
        structs=merger.structs,
        sources=sources,
    )


@dataclass
class SchemaSet:
    messages: list[MessageSpec]
    digest: str  # sha256 over the input files, recorded in the generated registry


def load_schema_set(old_dir: Path, new_dir: Path) -> SchemaSet:
    """Load every message from the 3.9 directory and the 4.0 directory and merge them."""
    old_files = {p.name: p for p in sorted(old_dir.glob("*.json"))}
    new_files = {p.name: p for p in sorted(new_dir.glob("*.json"))}
    if not old_files:
        raise SchemaError(f"no schemas in {old_dir}")
    h = hashlib.sha256()
    messages: list[MessageSpec] = []
    for fname in sorted(set(old_files) | set(new_files)):
        sources: list[str] = []
        old_raw = new_raw = None
        if fname in old_files:
            data = old_files[fname].read_bytes()
            h.update(b"3.9/" + fname.encode() + b"\0" + data)
            old_raw = _load_json(old_files[fname])
            sources.append(f"3.9/{fname}")
        if fname in new_files:
            data = new_files[fname].read_bytes()
            h.update(b"4.0/" + fname.encode() + b"\0" + data)
            new_raw = _load_json(new_files[fname])
            if _owned(new_raw):
                sources.append(f"4.0/{fname}")
            else:
                new_raw = None  # 4.0 removed the message entirely
        messages.append(merge_message(new_raw, old_raw, tuple(sources)))
    return SchemaSet(messages, h.hexdigest())

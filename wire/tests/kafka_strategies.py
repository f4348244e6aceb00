"""Hypothesis strategies for the generated Kafka messages in ``wire.kafka.messages``.

Everything here is driven by the ``FIELDS`` facts each generated class carries, so
one strategy covers every message, every nested struct and every version:

* only the fields present in the chosen version get non-default values; the others
  keep their dataclass default (which every encoder must accept);
* ``None`` appears only where the field is nullable *at that version*;
* fields that are tagged at that version are sometimes left at their default (so
  they are sometimes absent from the tagged-field section, sometimes present);
* in flexible versions every struct sometimes carries unknown tagged fields whose
  tags never collide with the struct's known tags, sorted the way they come back
  from the wire;
* integers cover the full range of their type (edges included), strings include
  non-ASCII text, uuids include the zero uuid, and records are random bytes (or
  ``None`` where nullable).

``messages(cls, version)`` is the entry point; ``all_message_versions()`` lists every
(message class, version) pair the registry knows, for parametrized tests.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st

from wire.kafka._message import FieldInfo, Message, Struct
from wire.kafka.messages import APIS, DATA

S = TypeVar("S", bound=Struct)

INT_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}

ZERO_UUID = uuid.UUID(int=0)
MAX_TAG = 2**32 - 1  # tags are unsigned 32-bit varints on the wire


@dataclass(frozen=True)
class Options:
    """Knobs for the size and shape of generated messages."""

    unknown_tags: bool = True  # unknown tagged fields in flexible versions (kafka-python drops them)
    max_array: int = 3  # elements per array at the top level; one fewer per nesting level (at least 1)
    max_text: int = 12  # characters per string
    max_bytes: int = 24  # bytes per bytes/records value


DEFAULT_OPTIONS = Options()


# --- facts about the generated classes -------------------------------------------------------

def element_type(info: FieldInfo) -> str:
    return info.type[2:] if info.type.startswith("[]") else info.type


def is_array(info: FieldInfo) -> bool:
    return info.type.startswith("[]")


def default_of(cls: type[Struct], attr: str) -> Any:
    """A fresh copy of the default of ``cls.attr`` (what the generated ``__init__`` gives it)."""
    if attr not in cls.field_names():
        raise AttributeError(f"{cls.__name__} has no field {attr}")
    return getattr(cls(), attr)


def known_tags(cls: type[Struct]) -> frozenset[int]:
    """Every tag the struct uses in any version (unknown tags must avoid all of them)."""
    return frozenset(f.tag for f in cls.FIELDS if f.tag is not None)


def all_message_versions() -> list[tuple[type[Message], int]]:
    """Every (top-level message class, version): requests, responses and data schemas."""
    out: list[tuple[type[Message], int]] = []
    for key in sorted(APIS):
        info = APIS[key]
        for version in sorted(info.versions):
            out.append((info.request, version))
        for version in sorted(info.versions):
            out.append((info.response, version))
    for name in sorted(DATA):
        data = DATA[name]
        for version in sorted(data.versions):
            out.append((data.message, version))
    return out


def structs_of(cls: type[Struct]) -> Iterator[type[Struct]]:
    """``cls`` and every struct class reachable from it (each once)."""
    seen: set[type[Struct]] = set()
    stack: list[type[Struct]] = [cls]
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        yield c
        for f in c.FIELDS:
            if f.struct is not None:
                stack.append(f.struct)


# --- primitive strategies --------------------------------------------------------------------

def ints(type_name: str) -> st.SearchStrategy[int]:
    lo, hi = INT_RANGES[type_name]
    edges = sorted({lo, hi, 0, 1, lo + 1, hi - 1} | ({-1} if lo < 0 else set()))
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def texts(max_size: int) -> st.SearchStrategy[str]:
    """UTF-8-encodable text: any code point but surrogates (so much non-ASCII, 1- to 4-byte
    UTF-8 sequences), plus a few fixed samples (empty, ASCII, accented, CJK, emoji, NUL)."""
    return st.one_of(
        st.text(max_size=max_size),
        st.sampled_from(["", "topic-1", "ünïcødé", "日本語", "\U0001f600 emoji", "\x00nul"]),
    )


def uuids() -> st.SearchStrategy[uuid.UUID]:
    return st.one_of(st.just(ZERO_UUID), st.uuids())


def primitive(type_name: str, opts: Options) -> st.SearchStrategy[Any]:
    if type_name in INT_RANGES:
        return ints(type_name)
    if type_name == "bool":
        return st.booleans()
    if type_name == "float64":
        # NaN would make equality useless; signed zero and infinities are fine
        return st.floats(allow_nan=False)
    if type_name == "string":
        return texts(opts.max_text)
    if type_name in ("bytes", "records"):
        return st.binary(max_size=opts.max_bytes)
    if type_name == "uuid":
        return uuids()
    raise ValueError(f"unknown primitive type {type_name!r}")


def unknown_tagged_fields(avoid: frozenset[int], opts: Options) -> st.SearchStrategy[list[tuple[int, bytes]]]:
    """Sorted, unique tags outside ``avoid``, each with a small opaque payload."""
    tag = st.one_of(st.integers(0, 31), st.integers(0, MAX_TAG), st.just(MAX_TAG)).filter(lambda t: t not in avoid)
    entry = st.tuples(tag, st.binary(max_size=8))
    return st.lists(entry, max_size=3, unique_by=lambda e: e[0]).map(lambda es: sorted(es, key=lambda e: e[0]))


# --- structs and messages --------------------------------------------------------------------

def field_value(info: FieldInfo, version: int, flexible: bool, opts: Options, depth: int) -> st.SearchStrategy[Any]:
    """A non-None value of field ``info`` (arrays hold non-None elements)."""
    et = element_type(info)
    if info.struct is not None:
        inner: st.SearchStrategy[Any] = structs(info.struct, version, flexible, opts, depth + 1)
    else:
        inner = primitive(et, opts)
    if is_array(info):
        return st.lists(inner, max_size=max(1, opts.max_array - depth))
    return inner


_STRUCTS: dict[tuple[type[Struct], int, bool, Options, int], st.SearchStrategy[Any]] = {}


def structs(cls: type[S], version: int, flexible: bool, opts: Options = DEFAULT_OPTIONS,
            depth: int = 0) -> st.SearchStrategy[S]:
    """A random valid instance of the generated struct ``cls`` as version ``version`` carries it.

    ``flexible`` is whether the enclosing message's version is flexible (nested structs do not
    know it themselves); ``depth`` is the nesting level, which shrinks arrays. Cached.
    """
    key = (cls, version, flexible, opts, depth)
    cached = _STRUCTS.get(key)
    if cached is None:
        cached = _STRUCTS[key] = _build_structs(cls, version, flexible, opts, depth)
    return cached


def _build_structs(cls: type[S], version: int, flexible: bool, opts: Options, depth: int) -> st.SearchStrategy[S]:
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for info in cls.FIELDS:
        if version not in info.versions:
            continue  # absent in this version: keep the default
        value = field_value(info, version, flexible, opts, depth)
        if version in info.nullable_versions:
            value = st.one_of(st.none(), value)
        if version in info.tagged_versions:
            optional[info.attr] = value  # sometimes omitted, i.e. left at its default
        else:
            required[info.attr] = value
    if flexible and opts.unknown_tags:
        optional["unknown_tagged_fields"] = unknown_tagged_fields(known_tags(cls), opts)
    return st.fixed_dictionaries(required, optional=optional).map(lambda kw: cls(**kw))


def messages(cls: type[Message], version: int, opts: Options = DEFAULT_OPTIONS) -> st.SearchStrategy[Message]:
    """A random valid instance of the top-level message ``cls`` at ``version``."""
    if version not in cls.VERSIONS:
        raise ValueError(f"{cls.NAME} has no version {version}")
    return structs(cls, version, version in cls.FLEXIBLE_VERSIONS, opts)


def message_and_version(opts: Options = DEFAULT_OPTIONS) -> st.SearchStrategy[tuple[type[Message], int, Message]]:
    """Any message class, any of its versions, and an instance of it."""
    pairs = all_message_versions()
    return st.sampled_from(pairs).flatmap(
        lambda pair: messages(pair[0], pair[1], opts).map(lambda m: (pair[0], pair[1], m))
    )


# --- seeded (non-hypothesis) instances, for fuzz seeds and table-driven tests ------------------

def _random_primitive(type_name: str, rng: random.Random, opts: Options) -> Any:
    if type_name in INT_RANGES:
        lo, hi = INT_RANGES[type_name]
        return rng.choice([lo, hi, 0, rng.randint(lo, hi), rng.randint(max(lo, -1000), min(hi, 1000))])
    if type_name == "bool":
        return rng.random() < 0.5
    if type_name == "float64":
        return rng.choice([0.0, -1.5, 1e300, float("inf"), rng.uniform(-1e6, 1e6)])
    if type_name == "string":
        pool = "abcXYZ09-_.ü日😀"
        return "".join(rng.choice(pool) for _ in range(rng.randint(0, opts.max_text)))
    if type_name in ("bytes", "records"):
        return rng.randbytes(rng.randint(0, opts.max_bytes))
    if type_name == "uuid":
        return ZERO_UUID if rng.random() < 0.2 else uuid.UUID(int=rng.getrandbits(128))
    raise ValueError(f"unknown primitive type {type_name!r}")


def random_struct(cls: type[S], version: int, flexible: bool, rng: random.Random,
                  opts: Options = DEFAULT_OPTIONS, depth: int = 0) -> S:
    """The seeded counterpart of ``structs``: same rules, driven by ``random.Random``."""
    kwargs: dict[str, Any] = {}
    for info in cls.FIELDS:
        if version not in info.versions:
            continue
        if version in info.tagged_versions and rng.random() < 0.3:
            continue
        if version in info.nullable_versions and rng.random() < 0.2:
            kwargs[info.attr] = None
            continue
        et = element_type(info)

        def one() -> Any:
            if info.struct is not None:
                return random_struct(info.struct, version, flexible, rng, opts, depth + 1)
            return _random_primitive(et, rng, opts)

        if is_array(info):
            kwargs[info.attr] = [one() for _ in range(rng.randint(0, max(1, opts.max_array - depth)))]
        else:
            kwargs[info.attr] = one()
    if flexible and opts.unknown_tags and rng.random() < 0.3:
        avoid = known_tags(cls)
        tags = sorted({t for t in (rng.randint(0, 40), rng.randint(0, MAX_TAG)) if t not in avoid})
        kwargs["unknown_tagged_fields"] = [(t, rng.randbytes(rng.randint(0, 6))) for t in tags]
    return cls(**kwargs)


def random_message(cls: type[Message], version: int, rng: random.Random, opts: Options = DEFAULT_OPTIONS) -> Message:
    return random_struct(cls, version, version in cls.FLEXIBLE_VERSIONS, rng, opts)


# --- deterministic helpers for the strictness tests -------------------------------------------

def non_default_value(info: FieldInfo, default: Any) -> Any:
    """Some value of field ``info`` that differs from ``default`` (used to probe absent fields)."""
    et = element_type(info)
    if is_array(info):
        if info.struct is not None:
            return [info.struct()]
        return [sample_primitive(et)]
    if info.struct is not None:
        if default is None:
            return info.struct()
        inst = info.struct()
        for inner in info.struct.FIELDS:
            setattr(inst, inner.attr, non_default_value(inner, getattr(inst, inner.attr)))
            if inst != default:
                return inst
        return None  # differs from a non-None default
    if et in INT_RANGES:
        return 1 if default != 1 else 2
    if et == "bool":
        return not default
    if et == "float64":
        return 1.5
    if et == "string":
        return "x"
    if et in ("bytes", "records"):
        return b"x"
    if et == "uuid":
        return uuid.UUID(int=1)
    raise ValueError(et)


def sample_primitive(type_name: str) -> Any:
    """A fixed, non-zero value of a primitive type."""
    if type_name in INT_RANGES:
        return 7
    return {"bool": True, "float64": 2.5, "string": "s", "bytes": b"b", "records": b"r",
            "uuid": uuid.UUID(int=7)}[type_name]


# --- example budgets per hypothesis profile ---------------------------------------------------

_BUDGETS: dict[str, dict[str, int]] = {
    # examples per parametrized case; "ci" keeps the three Kafka test files well under a minute on 2 cores
    "ci": {"roundtrip": 10, "crosscheck": 3, "fuzz": 150, "mutations": 6},
    "dev": {"roundtrip": 40, "crosscheck": 15, "fuzz": 1000, "mutations": 30},
    "long": {"roundtrip": 300, "crosscheck": 100, "fuzz": 20000, "mutations": 300},
}


def budget(kind: str) -> int:
    """How many examples a ``kind`` of test runs under the active hypothesis profile (``ci`` if unknown)."""
    profile = settings.get_current_profile_name()
    return _BUDGETS.get(profile, _BUDGETS["ci"])[kind]

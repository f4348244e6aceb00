"""Hypothesis strategies that draw plain values for an oracle construct, by walking it.

The value drawn is exactly what the construct builds from and (after ``plain``)
parses back to: dicts for structs, lists for arrays, ``None`` for nulls, and, in
flexible structs, known tagged fields (often at their default, so both "absent"
and "present" are exercised) plus a sorted list of unknown ``(tag, bytes)`` pairs.
"""

from __future__ import annotations

import uuid
from typing import Any

from construct import Adapter, Construct, FormatField, Renamed, Struct
from construct import Flag as _Flag
from hypothesis import strategies as st

from wire.tests.oracle.kafka_types import UNKNOWN, KArray, KBytes, KString, KStruct, Ranged, Uuid

_INT_RANGES = {
    ">b": (-(2**7), 2**7 - 1),
    ">B": (0, 2**8 - 1),
    ">h": (-(2**15), 2**15 - 1),
    ">H": (0, 2**16 - 1),
    ">l": (-(2**31), 2**31 - 1),
    ">L": (0, 2**32 - 1),
    ">q": (-(2**63), 2**63 - 1),
    ">Q": (0, 2**64 - 1),
}

MAX_ITEMS = 3
MAX_TEXT = 8
MAX_BLOB = 24


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers over the whole range, with the edges and small values well represented."""
    return st.one_of(st.sampled_from(sorted({lo, hi, -1 if lo < 0 else 0, 0, 1})), st.integers(lo, hi))


def text() -> st.SearchStrategy[str]:
    # Any Unicode scalar value that UTF-8 can carry (no lone surrogates).
    return st.text(alphabet=st.characters(codec="utf-8"), max_size=MAX_TEXT)


def unknown_tagged(known: set[int]) -> st.SearchStrategy[list[tuple[int, bytes]]]:
    tag = st.one_of(st.integers(0, 40), st.integers(0, 2**31 - 1)).filter(lambda t: t not in known)
    pairs = st.lists(st.tuples(tag, st.binary(max_size=8)), max_size=2, unique_by=lambda p: p[0])
    return pairs.map(lambda ps: sorted(ps, key=lambda p: p[0]))



def values(con: Construct, overrides: dict[int, st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[Any]:
    """A strategy for plain values of ``con``. ``overrides`` maps ``id(subcon)`` to a strategy."""
    if overrides and id(con) in overrides:
        return overrides[id(con)]
    if isinstance(con, Renamed):
        return values(con.subcon, overrides)
    if isinstance(con, KStruct):
        fields = {f.name: values(f, overrides) for f in con.fields}
        if con.flexible:
            for known in con.tagged.values():
                fields[known.name] = st.one_of(st.just(known.default), values(known.subcon, overrides))
            fields[UNKNOWN] = unknown_tagged(set(con.tagged))
        return st.fixed_dictionaries(fields)
    if isinstance(con, KArray):
        items = st.lists(values(con.element, overrides), max_size=MAX_ITEMS)
        return st.one_of(st.none(), items) if con.nullable else items
    if isinstance(con, KString):
        return st.one_of(st.none(), text()) if con.nullable else text()
    if isinstance(con, KBytes):
        blob = st.binary(max_size=MAX_BLOB)
        return st.one_of(st.none(), blob) if con.nullable else blob
    if isinstance(con, Uuid):
        return st.one_of(st.just(uuid.UUID(int=0)), st.uuids())
    if isinstance(con, Struct):
        return st.fixed_dictionaries({sc.name: values(sc, overrides) for sc in con.subcons if sc.name})
    if con is _Flag:
        return st.booleans()
    if isinstance(con, Ranged):
        return _ints(con.lo, con.hi)
    if isinstance(con, FormatField):
        if con.fmtstr in _INT_RANGES:
            return _ints(*_INT_RANGES[con.fmtstr])
        raise TypeError(f"no strategy for format {con.fmtstr!r}")
    if isinstance(con, Adapter) and hasattr(con, "strategy"):
        return con.strategy  # type: ignore[no-any-return]
    raise TypeError(f"no strategy for {con!r}")


__all__ = ["MAX_BLOB", "MAX_ITEMS", "MAX_TEXT", "text", "unknown_tagged", "values"]

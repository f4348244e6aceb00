"""Hypothesis strategies for the jute records in ``wire.zk.records`` and the frames of ``wire.zk.protocol``.

Everything is derived from the generated dataclasses themselves, so one strategy
covers all of ``RECORDS`` (and any record a future jute file adds):

* a field's *kind* comes from its resolved annotation (``int``, ``bool``,
  ``bool | None``, ``str | None``, ``bytes | None``, ``list[T] | None`` or a
  nested record class);
* jute ``int`` and ``long`` both appear as ``int``; the width is found by asking
  the record's own encoder whether 2**31 fits (``int_width``). The test suite
  cross-checks every kind against ``zookeeper.jute`` (``test_jute_records``);
* top-level ``ustring``, ``buffer`` and ``vector`` fields draw ``None``, the empty
  value and non-empty values, so null and empty both reach the codec; strings
  inside vectors are never ``None`` (wire.zk refuses a null vector element);
* the optional trailing ``readOnly`` of ConnectRequest/ConnectResponse draws
  ``None`` (absent on the wire), ``False`` and ``True``;
* integers cover the whole signed range of their width, edges included; text
  includes non-ASCII (never lone surrogates, which UTF-8 cannot carry).

Entry points: ``records(cls)``, ``field_kinds(cls)``, ``requests()``,
``replies()``, ``multi_ops()``, ``multi_results()``, ``notifications()``; and
``random_record(cls, rng)``, a cheap seed-driven builder for the fuzz tests.
"""

from __future__ import annotations

import dataclasses
import random
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar, Union

from hypothesis import strategies as st

from wire.errors import EncodeError
from wire.zk import protocol as P
from wire.zk import records as R
from wire.zk.jute import JuteRecord

T = TypeVar("T", bound=JuteRecord)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

ALL_RECORDS: list[type[JuteRecord]] = list(R.RECORDS.values())


@dataclass(frozen=True)
class Kind:
    """What a field holds, as far as the jute encoding is concerned.

    ``tag`` is one of ``int32``, ``int64``, ``bool``, ``optional_bool`` (the trailing
    readOnly), ``ustring``, ``buffer``, ``vector`` or ``record``. ``nullable`` is True
    for top-level ustring/buffer/vector fields and False for vector elements.
    ``item`` is the element kind of a vector; ``record`` the class of a nested record.
    """

    tag: str
    nullable: bool = False
    item: Kind | None = None
    record: type[JuteRecord] | None = None

    def jute(self) -> str:
        """The jute type this kind stands for (``int``, ``vector<ustring>``, ``ACL``...)."""
        if self.tag == "vector":
            assert self.item is not None
            return f"vector<{self.item.jute()}>"
        if self.tag == "record":
            assert self.record is not None
            return self.record.__name__
        return {"int32": "int", "int64": "long", "bool": "boolean", "optional_bool": "boolean",
                "ustring": "ustring", "buffer": "buffer"}[self.tag]


def _fields(cls: type[JuteRecord]) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(typing.cast(Any, cls))


def _hints(cls: type[JuteRecord]) -> dict[str, Any]:
    """The record's own field annotations, resolved in the generated module (the base class's are not fields)."""
    out: dict[str, Any] = {}
    for f in _fields(cls):
        out[f.name] = eval(f.type, vars(R)) if isinstance(f.type, str) else f.type  # noqa: S307 - generated code
    return out


def _strip_none(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (hint, False)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
        raise TypeError(f"unexpected union {hint!r}")
    return hint, False


_WIDTHS: dict[tuple[type[JuteRecord], str], int] = {}


def int_width(cls: type[JuteRecord], name: str) -> int:
    """32 or 64: the width of integer field ``name``, by asking the encoder whether 2**31 fits."""
    key = (cls, name)
    if key not in _WIDTHS:
        obj = cls()
        setattr(obj, name, 2**31)
        try:
            obj.encode()
            _WIDTHS[key] = 64
        except EncodeError:
            _WIDTHS[key] = 32
    return _WIDTHS[key]


def _kind(cls: type[JuteRecord], name: str, hint: Any, top: bool) -> Kind:
    inner, nullable = _strip_none(hint)
    if inner is bool:
        return Kind("optional_bool" if nullable else "bool")
    if inner is int:
        assert not nullable
        return Kind("int64" if int_width(cls, name) == 64 else "int32")
    if inner is str:
        assert nullable == top, f"{cls.__name__}.{name}: ustring nullability should be {top}"
        return Kind("ustring", nullable)
    if inner is bytes:
        return Kind("buffer", nullable)
    if typing.get_origin(inner) is list:
        (item_hint,) = typing.get_args(inner)
        return Kind("vector", nullable, item=_kind(cls, name, item_hint, False))
    if isinstance(inner, type) and issubclass(inner, JuteRecord):
        return Kind("record", record=inner)
    raise TypeError(f"{cls.__name__}.{name}: unsupported annotation {hint!r}")


_KINDS: dict[type[JuteRecord], tuple[tuple[str, Kind], ...]] = {}


def field_kinds(cls: type[JuteRecord]) -> tuple[tuple[str, Kind], ...]:
    """The (attribute, kind) pairs of a record, in wire order."""
    if cls not in _KINDS:
        hints = _hints(cls)
        _KINDS[cls] = tuple((f.name, _kind(cls, f.name, hints[f.name], True)) for f in _fields(cls))
    return _KINDS[cls]


# --- values ---------------------------------------------------------------------------------------

def ints(bits: int) -> st.SearchStrategy[int]:
    lo, hi = (INT32_MIN, INT32_MAX) if bits == 32 else (INT64_MIN, INT64_MAX)
    return st.one_of(st.sampled_from([0, 1, -1, lo, hi]), st.integers(lo, hi))


def texts(max_size: int = 12) -> st.SearchStrategy[str]:
    """Any Unicode text but lone surrogates: ASCII paths, and non-ASCII that UTF-8 takes several bytes for."""
    return st.one_of(st.sampled_from(["/", "/zookeeper", "/a/b-0000000001", "digest", "é/☃/𝄞"]),
                     st.text(max_size=max_size))


def binaries(max_size: int = 24) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=max_size)


def _nullable(base: st.SearchStrategy[Any], empty: Any, nullable: bool) -> st.SearchStrategy[Any]:
    """None, the empty value and other values all get a fair share."""
    if not nullable:
        return st.one_of(st.just(empty), base)
    return st.one_of(st.none(), st.just(empty), base)


def values(kind: Kind, max_items: int = 3) -> st.SearchStrategy[Any]:
    if kind.tag == "int32":
        return ints(32)
    if kind.tag == "int64":
        return ints(64)
    if kind.tag == "bool":
        return st.booleans()
    if kind.tag == "optional_bool":
        return st.sampled_from([None, False, True])
    if kind.tag == "ustring":
        return _nullable(texts(), "", kind.nullable)
    if kind.tag == "buffer":
        return _nullable(binaries(), b"", kind.nullable)
    if kind.tag == "vector":
        assert kind.item is not None
        items = st.lists(values(kind.item, max_items), min_size=1, max_size=max_items)
        return _nullable(items, [], kind.nullable)
    if kind.tag == "record":
        assert kind.record is not None
        return records(kind.record, max_items)
    raise AssertionError(kind)


def records(cls: type[T], max_items: int = 3) -> st.SearchStrategy[T]:
    """Any instance of the record class ``cls``."""
    return st.builds(cls, **{name: values(kind, max_items) for name, kind in field_kinds(cls)})


def random_value(kind: Kind, rng: random.Random, max_items: int = 2) -> Any:
    """A cheap, seed-driven counterpart of ``values`` (for fuzzing, where Hypothesis draws only the seed)."""
    if kind.tag in ("int32", "int64"):
        lo, hi = (INT32_MIN, INT32_MAX) if kind.tag == "int32" else (INT64_MIN, INT64_MAX)
        return rng.choice([0, 1, -1, lo, hi, rng.randint(lo, hi)])
    if kind.tag == "bool":
        return rng.random() < 0.5
    if kind.tag == "optional_bool":
        return rng.choice([None, False, True])
    if kind.nullable and rng.random() < 0.2:
        return None
    if kind.tag == "ustring":
        mixed = "".join(chr(rng.randrange(32, 0x250)) for _ in range(rng.randrange(8)))
        return rng.choice(["", "/", "/a/b", "é☃", mixed])
    if kind.tag == "buffer":
        return rng.randbytes(rng.choice([0, 1, 5, 16]))
    if kind.tag == "vector":
        assert kind.item is not None
        return [random_value(kind.item, rng, max_items) for _ in range(rng.randrange(max_items + 1))]
    assert kind.record is not None
    return random_record(kind.record, rng, max_items)


def random_record(cls: type[T], rng: random.Random, max_items: int = 2) -> T:
    return cls(**{name: random_value(kind, rng, max_items) for name, kind in field_kinds(cls)})


def any_record(max_items: int = 3) -> st.SearchStrategy[JuteRecord]:
    return st.sampled_from(ALL_RECORDS).flatmap(lambda cls: records(cls, max_items))


# --- frames ---------------------------------------------------------------------------------------

XIDS = st.one_of(st.sampled_from([1, 2, P.Xid.PING, P.Xid.AUTH, P.Xid.SET_WATCHES, 0, INT32_MAX, INT32_MIN]),
                 st.integers(INT32_MIN, INT32_MAX))
# -1 always decodes as a notification, -2 (ping) and -4 (auth) as header-only replies
REPLY_XIDS = XIDS.filter(lambda x: x not in (P.Xid.NOTIFICATION, P.Xid.PING, P.Xid.AUTH))
ZXIDS = ints(64)
ERRORS = st.sampled_from([int(c) for c in P.Code if c != 0])

REQUEST_OPS: list[int] = sorted(P.REQUEST_RECORDS)
REPLY_OPS: list[int] = sorted(P.RESPONSE_RECORDS)
MULTI_OPS: tuple[int, int] = (P.OpCode.multi, P.OpCode.multiRead)


def multi_ops(max_ops: int = 4) -> st.SearchStrategy[list[P.MultiOp]]:
    """The (opcode, request record) list of a multi or multiRead request (possibly empty)."""
    one = st.sampled_from(sorted(P.MULTI_REQUEST_RECORDS)).flatmap(
        lambda op: records(P.MULTI_REQUEST_RECORDS[op], 2).map(lambda rec: P.MultiOp(P.OpCode(op), rec)))
    return st.lists(one, max_size=max_ops)


def _result(rtype: int) -> st.SearchStrategy[P.MultiResult]:
    cls = P.MULTI_RESULT_RECORDS[rtype]
    if rtype == P.OpCode.error:
        return st.one_of(ERRORS, st.just(0)).map(lambda err: P.MultiResult(P.OpCode(rtype), err, R.ErrorResponse(err)))
    if cls is None:
        return st.just(P.MultiResult(P.OpCode(rtype), 0, None))
    return records(cls, 2).map(lambda body: P.MultiResult(P.OpCode(rtype), 0, body))


def multi_results(max_ops: int = 4) -> st.SearchStrategy[list[P.MultiResult]]:
    """The (result type, err, record) list of a multi or multiRead response."""
    return st.lists(st.sampled_from(sorted(P.MULTI_RESULT_RECORDS)).flatmap(_result), max_size=max_ops)


def request_body(op: int) -> st.SearchStrategy[Any]:
    if op in MULTI_OPS:
        return multi_ops()
    cls = P.REQUEST_RECORDS[op]
    return st.none() if cls is None else records(cls)


def requests(ops: list[int] | None = None) -> st.SearchStrategy[tuple[int, int, Any]]:
    """(xid, opcode, body) of a client request, for every opcode a client sends (multi and multiRead too)."""
    chosen = ops if ops is not None else REQUEST_OPS + list(MULTI_OPS)
    return st.sampled_from(chosen).flatmap(lambda op: st.tuples(XIDS, st.just(op), request_body(op)))


def reply_body(op: int) -> st.SearchStrategy[Any]:
    if op in MULTI_OPS:
        return multi_results()
    cls = P.RESPONSE_RECORDS[op]
    return st.none() if cls is None else records(cls)


def replies(op: int) -> st.SearchStrategy[tuple[int, int, int, Any]]:
    """(xid, zxid, err, body) of a reply to ``op``: a body when err == 0, none otherwise."""
    ok = st.tuples(REPLY_XIDS, ZXIDS, st.just(0), reply_body(op))
    failed = st.tuples(REPLY_XIDS, ZXIDS, ERRORS, st.none())
    return st.one_of(ok, failed)


def notifications() -> st.SearchStrategy[tuple[int, int, str, int]]:
    """(event type, keeper state, path, zxid) of a watch notification."""
    return st.tuples(st.sampled_from([int(e) for e in P.EventType]), st.sampled_from([int(s) for s in P.KeeperState]),
                     texts(), st.one_of(st.just(-1), ZXIDS))

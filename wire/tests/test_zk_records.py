"""wire.zk.records: every jute record round-trips, matches a reference encoding, and is strict both ways.

The strategies here (``record_strategy``, ``value_strategy``) are driven by the
generated ``FIELDS`` table and are reused by the other ``test_zk_*`` modules. The
reference encoder ``ref_encode`` is a second, deliberately naive implementation of
the jute binary format written from opcodes.md §1, so a mistake in the generator's
emitted read/write code shows up as a byte difference.
"""

from __future__ import annotations

import dataclasses
import struct
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.errors import DecodeError, EncodeError, MalformedError, TrailingBytesError, TruncatedError
from wire.zk import records as R
from wire.zk.jute import JuteRecord

NAMES = sorted(R.RECORDS)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32 = st.sampled_from([0, 1, -1, INT32_MIN, INT32_MAX]) | st.integers(INT32_MIN, INT32_MAX)
INT64 = st.sampled_from([0, 1, -1, INT64_MIN, INT64_MAX]) | st.integers(INT64_MIN, INT64_MAX)
TEXT = st.text(max_size=8)  # includes non-ASCII: lengths are UTF-8 byte counts
BLOB = st.binary(max_size=12)


# --- strategies from the FIELDS table ---------------------------------------------------------

def value_strategy(jtype: str, in_vector: bool = False) -> st.SearchStrategy[Any]:
    if jtype == "int":
        return INT32
    if jtype == "long":
        return INT64
    if jtype == "boolean":
        return st.booleans()
    if jtype == "ustring":
        return TEXT if in_vector else st.none() | TEXT
    if jtype == "buffer":
        return BLOB if in_vector else st.none() | BLOB
    if jtype.startswith("vector<"):
        return st.none() | st.lists(value_strategy(jtype[7:-1], True), max_size=3)
    return record_strategy(jtype)


@cache
def record_strategy(name: str) -> st.SearchStrategy[Any]:
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for attr, jtype in R.FIELDS[name]:
        if (name, attr) in R.OPTIONAL_TRAILING:
            kwargs[attr] = st.none() | st.booleans()
        else:
            kwargs[attr] = value_strategy(jtype)
    return st.builds(R.RECORDS[name], **kwargs)


# --- a naive reference encoder ----------------------------------------------------------------

def _ref_value(out: bytearray, jtype: str, value: Any) -> None:
    if jtype == "int":
        out += struct.pack(">i", value)
    elif jtype == "long":
        out += struct.pack(">q", value)
    elif jtype == "boolean":
        out += b"\x01" if value else b"\x00"
    elif jtype in ("ustring", "buffer"):
        if value is None:
            out += struct.pack(">i", -1)
        else:
            data = value.encode("utf-8") if jtype == "ustring" else value
            out += struct.pack(">i", len(data)) + data
    elif jtype.startswith("vector<"):
        if value is None:
            out += struct.pack(">i", -1)
        else:
            out += struct.pack(">i", len(value))
            for item in value:
                _ref_value(out, jtype[7:-1], item)
    else:
        out += ref_encode(value)


def ref_encode(obj: JuteRecord) -> bytes:
    name = type(obj).__name__
    out = bytearray()
    for attr, jtype in R.FIELDS[name]:
        value = getattr(obj, attr)
        if (name, attr) in R.OPTIONAL_TRAILING and value is None:
            continue
        _ref_value(out, jtype, value)
    return bytes(out)


# --- round trips --------------------------------------------------------------------------------

def test_every_record_has_fields_and_a_module() -> None:
    assert set(R.RECORDS) == set(R.FIELDS) == set(R.MODULES)
    assert {m.rsplit(".", 1)[-1] for m in R.MODULES.values()} == {"data", "proto", "quorum", "persistence", "txn"}
    for name, cls in R.RECORDS.items():
        assert cls.__name__ == name
        assert not hasattr(cls(), "__dict__"), f"{name} is not slotted"
        assert [a for a, _ in R.FIELDS[name]] == [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]


_PER_RECORD = {"ci": 12, "dev": 100, "long": 2000}


def per_record_budget() -> int:
    return _PER_RECORD.get(settings.get_current_profile_name(), _PER_RECORD["ci"])


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=per_record_budget())
@given(data=st.data())
def test_round_trip_and_strictness(name: str, data: st.DataObject) -> None:
    """Encode matches the reference; decode inverts it; every truncation and any extension is refused."""
    obj = data.draw(record_strategy(name))
    encoded = obj.encode()
    assert encoded == ref_encode(obj)
    cls = R.RECORDS[name]
    assert cls.decode(encoded) == obj
    assert cls.decode(memoryview(bytearray(encoded))) == obj  # any buffer type
    # decode_from at an offset, inside a larger buffer (a record with an optional trailing
    # field can only end where the buffer ends: it would take the next byte as that field)
    optional = [a for a, _ in R.FIELDS[name] if (name, a) in R.OPTIONAL_TRAILING]
    tail = b"" if optional else b"\xbb"
    decoded, end = cls.decode_from(b"\xaa" * 3 + encoded + tail, 3)
    assert (decoded, end) == (obj, 3 + len(encoded))

    for cut in range(len(encoded)):
        if optional and getattr(obj, optional[0]) is not None and cut == len(encoded) - 1:
            # dropping the optional trailing byte leaves a valid, shorter record
            assert getattr(cls.decode(encoded[:cut]), optional[0]) is None
            continue
        with pytest.raises(DecodeError):
            cls.decode(encoded[:cut])
    with pytest.raises(TrailingBytesError):
        cls.decode(encoded + b"\x00\x00")


# --- null versus empty, and the optional readOnly byte ---------------------------------------

def test_null_and_empty_stay_distinct() -> None:
    stat = R.Stat()
    null_data = R.GetDataResponse(None, stat).encode()
    empty_data = R.GetDataResponse(b"", stat).encode()
    assert null_data[:4] == b"\xff\xff\xff\xff" and empty_data[:4] == b"\x00\x00\x00\x00"
    assert R.GetDataResponse.decode(null_data).data is None
    assert R.GetDataResponse.decode(empty_data).data == b""

    assert R.SyncResponse(None).encode() == b"\xff\xff\xff\xff"
    assert R.SyncResponse("").encode() == b"\x00\x00\x00\x00"
    assert R.SyncResponse.decode(b"\xff\xff\xff\xff").path is None
    assert R.SyncResponse.decode(b"\x00\x00\x00\x00").path == ""

    assert R.GetChildrenResponse(None).encode() == b"\xff\xff\xff\xff"
    assert R.GetChildrenResponse([]).encode() == b"\x00\x00\x00\x00"
    assert R.GetChildrenResponse.decode(b"\xff\xff\xff\xff").children is None
    assert R.GetChildrenResponse.decode(b"\x00\x00\x00\x00").children == []


def test_defaults_are_empty_not_null() -> None:
    req = R.CreateRequest()
    assert (req.path, req.data, req.acl, req.flags) == ("", b"", [], 0)
    assert R.ConnectRequest().read_only is None
    assert R.ACL().id == R.Id("", "")
    assert R.CreateRequest().acl is not R.CreateRequest().acl  # no shared mutable default


def test_connect_read_only_is_optional_both_ways() -> None:
    passwd = bytes(16)
    short = R.ConnectRequest(0, 0, 30000, 0, passwd)
    assert len(short.encode()) == 44
    assert R.ConnectRequest.decode(short.encode()).read_only is None
    for flag in (False, True):
        long = R.ConnectRequest(0, 0, 30000, 0, passwd, flag)
        assert len(long.encode()) == 45
        assert R.ConnectRequest.decode(long.encode()).read_only is flag
    assert len(R.ConnectResponse(0, 30000, 1, passwd).encode()) == 36
    assert len(R.ConnectResponse(0, 30000, 1, passwd, False).encode()) == 37
    assert R.ConnectResponse.decode(R.ConnectResponse(0, 30000, 1, passwd).encode()).read_only is None
    # like Java's readBoolean, any non-zero byte is true
    assert R.ConnectRequest.decode(short.encode() + b"\x02").read_only is True


# --- decode strictness ----------------------------------------------------------------------------

def test_negative_lengths_other_than_minus_one_are_malformed() -> None:
    with pytest.raises(MalformedError):
        R.SyncRequest.decode(struct.pack(">i", -2))
    with pytest.raises(MalformedError):
        R.GetSASLRequest.decode(struct.pack(">i", -5))
    with pytest.raises(MalformedError):
        R.GetChildrenResponse.decode(struct.pack(">i", INT32_MIN))


def test_vector_counts_larger_than_the_bytes_left_are_malformed() -> None:
    with pytest.raises(MalformedError):
        R.GetChildrenResponse.decode(struct.pack(">i", INT32_MAX))
    with pytest.raises(MalformedError):
        R.GetACLResponse.decode(struct.pack(">i", 1000) + bytes(68))
    # a count that fits the bytes left but whose elements do not: truncated
    with pytest.raises(TruncatedError):
        R.GetChildrenResponse.decode(struct.pack(">i", 3) + b"\x00\x00\x00")


def test_lengths_past_the_end_are_truncated() -> None:
    with pytest.raises(TruncatedError):
        R.SyncRequest.decode(struct.pack(">i", 10) + b"/abc")
    with pytest.raises(TruncatedError):
        R.Stat.decode(bytes(67))
    with pytest.raises(TruncatedError):
        R.Stat.decode(b"")


def test_invalid_utf8_is_malformed() -> None:
    with pytest.raises(MalformedError):
        R.SyncRequest.decode(struct.pack(">i", 2) + b"\xc3\x28")
    with pytest.raises(MalformedError):
        R.GetChildrenResponse.decode(struct.pack(">ii", 1, 1) + b"\xff")
    # a lone surrogate encoded as UTF-8 (CESU style) is not valid UTF-8 either
    with pytest.raises(MalformedError):
        R.SyncRequest.decode(struct.pack(">i", 3) + b"\xed\xa0\x80")


def test_null_string_inside_a_vector_is_refused() -> None:
    encoded = struct.pack(">qi", 5, 2) + struct.pack(">i", 2) + b"/a" + struct.pack(">iii", -1, 0, -1)
    with pytest.raises(DecodeError):
        R.SetWatches.decode(encoded)
    with pytest.raises(EncodeError):
        R.SetWatches(5, ["/a", None], [], None).encode()  # type: ignore[list-item]


def test_decode_error_family_only() -> None:
    for name, cls in R.RECORDS.items():
        for junk in (b"", b"\xff", b"\xff" * 7, b"\x7f\xff\xff\xff" * 3, b"\x80" + bytes(30)):
            try:
                cls.decode(junk)
            except DecodeError:
                pass


# --- encode strictness ----------------------------------------------------------------------------

@pytest.mark.parametrize("obj", [
    R.Stat(czxid=2**63),  # long out of range
    R.Stat(version=2**31),  # int out of range
    R.ErrorResponse(err=INT32_MIN - 1),
    R.ErrorResponse(err="0"),  # type: ignore[arg-type]
    R.ErrorResponse(err=1.0),  # type: ignore[arg-type]
    R.ErrorResponse(err=None),  # type: ignore[arg-type]
    R.GetDataRequest("/a", 1),  # type: ignore[arg-type]  # boolean given an int
    R.GetDataRequest("/a", None),  # type: ignore[arg-type]
    R.MultiHeader(1, "yes", -1),  # type: ignore[arg-type]  # boolean inside a fixed-width run
    R.ConnectRequest(0, 0, 0, 0, b"", 0),  # type: ignore[arg-type]
    R.SyncRequest(b"/a"),  # type: ignore[arg-type]  # ustring given bytes
    R.SyncRequest("\ud800"),  # a lone surrogate has no UTF-8 form
    R.GetSASLRequest("token"),  # type: ignore[arg-type]  # buffer given str
    R.GetChildrenResponse("abc"),  # type: ignore[arg-type]  # a str is not a vector
    R.GetChildrenResponse({"a": 1}),  # type: ignore[arg-type]
    R.GetChildrenResponse([b"/a"]),  # type: ignore[list-item]
    R.GetChildrenResponse([None]),  # type: ignore[list-item]
    R.ACL(31, "world:anyone"),  # type: ignore[arg-type]  # a nested record of the wrong type
    R.ACL(31, None),  # type: ignore[arg-type]
    R.SetACLRequest("/a", [R.Id("world", "anyone")], -1),  # type: ignore[list-item]
    R.GetDataResponse(b"", None),  # type: ignore[arg-type]
])
def test_wrong_types_and_ranges_raise_encode_error(obj: JuteRecord) -> None:
    with pytest.raises(EncodeError):
        obj.encode()


def test_tuples_are_accepted_as_vectors() -> None:
    acl = (R.ACL(31, R.Id("world", "anyone")),)
    assert R.SetACLRequest("/a", acl, -1).encode() == R.SetACLRequest("/a", list(acl), -1).encode()  # type: ignore[arg-type]


def test_bool_subclass_of_int_is_accepted_for_int_fields() -> None:
    # Java would not notice either: True is 1.
    assert R.ErrorResponse(True).encode() == b"\x00\x00\x00\x01"

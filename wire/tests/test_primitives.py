"""The shared primitive readers and writers: varints, length-prefixed values, and their strictness."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire import primitives as p
from wire.errors import EncodeError, MalformedError, TruncatedError


@given(st.integers(0, 0xFFFFFFFF))
def test_uvarint_round_trip(value: int) -> None:
    out = bytearray()
    p.write_uvarint(out, value)
    assert len(out) == p.uvarint_size(value)
    assert p.read_uvarint(bytes(out), 0) == (value, len(out))


@given(st.integers(-(2**31), 2**31 - 1))
def test_zigzag_varint_round_trip(value: int) -> None:
    out = bytearray()
    p.write_varint(out, value)
    assert p.read_varint(bytes(out), 0) == (value, len(out))


@given(st.integers(-(2**63), 2**63 - 1))
def test_zigzag_varlong_round_trip(value: int) -> None:
    out = bytearray()
    p.write_varlong(out, value)
    assert p.read_varlong(bytes(out), 0) == (value, len(out))


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (-64, b"\x7f"), (64, b"\x80\x01"), (300, b"\xd8\x04")],
)
def test_zigzag_known_encodings(value: int, encoded: bytes) -> None:
    out = bytearray()
    p.write_varint(out, value)
    assert bytes(out) == encoded


def test_varint_errors() -> None:
    with pytest.raises(TruncatedError):
        p.read_uvarint(b"\x80\x80", 0)
    with pytest.raises(MalformedError):
        p.read_uvarint(b"\x80\x80\x80\x80\x80\x01", 0)  # six bytes
    with pytest.raises(MalformedError):
        p.read_uvarint(b"\xff\xff\xff\xff\x1f", 0)  # 35 bits
    with pytest.raises(EncodeError):
        p.write_uvarint(bytearray(), -1)
    with pytest.raises(EncodeError):
        p.write_varint(bytearray(), 2**31)


def test_null_and_empty_stay_distinct() -> None:
    for write, read in [(p.write_string16, p.read_string16), (p.write_bytes32, p.read_bytes32),
                        (p.write_compact_string, p.read_compact_string), (p.write_compact_bytes, p.read_compact_bytes)]:
        empty = "" if "string" in write.__name__ else b""
        null_out, empty_out = bytearray(), bytearray()
        write(null_out, None, True)  # type: ignore[operator]
        write(empty_out, empty, True)  # type: ignore[operator]
        assert null_out != empty_out
        assert read(bytes(null_out), 0, True) == (None, len(null_out))  # type: ignore[operator]
        assert read(bytes(empty_out), 0, True) == (empty, len(empty_out))  # type: ignore[operator]


def test_length_checks() -> None:
    with pytest.raises(MalformedError):
        p.read_string16(b"\xff\xff", 0)  # null, not nullable
    with pytest.raises(MalformedError):
        p.read_bytes32(b"\xff\xff\xff\xfe", 0, True)  # -2
    with pytest.raises(TruncatedError):
        p.read_string16(b"\x00\x05abc", 0)
    with pytest.raises(MalformedError):
        p.read_string16(b"\x00\x02\xc3\x28", 0)  # invalid UTF-8
    with pytest.raises(MalformedError):
        p.read_array_count(b"\x7f\xff\xff\xff", 0)  # more elements than bytes left
    with pytest.raises(MalformedError):
        p.read_compact_array_count(b"\xff\xff\xff\xff\x0f", 0)
    with pytest.raises(EncodeError):
        p.write_string16(bytearray(), "x" * 40000)
    with pytest.raises(EncodeError):
        p.write_string16(bytearray(), None)
    with pytest.raises(EncodeError):
        p.write_bytes32(bytearray(), "not bytes")  # type: ignore[arg-type]

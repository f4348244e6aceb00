"""Fuzz invariant for the Kafka codecs: decoding hostile bytes raises nothing but DecodeError subclasses.

Request payloads (header and body) go through ``codec.decode_request`` as a server
receives them; response bodies and data-schema bodies go through ``Cls.decode``. The
inputs are random bytes, random bodies behind valid headers, and valid encodings
mutated by bit flips, truncation, byte insertion and deletion, and length-field and
varint corruption.

A second invariant rides along: whatever decodes must re-encode without anything but
EncodeError, and the re-encoded bytes must decode back to the same object (up to the
order of unknown tagged fields, which the encoder sorts).

Under the ``ci`` profile this is a few seconds and deterministic (derandomized
Hypothesis, fixed seeds); ``dev`` and ``long`` run more examples and mutations.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.errors import DecodeError, EncodeError
from wire.kafka._message import Message
from wire.kafka.codec import decode_request, encode_request
from wire.kafka.headers import RequestHeader, request_header_version
from wire.kafka.messages import APIS
from wire.tests.kafka_strategies import Options, all_message_versions, budget, messages, random_message

PAIRS = all_message_versions()
REQUEST_PAIRS = [(cls, v) for cls, v in PAIRS if cls.KIND == "request"]
BODY_PAIRS = [(cls, v) for cls, v in PAIRS if cls.KIND != "request"]  # responses and data schemas

SMALL = Options(max_array=2, max_text=8, max_bytes=12)

INTERESTING_16 = [-1, -2, 0, 1, 0x7FFF, -0x8000, 0x100]
INTERESTING_32 = [-1, -2, 0, 1, 0x7FFFFFFF, -0x80000000, 0x10000, 0x7FFFFFF0]
BAD_VARINTS = [b"\xff\xff\xff\xff\x0f", b"\xff\xff\xff\xff\x7f", b"\x80\x80\x80\x80\x80\x01", b"\x80", b"\xfe\xff\xff\xff\x0f"]


# --- mutations -------------------------------------------------------------------------------

def _flip(b: bytearray, rng: random.Random) -> None:
    if b:
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)


def _truncate(b: bytearray, rng: random.Random) -> None:
    if b:
        del b[rng.randrange(len(b)):]


def _insert(b: bytearray, rng: random.Random) -> None:
    i = rng.randrange(len(b) + 1)
    b[i:i] = rng.randbytes(rng.randint(1, 6))


def _delete(b: bytearray, rng: random.Random) -> None:
    if b:
        i = rng.randrange(len(b))
        del b[i:i + rng.randint(1, 6)]


def _length16(b: bytearray, rng: random.Random) -> None:
    if len(b) >= 2:
        i = rng.randrange(len(b) - 1)
        b[i:i + 2] = struct.pack(">h", rng.choice(INTERESTING_16))


def _length32(b: bytearray, rng: random.Random) -> None:
    if len(b) >= 4:
        i = rng.randrange(len(b) - 3)
        b[i:i + 4] = struct.pack(">i", rng.choice(INTERESTING_32))


def _varint(b: bytearray, rng: random.Random) -> None:
    i = rng.randrange(len(b) + 1)
    bad = rng.choice(BAD_VARINTS)
    b[i:i + rng.randint(0, 2)] = bad


def _byte(b: bytearray, rng: random.Random) -> None:
    if b:
        b[rng.randrange(len(b))] = rng.choice([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF])


def _duplicate(b: bytearray, rng: random.Random) -> None:
    if b:
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.randint(1, 16))
        b[j:j] = b[i:j]


MUTATIONS: list[Callable[[bytearray, random.Random], None]] = [
    _flip, _truncate, _insert, _delete, _length16, _length32, _varint, _byte, _duplicate,
]


def mutate(data: bytes, rng: random.Random, *, keep: int = 0) -> bytes:
    """Apply one to three random mutations; the first ``keep`` bytes stay intact."""
    head, body = bytearray(data[:keep]), bytearray(data[keep:])
    for _ in range(rng.randint(1, 3)):
        rng.choice(MUTATIONS)(body, rng)
    return bytes(head + body)


# --- the invariants --------------------------------------------------------------------------

def _check_reencode(cls: type[Message], version: int, decoded: Message) -> None:
    """A decoded object re-encodes (or raises EncodeError) and the result decodes back to it."""
    try:
        again = decoded.encode(version)
    except EncodeError:
        return  # e.g. duplicate unknown tags: readable, but not something we will write back
    redecoded = cls.decode(again, version)  # a DecodeError here means we wrote bytes we cannot read
    assert redecoded.encode(version) == again
    assert _sorted_tags(redecoded) == _sorted_tags(decoded)


def _sorted_tags(obj: Any) -> Any:
    """``obj`` with every unknown-tagged-field list sorted (the encoder writes them in tag order),
    and floats compared by their bits (mutations make NaNs, which are never equal to themselves)."""
    if isinstance(obj, float):
        return struct.pack(">d", obj)
    if isinstance(obj, list):
        return [_sorted_tags(x) for x in obj]
    if hasattr(obj, "FIELDS"):
        values = {f.attr: _sorted_tags(getattr(obj, f.attr)) for f in type(obj).FIELDS}
        return (type(obj), values, sorted(obj.unknown_tagged_fields))
    return obj


def decode_request_only_decode_errors(payload: bytes) -> None:
    try:
        decoded = decode_request(payload)
    except DecodeError:
        return
    cls = APIS[decoded.api_key].request
    _check_reencode(cls, decoded.api_version, decoded.body)


def decode_body_only_decode_errors(cls: type[Message], version: int, body: bytes) -> None:
    try:
        decoded = cls.decode(body, version)
    except DecodeError:
        return
    _check_reencode(cls, version, decoded)


def _request_payload(cls: type[Message], version: int, body: Message, correlation_id: int = 1) -> tuple[bytes, int]:
    """A request payload and the length of its header."""
    assert cls.API_KEY is not None
    client_id = None if request_header_version(cls.API_KEY, version) == 0 else "fuzz"
    header = RequestHeader(cls.API_KEY, version, correlation_id, client_id)
    out = bytearray()
    header.encode_into(out)
    return encode_request(header, body), len(out)


# --- seeded sweep over every (message, version) -----------------------------------------------

@pytest.mark.parametrize("kind", ["request", "body"])
def test_seeded_mutations_of_every_message_version(kind: str) -> None:
    rng = random.Random(f"wiretwin-kafka-fuzz-{kind}")
    rounds = budget("mutations")
    pairs = REQUEST_PAIRS if kind == "request" else BODY_PAIRS
    for cls, version in pairs:
        for seed in (cls(), random_message(cls, version, rng, SMALL), random_message(cls, version, rng)):
            body = seed.encode(version)
            if kind == "request":
                payload, header_len = _request_payload(cls, version, seed)
                assert decode_request(payload).body == seed
                for _ in range(rounds):
                    decode_request_only_decode_errors(mutate(payload, rng, keep=header_len))  # body only
                    decode_request_only_decode_errors(mutate(payload, rng))  # header too
            else:
                assert cls.decode(body, version) == seed
                for _ in range(rounds):
                    decode_body_only_decode_errors(cls, version, mutate(body, rng))


# --- hypothesis-driven fuzzing ---------------------------------------------------------------

mutation_ops = st.lists(st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 2**32 - 1)), min_size=1, max_size=4)


def _apply(data: bytes, ops: list[tuple[Callable[[bytearray, random.Random], None], int]], keep: int = 0) -> bytes:
    head, body = bytearray(data[:keep]), bytearray(data[keep:])
    for op, seed in ops:
        op(body, random.Random(seed))
    return bytes(head + body)


@settings(max_examples=budget("fuzz"))
@given(data=st.data())
def test_mutated_requests_raise_only_decode_errors(data: st.DataObject) -> None:
    cls, version = data.draw(st.sampled_from(REQUEST_PAIRS), label="request")
    body = data.draw(messages(cls, version, SMALL), label="body")
    payload, header_len = _request_payload(cls, version, body, data.draw(st.integers(-(2**31), 2**31 - 1)))
    keep = data.draw(st.sampled_from([0, header_len]), label="keep")
    decode_request_only_decode_errors(_apply(payload, data.draw(mutation_ops, label="mutations"), keep))


@settings(max_examples=budget("fuzz"))
@given(data=st.data())
def test_mutated_response_and_data_bodies_raise_only_decode_errors(data: st.DataObject) -> None:
    cls, version = data.draw(st.sampled_from(BODY_PAIRS), label="message")
    body = data.draw(messages(cls, version, SMALL), label="body").encode(version)
    decode_body_only_decode_errors(cls, version, _apply(body, data.draw(mutation_ops, label="mutations")))


@settings(max_examples=budget("fuzz"))
@given(st.binary(max_size=64))
def test_random_payloads_raise_only_decode_errors(payload: bytes) -> None:
    decode_request_only_decode_errors(payload)


@settings(max_examples=budget("fuzz"))
@given(st.sampled_from(REQUEST_PAIRS), st.binary(max_size=96), st.booleans())
def test_random_bodies_behind_valid_headers_raise_only_decode_errors(
    pair: tuple[type[Message], int], body: bytes, empty_tags: bool
) -> None:
    cls, version = pair
    payload, header_len = _request_payload(cls, version, cls())
    decode_request_only_decode_errors(payload[:header_len] + body)


@settings(max_examples=budget("fuzz"))
@given(st.sampled_from(BODY_PAIRS), st.binary(max_size=96))
def test_random_response_bodies_raise_only_decode_errors(pair: tuple[type[Message], int], body: bytes) -> None:
    cls, version = pair
    decode_body_only_decode_errors(cls, version, body)


def test_mutate_is_deterministic_and_changes_things() -> None:
    payload = bytes(range(64))
    a = [mutate(payload, random.Random(s)) for s in range(50)]
    b = [mutate(payload, random.Random(s)) for s in range(50)]
    assert a == b
    assert sum(x != payload for x in a) > 40
    assert all(mutate(payload, random.Random(s), keep=10)[:10] == payload[:10] for s in range(50))

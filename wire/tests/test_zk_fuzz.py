"""Fuzz invariant for the ZooKeeper codecs: hostile bytes raise nothing but DecodeError subclasses.

Inputs: random bytes (bare, and behind a valid RequestHeader / ReplyHeader), and valid
frames (the golden captures and generated ones) mutated by bit flips, truncation,
appended / inserted / deleted bytes and length fields overwritten with interesting
int32 values. They go through every decoder a peer can reach: ``decode_request``,
``decode_reply`` for every opcode, the handshake decoders and every record's ``decode``.

Whatever decodes must re-encode without error and decode back to the same value.
Deterministic and a few seconds under the ``ci`` profile; ``dev``/``long`` run more.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wire.errors import DecodeError
from wire.zk import protocol as P
from wire.zk import records as R
from wire.zk.constants import OpCode
from wire.tests.test_zk_golden import KINDS, load_hex
from wire.tests.test_zk_protocol import reply_body, request_body

_BUDGET = {"ci": 150, "dev": 600, "long": 4000}


def budget() -> int:
    return _BUDGET.get(settings.get_current_profile_name(), _BUDGET["ci"])


KNOWN_REPLY_OPS = [OpCode(op) for op in sorted(P.RESPONSE_RECORDS)] + [OpCode.multi, OpCode.multiRead]
REPLY_OPS: list[int] = [*KNOWN_REPLY_OPS, 999]
REQUEST_OPS = [OpCode(op) for op in sorted(P.REQUEST_RECORDS)] + [OpCode.multi, OpCode.multiRead]
GOLDEN = [load_hex(name) for name in sorted(KINDS)]
INTERESTING_32 = [-1, -2, 0, 1, 2, 0x7FFFFFFF, -0x80000000, 0x10000, 0xFFFFF, 0x7FFFFFF0]


def _round_trip(decode: Callable[[bytes], Any], encode: Callable[[Any], bytes], payload: bytes) -> None:
    try:
        value = decode(payload)
    except DecodeError:
        return
    assert decode(encode(value)) == value


def _request_round_trip(payload: bytes) -> None:
    _round_trip(P.decode_request, lambda req: P.encode_request(req.xid, req.op, req.body), payload)


def _reply_round_trip(payload: bytes, op: int) -> None:
    def encode(value: Any) -> bytes:
        header, body = value
        if header.xid == -1:  # a notification with a non-zero err still carries its event
            return header.encode() + body.encode()
        return P.encode_reply(header.xid, header.zxid, header.err, body)

    _round_trip(lambda b: P.decode_reply(b, op), encode, payload)


def feed_everything(payload: bytes) -> None:
    """Every decoder a peer's bytes can reach; only DecodeError may escape, and what decodes re-encodes."""
    _request_round_trip(payload)
    for op in REPLY_OPS:
        _reply_round_trip(payload, op)
    _round_trip(P.decode_connect_request, R.ConnectRequest.encode, payload)
    _round_trip(P.decode_connect_response, R.ConnectResponse.encode, payload)
    for cls in R.RECORDS.values():
        _round_trip(cls.decode, cls.encode, payload)


def mutate(data: bytes, rng: random.Random, rounds: int) -> bytes:
    b = bytearray(data)
    for _ in range(rounds):
        kind = rng.randrange(6)
        if kind == 0 and b:  # bit flip
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 1 and b:  # truncate
            del b[rng.randrange(len(b)):]
        elif kind == 2:  # append
            b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))
        elif kind == 3:  # insert
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes([rng.randrange(256)])
        elif kind == 4 and b:  # delete
            del b[rng.randrange(len(b))]
        elif len(b) >= 4:  # overwrite an int32 (a length, count, opcode or xid) with an interesting value
            i = rng.randrange(len(b) - 3)
            b[i:i + 4] = struct.pack(">i", rng.choice(INTERESTING_32))
    return bytes(b)


@settings(max_examples=budget())
@given(st.binary(max_size=80))
def test_random_bytes(payload: bytes) -> None:
    feed_everything(payload)


@settings(max_examples=budget())
@given(xid=st.integers(-(2**31), 2**31 - 1), op=st.sampled_from([*REQUEST_OPS, 0, 999, -1]),
       body=st.binary(max_size=60))
def test_random_bodies_behind_a_valid_request_header(xid: int, op: int, body: bytes) -> None:
    _request_round_trip(struct.pack(">ii", xid, op) + body)


@settings(max_examples=budget())
@given(xid=st.sampled_from([-1, -2, -4, -8, 1]), err=st.sampled_from([0, 0, -101]),
       op=st.sampled_from(REPLY_OPS), body=st.binary(max_size=60))
def test_random_bodies_behind_a_valid_reply_header(xid: int, err: int, op: int, body: bytes) -> None:
    _reply_round_trip(struct.pack(">iqi", xid, 7, err) + body, op)


@settings(max_examples=budget())
@given(frame=st.sampled_from(GOLDEN), seed=st.integers(0, 2**32 - 1), rounds=st.integers(1, 4))
def test_mutated_golden_frames(frame: bytes, seed: int, rounds: int) -> None:
    feed_everything(mutate(frame, random.Random(seed), rounds))


@st.composite
def valid_frames(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        op = draw(st.sampled_from(REQUEST_OPS))
        return P.encode_request(draw(st.integers(0, 100)), op, draw(request_body(op)))
    op = draw(st.sampled_from(KNOWN_REPLY_OPS))
    return P.encode_reply(draw(st.integers(0, 100)), 5, 0, draw(reply_body(op)))


@settings(max_examples=budget())
@given(frame=valid_frames(), seed=st.integers(0, 2**32 - 1), rounds=st.integers(1, 4))
def test_mutated_generated_frames(frame: bytes, seed: int, rounds: int) -> None:
    feed_everything(mutate(frame, random.Random(seed), rounds))

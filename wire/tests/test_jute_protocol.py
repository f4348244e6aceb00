"""Whole ZooKeeper frames through ``wire.zk.protocol``, and the code generator's drift check.

* Requests: every opcode a client sends (and multi / multiRead with random op
  lists, the empty one included) round-trips through ``encode_request`` /
  ``decode_request``; header-only ops (ping, closeSession, whoAmI) refuse trailing
  bytes; an unknown opcode raises ``UnknownOpcodeError`` carrying the xid; a bad
  body raises ``BadRequestBodyError`` carrying the xid and the op.
* Replies: every opcode's reply round-trips (a body only when err == 0), multi and
  multiRead results too; the multi failure shape of opcodes.md §3 is checked byte
  for byte; notifications decode whatever op the client passes.
* Handshake: 44/45-byte requests and 36/37-byte responses.
* ``python -m wire.zk.codegen --check`` passes on the committed output and fails on
  a jute file with one field added.
* The opcode and error-code tables match opcodes.md.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.errors import DecodeError, EncodeError, TrailingBytesError, TruncatedError
from wire.tests import jute_strategies as S
from wire.zk import codegen
from wire.zk import protocol as P
from wire.zk import records as R

REPO = Path(__file__).resolve().parents[2]
OPCODES_MD = codegen.default_jute_path().parent / "opcodes.md"

HEADER_ONLY = [P.OpCode.ping, P.OpCode.closeSession, P.OpCode.whoAmI]


def hdr(xid: int, op: int) -> bytes:
    return struct.pack(">ii", xid, op)


def reply_hdr(xid: int, zxid: int, err: int) -> bytes:
    return struct.pack(">iqi", xid, zxid, err)


MULTI_END = bytes.fromhex("ffffffff" "01" "ffffffff")


# --- requests ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", S.REQUEST_OPS + list(S.MULTI_OPS), ids=lambda op: P.OpCode(op).name)
@given(data=st.data())
def test_request_round_trip(op: int, data: st.DataObject) -> None:
    xid, _, body = data.draw(S.requests([op]))
    payload = P.encode_request(xid, op, body)
    assert payload[:8] == hdr(xid, op)
    got = P.decode_request(payload)
    assert (got.xid, got.op, got.body) == (xid, op, body)
    assert P.decode_request(memoryview(b"junk" + payload)[4:]) == got  # framing may hand over a view
    assert P.decode_request(bytearray(payload)) == got
    assert got.op is P.OpCode(op)
    assert got.header == R.RequestHeader(xid, op)
    if op in S.MULTI_OPS:
        assert payload.endswith(MULTI_END)
    elif body is not None:
        assert payload[8:] == body.encode()


def test_multi_request_bytes() -> None:
    """Each op is MultiHeader{type, done=false, err=-1} + its record; then MultiHeader{-1, true, -1}."""
    ops = [(P.OpCode.create, R.CreateRequest("/a", b"x", list(P.OPEN_ACL_UNSAFE), 0)),
           (P.OpCode.check, R.CheckVersionRequest("/a", 3)),
           (P.OpCode.delete, R.DeleteRequest("/b", -1))]
    payload = P.encode_request(7, P.OpCode.multi, ops)
    expected = (hdr(7, 14)
                + bytes.fromhex("00000001" "00" "ffffffff") + ops[0][1].encode()
                + bytes.fromhex("0000000d" "00" "ffffffff") + ops[1][1].encode()
                + bytes.fromhex("00000002" "00" "ffffffff") + ops[2][1].encode()
                + MULTI_END)
    assert payload == expected
    assert P.decode_request(payload).body == ops


@pytest.mark.parametrize("op", S.MULTI_OPS)
def test_empty_multi(op: int) -> None:
    payload = hdr(3, op) + MULTI_END
    assert P.encode_request(3, op, []) == payload
    assert P.decode_request(payload).body == []


def test_multi_request_refusals() -> None:
    inner = R.ExistsRequest("/a", False).encode()
    for payload in (hdr(5, 14) + bytes.fromhex("00000003" "00" "ffffffff") + inner + MULTI_END,  # exists: not allowed
                    hdr(5, 14) + bytes.fromhex("0000000b" "00" "ffffffff") + MULTI_END,  # ping
                    hdr(5, 14) + bytes.fromhex("ffffffff" "00" "ffffffff") + MULTI_END,  # -1 without done
                    hdr(5, 14) + MULTI_END + b"\x00",  # bytes after the terminator
                    hdr(5, 14) + bytes.fromhex("00000002" "00" "ffffffff") + R.DeleteRequest("/b", 1).encode(),
                    hdr(5, 22) + MULTI_END[:-1]):
        with pytest.raises(P.BadRequestBodyError) as info:
            P.decode_request(payload)
        assert (info.value.xid, info.value.op) == (5, struct.unpack(">i", payload[4:8])[0])
    with pytest.raises(EncodeError):
        P.encode_request(5, P.OpCode.multi, [(P.OpCode.exists, R.ExistsRequest("/a", False))])
    with pytest.raises(EncodeError):
        P.encode_request(5, P.OpCode.multi, [(P.OpCode.create, R.DeleteRequest("/a", 0))])
    with pytest.raises(EncodeError):
        P.encode_request(5, P.OpCode.multi, None)


@pytest.mark.parametrize("op", HEADER_ONLY, ids=lambda op: op.name)
def test_header_only_requests_refuse_trailing_bytes(op: P.OpCode) -> None:
    assert P.decode_request(hdr(-2, op)).body is None
    assert P.encode_request(9, op) == hdr(9, op)
    for extra in (b"\x00", b"\x00\x00\x00\x00", R.SyncRequest("/").encode()):
        with pytest.raises(P.BadRequestBodyError) as info:
            P.decode_request(hdr(9, op) + extra)
        assert (info.value.xid, info.value.op) == (9, op)
        assert isinstance(info.value.cause, TrailingBytesError)
    with pytest.raises(EncodeError):
        P.encode_request(9, op, R.SyncRequest("/"))


@pytest.mark.parametrize("opcode", [999, -999, 10, 23, 99, 108, 0, -1, -10, 20, 2**31 - 1, -(2**31)])
def test_unknown_opcode_carries_the_xid(opcode: int) -> None:
    """Numbers ZooKeeper does not define, and ones no client sends (notification, error, createSession,
    deleteContainer): UnknownOpcodeError with the xid, whatever follows the header."""
    for tail in (b"", b"\x00" * 3, R.SyncRequest("/x").encode()):
        with pytest.raises(P.UnknownOpcodeError) as info:
            P.decode_request(hdr(42, opcode) + tail)
        err = info.value
        assert isinstance(err, DecodeError) and isinstance(err, P.RequestError)
        assert err.xid == 42
        assert err.opcode == opcode
        assert err.op is None
        assert not isinstance(err, P.BadRequestBodyError)


@pytest.mark.parametrize("op", [op for op in S.REQUEST_OPS if P.REQUEST_RECORDS[op] is not None],
                         ids=lambda op: P.OpCode(op).name)
def test_bad_body_carries_xid_and_op(op: int) -> None:
    cls = P.REQUEST_RECORDS[op]
    assert cls is not None
    good = cls().encode()
    bad_bodies = [good + b"\x00"]  # trailing
    if good:
        bad_bodies.append(good[:-1])  # truncated
    bad_bodies.append(b"\x7f\xff\xff\xff" * 3)  # absurd lengths/counts
    for body in bad_bodies:
        try:
            cls.decode(body)
        except DecodeError:
            pass
        else:
            continue  # happens to be valid for this record (e.g. three ints)
        with pytest.raises(P.BadRequestBodyError) as info:
            P.decode_request(hdr(-77, op) + body)
        assert info.value.xid == -77
        assert info.value.op == op and info.value.op is P.OpCode(op)
        assert isinstance(info.value.cause, DecodeError)


def test_create_with_truncated_body_names_create() -> None:
    body = R.CreateRequest("/node", b"data", list(P.OPEN_ACL_UNSAFE), 0).encode()
    with pytest.raises(P.BadRequestBodyError) as info:
        P.decode_request(hdr(3, P.OpCode.create) + body[:-2])
    assert (info.value.xid, info.value.op) == (3, P.OpCode.create)
    assert isinstance(info.value.cause, TruncatedError)


@pytest.mark.parametrize("size", range(8))
def test_short_request_header(size: int) -> None:
    with pytest.raises(TruncatedError):
        P.decode_request(hdr(1, 4)[:size])


def test_encode_request_checks_the_body_type() -> None:
    with pytest.raises(EncodeError):
        P.encode_request(1, P.OpCode.getData, R.SyncRequest("/"))
    with pytest.raises(EncodeError):
        P.encode_request(1, P.OpCode.getData, None)
    with pytest.raises(EncodeError):
        P.encode_request(2**31, P.OpCode.ping)


# --- replies ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", S.REPLY_OPS + list(S.MULTI_OPS), ids=lambda op: P.OpCode(op).name)
@given(data=st.data())
def test_reply_round_trip(op: int, data: st.DataObject) -> None:
    xid, zxid, err, body = data.draw(S.replies(op))
    payload = P.encode_reply(xid, zxid, err, body)
    assert payload[:16] == reply_hdr(xid, zxid, err)
    header, got = P.decode_reply(payload, op)
    assert header == R.ReplyHeader(xid, zxid, err)
    assert got == body
    assert P.decode_reply(memoryview(payload), op) == (header, got)
    assert P.reply_header(payload) == header
    if err != 0:
        assert len(payload) == 16


def test_reply_with_error_has_no_body() -> None:
    with pytest.raises(EncodeError):
        P.encode_reply(1, 5, P.Code.NONODE, R.ExistsResponse(R.Stat()))
    assert P.encode_reply(1, 5, P.Code.NONODE) == reply_hdr(1, 5, -101)
    with pytest.raises(TrailingBytesError):
        P.decode_reply(reply_hdr(1, 5, -101) + bytes(68), P.OpCode.exists)


def test_reply_body_trailing_and_truncated() -> None:
    good = P.encode_reply(1, 5, 0, R.ExistsResponse(R.Stat(czxid=1)))
    with pytest.raises(TrailingBytesError):
        P.decode_reply(good + b"\x00", P.OpCode.exists)
    with pytest.raises(TruncatedError):
        P.decode_reply(good[:-1], P.OpCode.exists)
    for size in range(16):
        with pytest.raises(TruncatedError):
            P.decode_reply(good[:size], P.OpCode.exists)
    for op in (P.OpCode.delete, P.OpCode.setWatches, P.OpCode.closeSession):  # header-only replies
        with pytest.raises(TrailingBytesError):
            P.decode_reply(reply_hdr(1, 5, 0) + b"\x00", op)


@pytest.mark.parametrize("xid", [P.Xid.PING, P.Xid.AUTH])
def test_ping_and_auth_replies_are_header_only_whatever_the_op(xid: int) -> None:
    payload = reply_hdr(xid, 0 if xid == P.Xid.AUTH else 9, 0)
    for op in (P.OpCode.getData, P.OpCode.ping, P.OpCode.auth, P.OpCode.multi):
        assert P.decode_reply(payload, op) == (R.ReplyHeader(xid, 0 if xid == P.Xid.AUTH else 9, 0), None)


def test_multi_failure_shape() -> None:
    """opcodes.md §3: every result becomes type -1; 0 before the failing op, its code, -2 after; outer err 0."""
    results = [(-1, 0, R.ErrorResponse(0)), (-1, -110, R.ErrorResponse(-110)), (-1, -2, R.ErrorResponse(-2))]
    payload = P.encode_reply(6, 5, 0, results)
    expected = (reply_hdr(6, 5, 0)
                + bytes.fromhex("ffffffff" "00" "00000000" "00000000")
                + bytes.fromhex("ffffffff" "00" "ffffff92" "ffffff92")
                + bytes.fromhex("ffffffff" "00" "fffffffe" "fffffffe")
                + MULTI_END)
    assert payload == expected
    header, got = P.decode_reply(payload, P.OpCode.multi)
    assert header.err == 0
    assert got == results
    assert isinstance(got, list)
    assert [res.err for res in got] == [0, P.Code.NODEEXISTS, P.Code.RUNTIMEINCONSISTENCY]
    assert all(res.type == P.OpCode.error for res in got)
    # an encoder given None for an error result's body writes ErrorResponse{err}
    assert P.encode_reply(6, 5, 0, [(-1, 0, None), (-1, -110, None), (-1, -2, None)]) == expected


def test_multi_success_shape() -> None:
    stat = R.Stat(7, 7, 1, 1, 0, 0, 0, 0, 1, 0, 7)
    results = [(P.OpCode.create, 0, R.CreateResponse("/a")), (P.OpCode.create2, 0, R.Create2Response("/b", stat)),
               (P.OpCode.setData, 0, R.SetDataResponse(stat)), (P.OpCode.delete, 0, None),
               (P.OpCode.check, 0, None)]
    payload = P.encode_reply(1, 7, 0, results)
    assert payload[16:25] == bytes.fromhex("00000001" "00" "00000000")
    assert payload.endswith(bytes.fromhex("0000000d" "00" "00000000") + MULTI_END)
    assert P.decode_reply(payload, P.OpCode.multi)[1] == results


def test_multi_read_results() -> None:
    results = [(P.OpCode.getData, 0, R.GetDataResponse(None, R.Stat())), (-1, -101, R.ErrorResponse(-101)),
               (P.OpCode.getChildren, 0, R.GetChildrenResponse(["x", "y"]))]
    payload = P.encode_reply(2, 7, 0, results)
    assert P.decode_reply(payload, P.OpCode.multiRead)[1] == results


def test_multi_reply_refusals() -> None:
    with pytest.raises(DecodeError):  # unknown result type
        P.decode_reply(reply_hdr(1, 1, 0) + bytes.fromhex("00000003" "00" "00000000") + MULTI_END, P.OpCode.multi)
    with pytest.raises(DecodeError):  # no terminator
        P.decode_reply(reply_hdr(1, 1, 0) + bytes.fromhex("00000002" "00" "00000000"), P.OpCode.multi)
    with pytest.raises(TrailingBytesError):
        P.decode_reply(reply_hdr(1, 1, 0) + MULTI_END + b"\x00", P.OpCode.multi)
    # a whole-request error (e.g. -5 for a mixed multi) carries no results at all
    assert P.decode_reply(reply_hdr(1, 1, -5), P.OpCode.multi) == (R.ReplyHeader(1, 1, -5), None)
    refused: list[Any] = [
        [(P.OpCode.delete, 0, R.CreateResponse("/a"))],  # delete has no body
        [(P.OpCode.create, 0, None)],  # create has one
        [(P.OpCode.create2, 0, R.CreateResponse("/a"))],  # create2's is Create2Response
        [(P.OpCode.exists, 0, None)],  # not a result type
        [(P.OpCode.delete, 0)],  # not a triple
    ]
    for bad in refused:
        with pytest.raises(EncodeError):
            P.encode_reply(1, 1, 0, bad)


@given(S.notifications(), st.sampled_from([0, *S.REPLY_OPS, *S.MULTI_OPS]))
def test_notification_round_trip(event: tuple[int, int, str, int], op: int) -> None:
    etype, state, path, zxid = event
    payload = P.encode_notification(etype, path, zxid, state)
    assert payload[:16] == reply_hdr(-1, zxid, 0)
    header, body = P.decode_reply(payload, op)  # the op the client passes does not matter for xid -1
    assert header == R.ReplyHeader(P.Xid.NOTIFICATION, zxid, 0)
    assert body == R.WatcherEvent(etype, state, path)


def test_notification_defaults_are_3_8_shaped() -> None:
    payload = P.encode_notification(P.EventType.NodeDataChanged, "/golden")
    assert payload == reply_hdr(-1, -1, 0) + bytes.fromhex("00000003" "00000003" "00000007") + b"/golden"


# --- handshake --------------------------------------------------------------------------------------

def test_connect_request_forms() -> None:
    base = struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + bytes(16)
    assert len(base) == 44
    assert P.decode_connect_request(base).read_only is None
    assert P.decode_connect_request(base + b"\x00").read_only is False
    assert P.decode_connect_request(base + b"\x01").read_only is True
    with pytest.raises(TrailingBytesError):
        P.decode_connect_request(base + b"\x01\x00")
    with pytest.raises(TruncatedError):
        P.decode_connect_request(base[:-1])


def test_connect_response_forms() -> None:
    base = struct.pack(">iiqi", 0, 4000, 0x1234, 16) + bytes(range(16))
    assert len(base) == 36
    assert P.decode_connect_response(base) == R.ConnectResponse(0, 4000, 0x1234, bytes(range(16)), None)
    assert P.decode_connect_response(base + b"\x01") == R.ConnectResponse(0, 4000, 0x1234, bytes(range(16)), True)
    # a refused resume: timeOut 0, sessionId 0, 16 zero bytes (opcodes.md §1)
    refused = R.ConnectResponse(0, 0, 0, bytes(16), False).encode()
    assert len(refused) == 37 and refused[:16] == bytes(16)


# --- code generation --------------------------------------------------------------------------------

def _jute_or_skip() -> Path:
    path = codegen.default_jute_path()
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"zookeeper.jute is missing in CI ({path})")
        pytest.skip(f"zookeeper.jute not present at {path}")
    return path


def _codegen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wire.zk.codegen", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_codegen_check_passes_on_the_committed_output() -> None:
    jute = _jute_or_skip()
    committed = (REPO / "wire/zk/records.py").read_text(encoding="utf-8")
    assert codegen.generate(jute.read_text(encoding="utf-8")) == committed
    done = _codegen("--check")
    assert done.returncode == 0, done.stderr
    done = _codegen("--check", "--jute", str(jute))
    assert done.returncode == 0, done.stderr


def test_codegen_check_detects_drift(tmp_path: Path) -> None:
    jute = _jute_or_skip()
    before = (REPO / "wire/zk/records.py").read_bytes()
    text = jute.read_text(encoding="utf-8")
    altered, n = re.subn(r"(class GetDataRequest \{\s*ustring path;)", r"\1\n        int extra;", text)
    assert n == 1
    copy = tmp_path / "zookeeper.jute"
    copy.write_text(altered, encoding="utf-8")
    done = _codegen("--check", "--jute", str(copy))
    assert done.returncode == 1
    assert "out of date" in done.stderr or "differ" in done.stderr
    assert "extra" in codegen.generate(altered)
    assert (REPO / "wire/zk/records.py").read_bytes() == before  # --check never writes
    missing = _codegen("--check", "--jute", str(tmp_path / "nope.jute"))
    assert missing.returncode not in (0, 1)


# --- tables against opcodes.md ----------------------------------------------------------------------

def _table_rows(text: str, heading: str) -> list[list[str]]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"-?\d+", cells[0]):
            rows.append(cells)
    return rows


def _opcodes_md() -> str:
    if not OPCODES_MD.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"opcodes.md is missing in CI ({OPCODES_MD})")
        pytest.skip(f"opcodes.md not present at {OPCODES_MD}")
    return OPCODES_MD.read_text(encoding="utf-8")


def test_opcodes_match_opcodes_md() -> None:
    rows = _table_rows(_opcodes_md(), "## 2. OpCodes")
    table = {int(cells[0]): cells[1] for cells in rows}
    assert table == {int(op): op.name for op in P.OpCode}


def test_error_codes_match_opcodes_md() -> None:
    rows = _table_rows(_opcodes_md(), "## 4. KeeperException codes")
    assert {int(cells[0]): cells[1] for cells in rows} == {int(c): c.name for c in P.Code}


def test_request_and_response_tables_cover_the_client_opcodes() -> None:
    server_only = {P.OpCode.notification, P.OpCode.deleteContainer, P.OpCode.createSession, P.OpCode.error}
    client_ops = set(P.OpCode) - server_only - set(S.MULTI_OPS)
    assert set(P.REQUEST_RECORDS) == client_ops
    assert set(P.RESPONSE_RECORDS) - {P.OpCode.notification} == client_ops
    assert P.RESPONSE_RECORDS.get(P.OpCode.notification, R.WatcherEvent) is R.WatcherEvent
    expected: dict[int, Any] = {P.OpCode.create2: R.Create2Response, P.OpCode.createContainer: R.Create2Response,
                                P.OpCode.createTTL: R.Create2Response, P.OpCode.reconfig: R.GetDataResponse,
                                P.OpCode.addWatch: R.ErrorResponse, P.OpCode.whoAmI: R.WhoAmIResponse,
                                P.OpCode.ping: None, P.OpCode.closeSession: None, P.OpCode.auth: None}
    for op, cls in expected.items():
        assert P.RESPONSE_RECORDS[op] is cls
    assert P.REQUEST_RECORDS[P.OpCode.whoAmI] is None
    assert P.REQUEST_RECORDS[P.OpCode.createTTL] is R.CreateTTLRequest


# --- parity with kazoo 2.11's own serializers (the client the golden capture came from) ------------
# kazoo writes an empty string as null (-1), so the strings drawn here are non-empty.

NAMES = st.text(min_size=1, max_size=8)
INT32 = st.integers(-(2**31), 2**31 - 1)


@given(path=NAMES, data=st.one_of(st.none(), st.binary(max_size=8)), flags=st.integers(0, 6), version=INT32,
       watch=st.booleans(), acl=st.lists(st.tuples(st.integers(0, 31), NAMES, NAMES), max_size=2),
       scheme=NAMES, cred=NAMES)
def test_kazoo_requests_decode_to_our_records(path: str, data: bytes | None, flags: int, version: int,
                                              watch: bool, acl: list[tuple[int, str, str]], scheme: str,
                                              cred: str) -> None:
    from kazoo.protocol import serialization as K
    from kazoo.security import ACL as KACL
    from kazoo.security import Id as KId

    kacl = [KACL(p, KId(s, i)) for p, s, i in acl]
    racl = [R.ACL(p, R.Id(s, i)) for p, s, i in acl]
    cases: list[tuple[Any, int, Any]] = [
        (K.Create(path, data, kacl, flags), P.OpCode.create, R.CreateRequest(path, data, racl, flags)),
        (K.Create2(path, data, kacl, flags), P.OpCode.create2, R.CreateRequest(path, data, racl, flags)),
        (K.Delete(path, version), P.OpCode.delete, R.DeleteRequest(path, version)),
        (K.Exists(path, watch), P.OpCode.exists, R.ExistsRequest(path, watch)),
        (K.GetData(path, watch), P.OpCode.getData, R.GetDataRequest(path, watch)),
        (K.SetData(path, data, version), P.OpCode.setData, R.SetDataRequest(path, data, version)),
        (K.GetACL(path), P.OpCode.getACL, R.GetACLRequest(path)),
        (K.SetACL(path, kacl, version), P.OpCode.setACL, R.SetACLRequest(path, racl, version)),
        (K.GetChildren(path, watch), P.OpCode.getChildren, R.GetChildrenRequest(path, watch)),
        (K.GetChildren2(path, watch), P.OpCode.getChildren2, R.GetChildren2Request(path, watch)),
        (K.Sync(path), P.OpCode.sync, R.SyncRequest(path)),
        (K.Auth(0, scheme, cred), P.OpCode.auth, R.AuthPacket(0, scheme, cred.encode())),
        (K.Transaction([K.Create(path, data, kacl, flags), K.CheckVersion(path, version), K.Delete(path, -1)]),
         P.OpCode.multi, [(1, R.CreateRequest(path, data, racl, flags)), (13, R.CheckVersionRequest(path, version)),
                          (2, R.DeleteRequest(path, -1))]),
    ]
    for kreq, op, ours in cases:
        raw = bytes(kreq.serialize())
        assert kreq.type == op
        assert P.decode_request(hdr(1, op) + raw).body == ours
        assert P.encode_request(1, op, ours) == hdr(1, op) + raw
    for op in (P.OpCode.ping, P.OpCode.closeSession):
        assert P.encode_request(-2, op) == hdr(-2, op) + bytes({11: K.Ping, -11: K.Close}[op].serialize())


@given(stat=S.records(R.Stat), path=NAMES, data=st.one_of(st.none(), st.binary(max_size=8)),
       children=st.lists(NAMES, max_size=3), zxid=S.ZXIDS, xid=st.integers(1, 2**31 - 1))
def test_kazoo_deserializes_our_replies(stat: R.Stat, path: str, data: bytes | None, children: list[str],
                                        zxid: int, xid: int) -> None:
    from kazoo.protocol import serialization as K

    kstat = tuple(getattr(stat, name) for name, _ in S.field_kinds(R.Stat))

    def body(op: int, rec: Any) -> bytes:
        payload = P.encode_reply(xid, zxid, 0, rec)
        header, _ = K.ReplyHeader.deserialize(payload, 0)
        assert tuple(header) == (xid, zxid, 0)
        return payload

    got_path, got_stat = K.Create2.deserialize(body(15, R.Create2Response(path, stat)), 16)
    assert (got_path, tuple(got_stat)) == (path, kstat)
    got_data, got_stat = K.GetData.deserialize(body(4, R.GetDataResponse(data, stat)), 16)
    assert (got_data, tuple(got_stat)) == (data, kstat)
    got_children, got_stat = K.GetChildren2.deserialize(body(12, R.GetChildren2Response(children, stat)), 16)
    assert (got_children, tuple(got_stat)) == (children, kstat)
    assert tuple(K.SetData.deserialize(body(5, R.SetDataResponse(stat)), 16)) == kstat
    assert K.Create.deserialize(body(1, R.CreateResponse(path)), 16) == path
    watch, _ = K.Watch.deserialize(P.encode_notification(P.EventType.NodeDeleted, path, zxid), 16)
    assert tuple(watch) == (2, 3, path)
    failed = P.encode_reply(xid, zxid, 0, [(-1, 0, None), (-1, -110, None), (-1, -2, None)])
    results = K.Transaction.deserialize(failed, 16)
    assert [type(e).__name__ for e in results] == ["RolledBackError", "NodeExistsError", "RuntimeInconsistency"]

"""wire.zk.protocol and the constants: tables agree with opcodes.md, frames round-trip, errors carry the xid."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.errors import DecodeError, EncodeError, MalformedError, TrailingBytesError, TruncatedError
from wire.zk import constants as C
from wire.zk import protocol as P
from wire.zk import records as R
from wire.zk.error_codes import CLIENT_SIDE_CODES, RESERVED_CODES, Code
from wire.zk.protocol import OpCode
from wire.tests.test_zk_records import INT32, INT64, per_record_budget, record_strategy

OPCODES_MD = Path(__file__).resolve().parents[3] / "shared" / "zookeeper-protocol" / "opcodes.md"


def _section(number: int) -> str:
    if not OPCODES_MD.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"opcodes.md is missing in CI: {OPCODES_MD}")
        pytest.skip(f"opcodes.md not present at {OPCODES_MD}")
    text = OPCODES_MD.read_text(encoding="utf-8")
    m = re.search(rf"^## {number}\. .*?(?=^## |\Z)", text, flags=re.M | re.S)
    assert m is not None
    return m.group(0)


def _rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"-?\d+", cells[0]):
            rows.append(cells)
    return rows


# --- constants against opcodes.md ------------------------------------------------------------------

def _record_cell(cell: str) -> str | None:
    """'`CreateRequest` (flags 4)' -> 'CreateRequest'; 'none' -> None; '-' / internal / multi -> '-'."""
    if cell == "none":
        return None
    if cell == "-" or cell.startswith("(internal") or cell.startswith("same framing") or "+record" in cell \
            or cell.startswith("per-op"):
        return "-"
    m = re.match(r"`(\w+)`", cell)
    assert m is not None, cell
    return m.group(1)


def test_opcodes_match_opcodes_md() -> None:
    rows = _rows(_section(2))
    assert {int(c[0]): c[1] for c in rows} == {op.value: op.name for op in OpCode}
    for number, _name, request, response, *_ in rows:
        op = OpCode(int(number))
        want_req = _record_cell(request)
        if want_req == "-":
            assert op not in P.REQUEST_RECORDS or op == OpCode.check
        else:
            cls = P.REQUEST_RECORDS[op]
            assert (cls.__name__ if cls else None) == want_req, op.name
        want_rsp = _record_cell(response)
        if op in (OpCode.multi, OpCode.multiRead):
            assert op not in P.REQUEST_RECORDS and op not in P.RESPONSE_RECORDS
        elif op == OpCode.error:  # a result type inside multi replies only
            assert op not in P.RESPONSE_RECORDS and P.MULTI_RESULT_RECORDS[op] is R.ErrorResponse
        elif want_rsp == "-":
            assert P.RESPONSE_RECORDS.get(op) is None, op.name
        else:
            cls = P.RESPONSE_RECORDS[op]
            assert (cls.__name__ if cls else None) == want_rsp, op.name


def test_error_codes_match_opcodes_md() -> None:
    section = _section(4)
    assert {int(c[0]): c[1] for c in _rows(section)} == {code.value: code.name for code in Code}
    m = re.search(r"Also reserved: (.*?) are unused", section)
    assert m is not None
    reserved: set[int] = set()
    for part in re.split(r",| and ", m.group(1)):
        lo, _, hi = part.strip().partition(" to ")
        reserved |= set(range(int(lo), int(hi or lo) - 1, -1)) if hi else {int(lo)}
    assert reserved == RESERVED_CODES
    assert not reserved & {c.value for c in Code}
    assert CLIENT_SIDE_CODES <= set(Code)


def test_watch_enums_match_opcodes_md() -> None:
    section = _section(5)
    events, states = section.split("**KeeperState**")
    assert {int(c[0]): c[1] for c in _rows(events)} == {
        e.value: ("None" if e is C.EventType.None_ else e.name) for e in C.EventType}
    assert {int(c[0]): c[1].split()[0] for c in _rows(states)} == {s.value: s.name for s in C.KeeperState}
    watcher = re.search(r"\*\*WatcherType\*\*.*?: (.*?)\. Values", section)
    assert watcher is not None
    assert {int(n): name for n, name in re.findall(r"(\d+) (\w+)", watcher.group(1))} == \
        {w.value: w.name for w in C.WatcherType}
    modes = re.search(r"\*\*AddWatchMode\*\*.*?: (.*?)\.\n", section)
    assert modes is not None
    assert {int(n): name for n, name in re.findall(r"(\d+) (\w+)", modes.group(1))} == \
        {m.value: m.name for m in C.AddWatchMode}


def test_perms_and_acls_match_opcodes_md() -> None:
    section = _section(6)
    perms = dict(re.findall(r"([A-Z]+)=(\d+)", section))
    assert {k: int(v) for k, v in perms.items()} == {name: p.value for name, p in C.Perms.__members__.items()}
    assert C.Perms.ALL == C.Perms.READ | C.Perms.WRITE | C.Perms.CREATE | C.Perms.DELETE | C.Perms.ADMIN
    assert C.OPEN_ACL_UNSAFE == (R.ACL(31, R.Id("world", "anyone")),)
    assert C.CREATOR_ALL_ACL == (R.ACL(31, R.Id("auth", "")),)
    assert C.READ_ACL_UNSAFE == (R.ACL(1, R.Id("world", "anyone")),)
    assert (C.ANYONE_ID_UNSAFE, C.AUTH_IDS) == (R.Id("world", "anyone"), R.Id("auth", ""))


def test_create_modes_match_opcodes_md() -> None:
    rows = _rows(_section(7))
    assert len(rows) == len(C.CreateMode)
    for flag, name, ephemeral, sequential, container, ttl in rows:
        mode = C.CreateMode(int(flag))
        assert mode.name == name
        assert (mode.ephemeral, mode.sequential, mode.container, mode.ttl) == \
            tuple(cell == "✓" for cell in (ephemeral, sequential, container, ttl))
    with pytest.raises(ValueError):
        C.CreateMode(7)


def test_special_xids_and_max_buffer_match_opcodes_md() -> None:
    section = _section(1)
    xids = {int(c[0]) for c in _rows(section)}
    assert xids == {x.value for x in C.Xid}
    assert (C.Xid.NOTIFICATION, C.Xid.PING, C.Xid.AUTH, C.Xid.SET_WATCHES) == (-1, -2, -4, -8)
    assert "(`jute.maxbuffer`) is 0xfffff" in section
    assert C.MAX_BUFFER == 0xFFFFF == P.MAX_BUFFER


def test_constants_without_the_reference() -> None:
    """A few values pinned here too, so they hold where opcodes.md is not around."""
    assert (OpCode.create, OpCode.multi, OpCode.create2, OpCode.multiRead, OpCode.auth, OpCode.whoAmI) == \
        (1, 14, 15, 22, 100, 107)
    assert (OpCode.closeSession, OpCode.createSession, OpCode.error) == (-11, -10, -1)
    assert (Code.NONODE, Code.NODEEXISTS, Code.UNIMPLEMENTED, Code.MARSHALLINGERROR, Code.THROTTLEDOP) == \
        (-101, -110, -6, -5, -127)
    assert C.MULTI_WRITE_OPS | C.MULTI_READ_OPS == set(P.MULTI_REQUEST_RECORDS)
    assert not C.MULTI_WRITE_OPS & C.MULTI_READ_OPS
    # protocol re-exports the constants under the same names
    assert P.Code is Code and P.CreateMode is C.CreateMode and P.Xid is C.Xid


# --- requests -------------------------------------------------------------------------------------

CLIENT_OPS = [OpCode(op) for op in sorted(P.REQUEST_RECORDS)]


def multi_ops(ops: frozenset[OpCode]) -> st.SearchStrategy[list[P.MultiOp]]:
    pair = st.sampled_from(sorted(ops)).flatmap(
        lambda op: record_strategy(P.MULTI_REQUEST_RECORDS[op].__name__).map(lambda rec: P.MultiOp(op, rec)))
    return st.lists(pair, max_size=4)


def request_body(op: OpCode) -> st.SearchStrategy[Any]:
    if op == OpCode.multi:
        return multi_ops(C.MULTI_WRITE_OPS)
    if op == OpCode.multiRead:
        return multi_ops(C.MULTI_READ_OPS)
    cls = P.REQUEST_RECORDS[op]
    return st.none() if cls is None else record_strategy(cls.__name__)


@pytest.mark.parametrize("op", CLIENT_OPS + [OpCode.multi, OpCode.multiRead], ids=lambda op: OpCode(op).name)
@settings(max_examples=per_record_budget())
@given(data=st.data())
def test_request_round_trip(op: OpCode, data: st.DataObject) -> None:
    xid = data.draw(INT32)
    body = data.draw(request_body(op))
    payload = P.encode_request(xid, op, body)
    assert payload[:8] == struct.pack(">ii", xid, op)
    req = P.decode_request(payload)
    assert (req.xid, req.op, req.body) == (xid, op, body)
    assert type(req.op) is OpCode
    assert req.header == R.RequestHeader(xid, op)


def test_multi_request_layout() -> None:
    ops = [P.MultiOp(OpCode.create, R.CreateRequest("/a", b"", list(C.OPEN_ACL_UNSAFE), 0)),
           P.MultiOp(OpCode.check, R.CheckVersionRequest("/", 3))]
    payload = P.encode_request(7, OpCode.multi, ops)
    expected = (struct.pack(">ii", 7, 14)
                + struct.pack(">i?i", 1, False, -1) + ops[0].request.encode()
                + struct.pack(">i?i", 13, False, -1) + ops[1].request.encode()
                + struct.pack(">i?i", -1, True, -1))
    assert payload == expected
    # plain tuples encode the same
    assert P.encode_request(7, OpCode.multi, [(int(o), r) for o, r in ops]) == expected
    # an empty multi is the terminator alone
    assert P.encode_request(1, OpCode.multi, []) == struct.pack(">ii", 1, 14) + struct.pack(">i?i", -1, True, -1)
    assert P.decode_request(P.encode_request(1, OpCode.multi, [])).body == []


def test_multi_terminator_is_any_header_with_done_set() -> None:
    """Java's MultiOperationRecord reads until a header has done=true, whatever its type and err."""
    payload = struct.pack(">ii", 1, 14) + struct.pack(">i?i", 5, True, 0)
    assert P.decode_request(payload).body == []


def test_multi_may_mix_reads_and_writes_on_the_wire() -> None:
    """Which ops a multi may mix is the server's decision (it answers -5); the codec decodes both kinds."""
    ops = [P.MultiOp(OpCode.getData, R.GetDataRequest("/a", False)), P.MultiOp(OpCode.delete, R.DeleteRequest("/a", -1))]
    assert P.decode_request(P.encode_request(1, OpCode.multi, ops)).body == ops


@pytest.mark.parametrize("raw_op", [999, 0, -1, -10, 20, 10, 23, 2**31 - 1, -(2**31)])
def test_unknown_opcode_carries_the_xid(raw_op: int) -> None:
    payload = struct.pack(">ii", 42, raw_op) + b"anything"
    with pytest.raises(P.UnknownOpcodeError) as info:
        P.decode_request(payload)
    exc = info.value
    assert isinstance(exc, DecodeError) and isinstance(exc, P.RequestError)
    assert (exc.xid, exc.opcode, exc.op) == (42, raw_op, None)


@pytest.mark.parametrize("payload, op, cause", [
    (struct.pack(">ii", 5, 4) + struct.pack(">i", 2) + b"/a", OpCode.getData, TruncatedError),  # no watch byte
    (struct.pack(">ii", 5, 4) + struct.pack(">i", 2) + b"/a\x01\x00", OpCode.getData, TrailingBytesError),
    (struct.pack(">ii", 5, 11) + b"\x00", OpCode.ping, TrailingBytesError),  # ping is header-only
    (struct.pack(">ii", 5, -11) + b"\x00\x00\x00\x00", OpCode.closeSession, TrailingBytesError),
    (struct.pack(">ii", 5, 9) + struct.pack(">i", -7), OpCode.sync, MalformedError),
    (struct.pack(">ii", 5, 9) + struct.pack(">i", 1) + b"\xff", OpCode.sync, MalformedError),
    (struct.pack(">ii", 5, 14), OpCode.multi, TruncatedError),  # no terminator
    (struct.pack(">ii", 5, 14) + struct.pack(">i?i", 9, False, -1) + struct.pack(">i", 1) + b"/"
     + struct.pack(">i?i", -1, True, -1), OpCode.multi, MalformedError),  # sync is not allowed in multi
    (struct.pack(">ii", 5, 14) + struct.pack(">i?i", -1, False, -1), OpCode.multi, MalformedError),
    (struct.pack(">ii", 5, 22) + struct.pack(">i?i", -1, True, -1) + b"\x00", OpCode.multiRead, TrailingBytesError),
])
def test_bad_body_carries_the_xid_and_op(payload: bytes, op: OpCode, cause: type[DecodeError]) -> None:
    with pytest.raises(P.BadRequestBodyError) as info:
        P.decode_request(payload)
    exc = info.value
    assert isinstance(exc, DecodeError) and isinstance(exc, P.RequestError)
    assert (exc.xid, exc.op) == (5, op)
    assert isinstance(exc.cause, cause)


@pytest.mark.parametrize("payload", [b"", b"\x00\x00\x00\x01", b"\x00" * 7])
def test_request_without_a_whole_header_is_truncated(payload: bytes) -> None:
    with pytest.raises(TruncatedError):
        P.decode_request(payload)


@pytest.mark.parametrize("xid, op, body", [
    (1, OpCode.create, R.GetDataRequest("/a", False)),  # the wrong record for the opcode
    (1, OpCode.create, None),  # a body is needed
    (1, OpCode.ping, R.ErrorResponse(0)),  # header-only
    (1, OpCode.multi, R.CreateRequest()),  # multi takes a list
    (1, OpCode.multi, None),
    (1, OpCode.multi, [(OpCode.sync, R.SyncRequest("/"))]),  # not allowed in multi
    (1, OpCode.multi, [(OpCode.create, R.DeleteRequest("/", -1))]),  # wrong record for the op
    (1, OpCode.multi, [OpCode.create]),
    (1, OpCode.multiRead, "ab"),
    (1, OpCode.getData, R.GetDataRequest("/a", 1)),  # type: ignore[arg-type]  # the record itself is bad
    (2**31, OpCode.ping, None),  # xid out of range
    (1, 2**31, None),
    (1, 999, "raw bytes"),  # an unknown opcode still takes a record or nothing
])
def test_encode_request_refuses_misuse(xid: int, op: int, body: Any) -> None:
    with pytest.raises(EncodeError):
        P.encode_request(xid, op, body)


def test_encode_request_with_an_unknown_opcode_for_probing_a_server() -> None:
    assert P.encode_request(3, 999) == struct.pack(">ii", 3, 999)
    assert P.encode_request(3, 20, R.DeleteRequest("/a", -1)) == struct.pack(">ii", 3, 20) + R.DeleteRequest("/a", -1).encode()


# --- replies --------------------------------------------------------------------------------------

REPLY_OPS = [OpCode(op) for op in sorted(P.RESPONSE_RECORDS)]


def multi_results(read: bool) -> st.SearchStrategy[list[P.MultiResult]]:
    types = [OpCode.getData, OpCode.getChildren] if read else \
        [OpCode.create, OpCode.create2, OpCode.setData, OpCode.delete, OpCode.check]

    def body(rtype: OpCode) -> st.SearchStrategy[P.MultiResult]:
        cls = P.MULTI_RESULT_RECORDS[rtype]
        if cls is None:
            return st.just(P.MultiResult(rtype, 0, None))
        return record_strategy(cls.__name__).map(lambda rec: P.MultiResult(rtype, 0, rec))

    ok = st.sampled_from(types).flatmap(body)
    error = st.sampled_from([c.value for c in Code]).map(lambda c: P.MultiResult(OpCode.error, c, R.ErrorResponse(c)))
    return st.lists(ok | error, max_size=4)


def reply_body(op: OpCode) -> st.SearchStrategy[Any]:
    if op in (OpCode.multi, OpCode.multiRead):
        return multi_results(op == OpCode.multiRead)
    cls = P.RESPONSE_RECORDS[op]
    return st.none() if cls is None else record_strategy(cls.__name__)


@pytest.mark.parametrize("op", REPLY_OPS + [OpCode.multi, OpCode.multiRead], ids=lambda op: OpCode(op).name)
@settings(max_examples=per_record_budget())
@given(data=st.data())
def test_reply_round_trip(op: OpCode, data: st.DataObject) -> None:
    xid = data.draw(INT32.filter(lambda x: x not in (-1, -2, -4)))
    zxid = data.draw(INT64)
    body = data.draw(reply_body(op))
    payload = P.encode_reply(xid, zxid, 0, body)
    assert P.decode_reply(payload, op) == (R.ReplyHeader(xid, zxid, 0), body)
    assert P.reply_header(payload) == R.ReplyHeader(xid, zxid, 0)
    # with an error, the header is the whole reply
    err = data.draw(st.sampled_from([c.value for c in Code if c != 0]))
    failed = P.encode_reply(xid, zxid, err)
    assert len(failed) == 16
    assert P.decode_reply(failed, op) == (R.ReplyHeader(xid, zxid, err), None)
    with pytest.raises(TrailingBytesError):
        P.decode_reply(failed + b"\x00", op)


def test_failed_multi_reply_layout() -> None:
    """opcodes.md §3: outer err 0; ops before the failing one carry 0, after it -2."""
    results = [(-1, 0, None), (-1, -103, R.ErrorResponse(-103)), (-1, -2, None)]
    payload = P.encode_reply(4, 4, 0, results)
    expected = struct.pack(">iqi", 4, 4, 0)
    for err in (0, -103, -2):
        expected += struct.pack(">i?i", -1, False, err) + struct.pack(">i", err)
    expected += struct.pack(">i?i", -1, True, -1)
    assert payload == expected
    header, body = P.decode_reply(payload, OpCode.multi)
    assert body == [P.MultiResult(OpCode.error, e, R.ErrorResponse(e)) for e in (0, -103, -2)]


@pytest.mark.parametrize("results", [
    [(OpCode.error, -101, R.CreateResponse("/a"))],  # an error result carries ErrorResponse
    [(OpCode.create, 0, R.Create2Response("/a", R.Stat()))],  # the wrong body for the type
    [(OpCode.create, 0, None)],
    [(OpCode.delete, 0, R.ErrorResponse(0))],  # delete has no body
    [(OpCode.createTTL, 0, R.Create2Response("/a", R.Stat()))],  # not a result type
    [(OpCode.create, 0)],
    [(OpCode.create, "0", R.CreateResponse("/a"))],
    "abc",
])
def test_encode_reply_refuses_inconsistent_multi_results(results: Any) -> None:
    with pytest.raises(EncodeError):
        P.encode_reply(1, 1, 0, results)


def test_multi_result_header_err_is_kept_as_sent() -> None:
    """Java's MultiResponse ignores the per-op header err; the codec carries it through unchanged."""
    odd = [P.MultiResult(OpCode.error, -101, R.ErrorResponse(-110)), P.MultiResult(OpCode.create, 5, R.CreateResponse("/a"))]
    assert P.decode_reply(P.encode_reply(1, 1, 0, odd), OpCode.multi)[1] == odd


def test_encode_reply_refuses_misuse() -> None:
    with pytest.raises(EncodeError):
        P.encode_reply(1, 1, Code.NONODE, R.ExistsResponse(R.Stat()))  # no body with an error
    with pytest.raises(EncodeError):
        P.encode_reply(1, 2**63, 0)
    with pytest.raises(EncodeError):
        P.encode_reply(1, 1, 0, "body")  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        P.encode_reply(1, 1, 0, R.SetDataResponse(None))  # type: ignore[arg-type]


def test_special_xid_replies() -> None:
    note = P.encode_notification(C.EventType.NodeDeleted, "/a", 67)
    assert note == struct.pack(">iqi", -1, 67, 0) + struct.pack(">iii", 2, 3, 2) + b"/a"
    # a notification is recognised by its xid, whatever request the client is waiting for
    assert P.decode_reply(note, OpCode.getData) == (R.ReplyHeader(-1, 67, 0), R.WatcherEvent(2, 3, "/a"))
    # a session event has a null path
    session = P.encode_notification(C.EventType.None_, None, -1, C.KeeperState.Expired)
    assert P.decode_reply(session, OpCode.notification)[1] == R.WatcherEvent(-1, -112, None)
    # ping and auth replies are header-only
    for xid in (C.Xid.PING, C.Xid.AUTH):
        assert P.decode_reply(struct.pack(">iqi", xid, 0, 0), OpCode.getData) == (R.ReplyHeader(xid, 0, 0), None)
    # an opcode the table does not know is taken as header-only
    assert P.decode_reply(struct.pack(">iqi", 1, 0, 0), 999)[1] is None


def test_reply_header_alone() -> None:
    with pytest.raises(TruncatedError):
        P.reply_header(b"\x00" * 15)
    assert P.reply_header(struct.pack(">iqi", 9, 8, -101) + b"rest") == R.ReplyHeader(9, 8, -101)
    with pytest.raises(TruncatedError):
        P.decode_reply(b"\x00" * 15, OpCode.ping)


# --- the handshake --------------------------------------------------------------------------------

@pytest.mark.parametrize("read_only, request_len, reply_len", [(None, 44, 36), (False, 45, 37), (True, 45, 37)])
def test_server_mirrors_the_clients_connect_form(read_only: bool | None, request_len: int, reply_len: int) -> None:
    request = R.ConnectRequest(0, 0, 30000, 0, bytes(16), read_only).encode()
    assert len(request) == request_len
    got = P.decode_connect_request(request)
    # a server passes on the presence of the flag (its value is the server's own: False unless read-only)
    reply = R.ConnectResponse(0, 30000, 0x100, bytes(16), None if got.read_only is None else False).encode()
    assert len(reply) == reply_len
    assert (P.decode_connect_response(reply).read_only is None) == (read_only is None)


def test_connect_request_strictness() -> None:
    base = R.ConnectRequest(0, 0, 30000, 0, bytes(16), False).encode()
    with pytest.raises(TrailingBytesError):
        P.decode_connect_request(base + b"\x00")
    with pytest.raises(TruncatedError):
        P.decode_connect_request(base[:30])
    with pytest.raises(MalformedError):
        P.decode_connect_request(base[:24] + struct.pack(">i", -3))
    # a null password is a valid jute buffer
    assert P.decode_connect_request(R.ConnectRequest(0, 0, 0, 0, None).encode()).passwd is None

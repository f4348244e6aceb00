"""Golden bytes: frames kazoo 2.11 and a real ZooKeeper 3.8.0 exchanged decode to the known values and re-encode
to the same bytes.

The fixtures are annotated hex under ``golden/zk/`` (``#`` starts a comment), one frame
payload per file; ``golden/zk/README.md`` says how they were captured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wire.zk import protocol as P
from wire.zk import records as R
from wire.zk.constants import OPEN_ACL_UNSAFE, CreateMode, EventType, KeeperState, OpCode
from wire.zk.error_codes import Code

GOLDEN = Path(__file__).parent / "golden" / "zk"

# file -> how to decode it: a connect record, a request, or a reply to the given opcode
KINDS: dict[str, tuple[str, OpCode | None]] = {
    "connect_request_45": ("connect_request", None),
    "connect_request_44": ("connect_request", None),
    "connect_request_resume": ("connect_request", None),
    "connect_response_37": ("connect_response", None),
    "connect_response_36": ("connect_response", None),
    "connect_response_resume": ("connect_response", None),
    "auth_request": ("request", None),
    "auth_reply": ("reply", OpCode.auth),
    "create_request": ("request", None),
    "create_reply": ("reply", OpCode.create),
    "get_data_watch_request": ("request", None),
    "get_data_reply": ("reply", OpCode.getData),
    "set_data_request": ("request", None),
    "set_data_reply": ("reply", OpCode.setData),
    "notification_data_changed": ("reply", OpCode.notification),
    "multi_failing_request": ("request", None),
    "multi_failing_reply": ("reply", OpCode.multi),
    "get_data_missing_request": ("request", None),
    "error_reply_no_node": ("reply", OpCode.getData),
    "get_children_request": ("request", None),
    "get_children_reply": ("reply", OpCode.getChildren),
    "create2_request": ("request", None),
    "create2_reply": ("reply", OpCode.create2),
    "multi_ok_request": ("request", None),
    "multi_ok_reply": ("reply", OpCode.multi),
    "get_children2_request": ("request", None),
    "get_children2_reply": ("reply", OpCode.getChildren2),
    "get_acl_request": ("request", None),
    "get_acl_reply": ("reply", OpCode.getACL),
    "exists_request": ("request", None),
    "exists_reply": ("reply", OpCode.exists),
    "ping_request": ("request", None),
    "ping_reply": ("reply", OpCode.ping),
    "close_session_request": ("request", None),
    "close_session_reply": ("reply", OpCode.closeSession),
}

SESSION = 0x0100002C94390000  # the kazoo session of the capture
OPEN = list(OPEN_ACL_UNSAFE)


def load_hex(name: str) -> bytes:
    text = (GOLDEN / f"{name}.hex").read_text()
    return bytes.fromhex("".join(line.split("#", 1)[0].strip() for line in text.splitlines()))


def decode(name: str) -> Any:
    kind, op = KINDS[name]
    payload = load_hex(name)
    if kind == "connect_request":
        return P.decode_connect_request(payload)
    if kind == "connect_response":
        return P.decode_connect_response(payload)
    if kind == "request":
        return P.decode_request(payload)
    assert op is not None
    return P.decode_reply(payload, op)


def encode(name: str, value: Any) -> bytes:
    kind, _ = KINDS[name]
    if kind.startswith("connect"):
        return value.encode()
    if kind == "request":
        return P.encode_request(value.xid, value.op, value.body)
    header, body = value
    if header.xid == -1:
        return P.encode_notification(body.type, body.path, header.zxid, body.state)
    return P.encode_reply(header.xid, header.zxid, header.err, body)


def test_every_fixture_is_listed() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.hex")) == sorted(KINDS)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_decodes_and_re_encodes_to_the_same_bytes(name: str) -> None:
    payload = load_hex(name)
    header = (GOLDEN / f"{name}.hex").read_text().splitlines()
    assert header[0].startswith("# ") and "ZooKeeper 3.8.0" in header[0]
    assert f"# {len(payload)} bytes" in "\n".join(header[:4])
    assert encode(name, decode(name)) == payload


# --- the handshake ------------------------------------------------------------------------

def test_connect_request_45() -> None:
    req = decode("connect_request_45")
    assert req == R.ConnectRequest(0, 0, 10000, 0, bytes(16), False)
    assert len(load_hex("connect_request_45")) == 45


def test_connect_response_37() -> None:
    rsp = decode("connect_response_37")
    assert (rsp.protocol_version, rsp.time_out, rsp.session_id, rsp.read_only) == (0, 10000, SESSION, False)
    assert len(rsp.passwd) == 16
    assert len(load_hex("connect_response_37")) == 37


def test_connect_without_read_only_gets_a_reply_without_it() -> None:
    req = decode("connect_request_44")
    assert req == R.ConnectRequest(0, 0, 30000, 0, bytes(16), None)
    rsp = decode("connect_response_36")
    assert (rsp.time_out, rsp.session_id, rsp.read_only) == (30000, SESSION + 1, None)
    assert len(load_hex("connect_request_44")) == 44 and len(load_hex("connect_response_36")) == 36


def test_resumed_session() -> None:
    first = decode("connect_response_37")
    req = decode("connect_request_resume")
    assert (req.last_zxid_seen, req.time_out, req.session_id, req.passwd, req.read_only) == \
        (6, 10000, SESSION, first.passwd, False)
    assert decode("connect_response_resume") == first


# --- requests and replies ----------------------------------------------------------------------

def test_auth() -> None:
    req = decode("auth_request")
    assert (req.xid, req.op, req.body) == (-4, OpCode.auth, R.AuthPacket(0, "digest", b"alice:secret"))
    assert decode("auth_reply") == (R.ReplyHeader(-4, 0, 0), None)


def test_create() -> None:
    req = decode("create_request")
    assert (req.xid, req.op, req.body) == (1, OpCode.create, R.CreateRequest("/golden", b"hello", OPEN, 0))
    assert decode("create_reply") == (R.ReplyHeader(1, 2, 0), R.CreateResponse("/golden"))


def test_get_data_with_a_watch_and_its_stat() -> None:
    req = decode("get_data_watch_request")
    assert (req.xid, req.op, req.body) == (2, OpCode.getData, R.GetDataRequest("/golden", True))
    header, body = decode("get_data_reply")
    assert header == R.ReplyHeader(2, 2, 0)
    assert body.data == b"hello"
    stat = body.stat
    assert (stat.czxid, stat.mzxid, stat.version, stat.cversion, stat.aversion) == (2, 2, 0, 0, 0)
    assert (stat.ephemeral_owner, stat.data_length, stat.num_children, stat.pzxid) == (0, 5, 0, 2)
    assert stat.ctime == stat.mtime == 1796062311803


def test_set_data_and_the_notification() -> None:
    req = decode("set_data_request")
    assert (req.xid, req.op, req.body) == (3, OpCode.setData, R.SetDataRequest("/golden", b"world", -1))
    header, event = decode("notification_data_changed")
    assert header == R.ReplyHeader(-1, -1, 0)  # 3.8: zxid -1
    assert event == R.WatcherEvent(EventType.NodeDataChanged, KeeperState.SyncConnected, "/golden")
    header, body = decode("set_data_reply")
    assert header == R.ReplyHeader(3, 3, 0)
    assert (body.stat.mzxid, body.stat.version, body.stat.data_length) == (3, 1, 5)


def test_multi_with_a_failing_op() -> None:
    req = decode("multi_failing_request")
    assert (req.xid, req.op) == (4, OpCode.multi)
    assert req.body == [
        (OpCode.create, R.CreateRequest("/golden/a", b"", OPEN, 0)),
        (OpCode.check, R.CheckVersionRequest("/golden", 99)),
        (OpCode.create, R.CreateRequest("/golden/b", b"", OPEN, 0)),
    ]
    header, results = decode("multi_failing_reply")
    assert header == R.ReplyHeader(4, 4, 0)  # outer err 0; a failed multi still consumes a zxid
    assert [(r.type, r.err) for r in results] == [(-1, 0), (-1, Code.BADVERSION), (-1, Code.RUNTIMEINCONSISTENCY)]
    assert [r.body for r in results] == [R.ErrorResponse(0), R.ErrorResponse(-103), R.ErrorResponse(-2)]


def test_error_reply_has_no_body() -> None:
    req = decode("get_data_missing_request")
    assert (req.xid, req.body) == (5, R.GetDataRequest("/missing", False))
    assert decode("error_reply_no_node") == (R.ReplyHeader(5, 4, Code.NONODE), None)
    assert len(load_hex("error_reply_no_node")) == 16


def test_get_children() -> None:
    assert decode("get_children_request").body == R.GetChildrenRequest("/golden", False)
    assert decode("get_children_reply") == (R.ReplyHeader(6, 4, 0), R.GetChildrenResponse([]))


def test_create2_ephemeral_sequential() -> None:
    req = decode("create2_request")
    assert (req.xid, req.op) == (7, OpCode.create2)
    assert req.body == R.CreateRequest("/golden/c", b"x", OPEN, CreateMode.EPHEMERAL_SEQUENTIAL)
    header, body = decode("create2_reply")
    assert header == R.ReplyHeader(7, 5, 0)
    assert body.path == "/golden/c0000000000"
    assert (body.stat.czxid, body.stat.ephemeral_owner, body.stat.data_length) == (5, SESSION, 1)


def test_successful_multi() -> None:
    req = decode("multi_ok_request")
    assert req.body == [
        (OpCode.create, R.CreateRequest("/golden/d", b"d", OPEN, 0)),
        (OpCode.setData, R.SetDataRequest("/golden", b"again", -1)),
        (OpCode.delete, R.DeleteRequest("/golden/d", -1)),
    ]
    header, results = decode("multi_ok_reply")
    assert header == R.ReplyHeader(8, 6, 0)  # the whole multi gets one zxid
    assert [(r.type, r.err) for r in results] == [(OpCode.create, 0), (OpCode.setData, 0), (OpCode.delete, 0)]
    assert results[0].body == R.CreateResponse("/golden/d")
    assert results[1].body.stat.mzxid == 6 and results[1].body.stat.version == 2
    assert results[2].body is None


def test_get_children2_and_get_acl() -> None:
    assert decode("get_children2_request").body == R.GetChildren2Request("/golden", False)
    header, body = decode("get_children2_reply")
    assert (header, body.children, body.stat.cversion, body.stat.num_children) == \
        (R.ReplyHeader(9, 6, 0), ["c0000000000"], 3, 1)
    assert decode("get_acl_request").body == R.GetACLRequest("/golden")
    header, body = decode("get_acl_reply")
    assert (header, body.acl, body.stat.aversion) == (R.ReplyHeader(10, 6, 0), OPEN, 0)


def test_exists_ping_and_close() -> None:
    assert decode("exists_request").body == R.ExistsRequest("/golden", False)
    assert decode("exists_reply")[1].stat.mzxid == 6
    ping = decode("ping_request")
    assert (ping.xid, ping.op, ping.body) == (-2, OpCode.ping, None)
    assert decode("ping_reply") == (R.ReplyHeader(-2, 6, 0), None)
    close = decode("close_session_request")
    assert (close.xid, close.op, close.body) == (2, OpCode.closeSession, None)
    assert decode("close_session_reply") == (R.ReplyHeader(2, 7, 0), None)  # closing logs a txn

"""Golden bytes from real peers: every captured frame decodes to hand-checked values and re-encodes identically.

Fixtures (``golden/jute/*.json``, payload hex without the 4-byte length prefix; see
``golden/jute/README.md``):

* ``kazoo_2_11_0-zookeeper_3_8_0.json``: one whole kazoo 2.11.0 session against
  Debian's ZooKeeper 3.8.0, recorded by a TCP proxy: connect (45/37 bytes, with
  readOnly), create with a two-entry ACL, create2, getData with a watch, setData and
  the NodeDataChanged notification (xid -1, zxid -1 in 3.8; it arrived before the
  setData reply), getChildren2, a multi failing on its 2nd op ([0, -110, -2]),
  auth (xid -4), exists on a missing node (-101), delete, two pings (xid -2) and
  closeSession.
* ``raw_socket-zookeeper_3_8_0.json``: hand-built client frames against the same
  server: a 44-byte ConnectRequest without readOnly (the server answered 36 bytes),
  whoAmI, and an unknown opcode (err -6, zxid -1).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from wire.zk import protocol as P
from wire.zk import records as R

GOLDEN = Path(__file__).parent / "golden" / "jute"
KAZOO = "kazoo_2_11_0-zookeeper_3_8_0"
RAW = "raw_socket-zookeeper_3_8_0"


def load(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def frames(name: str) -> list[dict[str, Any]]:
    return load(name)["frames"]  # type: ignore[no-any-return]


# --- the values, checked by hand against the capture ------------------------------------------------

OPEN = [R.ACL(31, R.Id("world", "anyone"))]
ALICE_DIGEST = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="  # opcodes.md §6 gives the same for password "secret"
SESSION = 0x0100002DF4240000  # 72057791407456256
PASSWD = bytes.fromhex("9e7ffe29d37b41feac16a6dfd4774816")
T_GOLDEN = 1796062401259  # ctime of /golden, wall-clock ms
T_CHILD = 1796062401488  # ctime of /golden/child
T_SET = 1796062401913  # mtime of /golden after setData
# Stat(czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, dataLength, numChildren, pzxid)
STAT_CHILD = R.Stat(3, 3, T_CHILD, T_CHILD, 0, 0, 0, 0, 1, 0, 3)
STAT_GOLDEN = R.Stat(2, 2, T_GOLDEN, T_GOLDEN, 0, 1, 0, 0, 5, 1, 3)
STAT_GOLDEN_SET = R.Stat(2, 4, T_GOLDEN, T_SET, 1, 1, 0, 0, 5, 1, 3)

H = R.ReplyHeader

KAZOO_EXPECTED: dict[int, Any] = {
    0: R.ConnectRequest(0, 0, 6000, 0, bytes(16), False),
    1: R.ConnectResponse(0, 6000, SESSION, PASSWD, False),
    2: P.Request(1, P.OpCode.create, R.CreateRequest(
        "/golden", b"hello", [R.ACL(31, R.Id("world", "anyone")), R.ACL(31, R.Id("digest", ALICE_DIGEST))], 0)),
    3: (H(1, 2, 0), R.CreateResponse("/golden")),
    4: P.Request(2, P.OpCode.create2, R.CreateRequest("/golden/child", b"x", OPEN, 0)),
    5: (H(2, 3, 0), R.Create2Response("/golden/child", STAT_CHILD)),
    6: P.Request(3, P.OpCode.getData, R.GetDataRequest("/golden", True)),
    7: (H(3, 3, 0), R.GetDataResponse(b"hello", STAT_GOLDEN)),
    8: P.Request(4, P.OpCode.setData, R.SetDataRequest("/golden", b"world", -1)),
    9: (H(-1, -1, 0), R.WatcherEvent(P.EventType.NodeDataChanged, P.KeeperState.SyncConnected, "/golden")),
    10: (H(4, 4, 0), R.SetDataResponse(STAT_GOLDEN_SET)),
    11: P.Request(5, P.OpCode.getChildren2, R.GetChildren2Request("/golden", False)),
    12: (H(5, 4, 0), R.GetChildren2Response(["child"], STAT_GOLDEN_SET)),
    13: P.Request(6, P.OpCode.multi, [P.MultiOp(P.OpCode.create, R.CreateRequest("/golden/t1", b"one", OPEN, 0)),
                                      P.MultiOp(P.OpCode.create, R.CreateRequest("/golden/child", b"dup", OPEN, 0)),
                                      P.MultiOp(P.OpCode.delete, R.DeleteRequest("/golden/nope", -1))]),
    14: (H(6, 5, 0), [(-1, 0, R.ErrorResponse(0)), (-1, -110, R.ErrorResponse(-110)), (-1, -2, R.ErrorResponse(-2))]),
    15: P.Request(-4, P.OpCode.auth, R.AuthPacket(0, "digest", b"alice:secret")),
    16: (H(-4, 0, 0), None),
    17: P.Request(7, P.OpCode.exists, R.ExistsRequest("/missing", False)),
    18: (H(7, 5, -101), None),
    19: P.Request(8, P.OpCode.delete, R.DeleteRequest("/golden/child", -1)),
    20: (H(8, 6, 0), None),
    21: P.Request(-2, P.OpCode.ping, None),
    22: (H(-2, 6, 0), None),
    23: P.Request(-2, P.OpCode.ping, None),
    24: (H(-2, 6, 0), None),
    25: P.Request(9, P.OpCode.closeSession, None),
    26: (H(9, 7, 0), None),
}

RAW_EXPECTED: dict[int, Any] = {
    0: R.ConnectRequest(0, 0, 10000, 0, bytes(16), None),
    1: R.ConnectResponse(0, 10000, 0x0100002EB4AA0000, bytes.fromhex("44bc93e281725187c2727adf3271b7c6"), None),
    2: P.Request(1, P.OpCode.whoAmI, None),
    3: (H(1, 1, 0), R.WhoAmIResponse([R.ClientInfo("ip", "127.0.0.1")])),
    4: P.UnknownOpcodeError(2, 999),
    5: (H(2, -1, P.Code.UNIMPLEMENTED), None),
}

EXPECTED = {KAZOO: KAZOO_EXPECTED, RAW: RAW_EXPECTED}
CASES = [(name, f["seq"]) for name in EXPECTED for f in frames(name)]


def _frame(name: str, seq: int) -> dict[str, Any]:
    (f,) = [f for f in frames(name) if f["seq"] == seq]
    return f


def test_fixtures_are_complete_and_annotated() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(EXPECTED)
    for name, expected in EXPECTED.items():
        meta = load(name)
        assert "3.8.0" in meta["server"] and "without the 4-byte length prefix" in meta["payload"]
        assert [f["seq"] for f in meta["frames"]] == sorted(expected)
        for f in meta["frames"]:
            assert f["dir"] in ("c2s", "s2c") and f["note"] and f["op"]
    assert "kazoo 2.11.0" in load(KAZOO)["client"]


# --- decode, compare, re-encode ---------------------------------------------------------------------

def _reencode_request(req: P.Request) -> bytes:
    return P.encode_request(req.xid, req.op, req.body)


@pytest.mark.parametrize(("name", "seq"), CASES, ids=[f"{n.split('-')[0]}-{s}" for n, s in CASES])
def test_frame(name: str, seq: int) -> None:
    f = _frame(name, seq)
    payload = bytes.fromhex(f["hex"])
    expected = EXPECTED[name][seq]
    if f["op"] == "connect":
        if f["dir"] == "c2s":
            got: Any = P.decode_connect_request(payload)
        else:
            got = P.decode_connect_response(payload)
        assert got == expected
        assert got.encode() == payload
    elif f["dir"] == "c2s":
        if isinstance(expected, P.UnknownOpcodeError):
            with pytest.raises(P.UnknownOpcodeError) as info:
                P.decode_request(payload)
            assert (info.value.xid, info.value.opcode) == (expected.xid, expected.opcode)
            assert P.encode_request(expected.xid, expected.opcode) == payload
            return
        req = P.decode_request(payload)
        assert req == expected
        assert req.op == f["opcode"]
        assert _reencode_request(req) == payload
    else:
        header, body = P.decode_reply(payload, f["opcode"])
        assert (header, body) == expected
        if header.xid == P.Xid.NOTIFICATION:
            assert isinstance(body, R.WatcherEvent) and body.path is not None
            assert P.encode_notification(body.type, body.path, header.zxid, body.state) == payload
        assert P.encode_reply(header.xid, header.zxid, header.err, body) == payload


# --- facts the capture shows ------------------------------------------------------------------------

def test_handshake_lengths() -> None:
    """kazoo sends readOnly (45 bytes, 37 back); without it the server leaves it out too (44, 36)."""
    assert [len(bytes.fromhex(_frame(KAZOO, s)["hex"])) for s in (0, 1)] == [45, 37]
    assert [len(bytes.fromhex(_frame(RAW, s)["hex"])) for s in (0, 1)] == [44, 36]
    for name in EXPECTED:
        resp = P.decode_connect_response(bytes.fromhex(_frame(name, 1)["hex"]))
        assert resp.passwd is not None and len(resp.passwd) == 16


def test_digest_acl_id_is_sha1_base64() -> None:
    digest = base64.b64encode(hashlib.sha1(b"alice:secret").digest()).decode()
    assert ALICE_DIGEST == f"alice:{digest}"


def test_zxid_accounting() -> None:
    """Writes take the next zxid (a failed multi too); reads, pings and auth carry the last (auth: 0)."""
    replies = [(f["op"], P.decode_reply(bytes.fromhex(f["hex"]), f["opcode"])[0])
               for f in frames(KAZOO) if f["dir"] == "s2c" and f["op"] != "connect"]
    zxids = [(op, h.zxid) for op, h in replies]
    assert zxids == [("create", 2), ("create2", 3), ("getData", 3), ("notification", -1), ("setData", 4),
                     ("getChildren2", 4), ("multi", 5), ("auth", 0), ("exists", 5), ("delete", 6),
                     ("ping", 6), ("ping", 6), ("closeSession", 7)]


def test_replies_echo_the_request_xids_in_order() -> None:
    sent = [P.decode_request(bytes.fromhex(f["hex"])).xid for f in frames(KAZOO) if f["dir"] == "c2s" and f["seq"]]
    got = [P.decode_reply(bytes.fromhex(f["hex"]), f["opcode"])[0].xid
           for f in frames(KAZOO) if f["dir"] == "s2c" and f["seq"] > 1 and f["op"] != "notification"]
    assert sent == got == [1, 2, 3, 4, 5, 6, -4, 7, 8, -2, -2, 9]


def test_the_watch_fired_before_the_setdata_reply() -> None:
    order = [(f["seq"], f["op"]) for f in frames(KAZOO) if f["seq"] in (8, 9, 10)]
    assert order == [(8, "setData"), (9, "notification"), (10, "setData")]
    assert _frame(KAZOO, 9)["hex"].startswith("ffffffff" "ffffffffffffffff" "00000000")  # xid -1, zxid -1, err 0


def test_multi_failed_on_its_second_op() -> None:
    _, results = P.decode_reply(bytes.fromhex(_frame(KAZOO, 14)["hex"]), P.OpCode.multi)
    assert isinstance(results, list)
    assert [(res.type, res.err) for res in results] == [
        (-1, 0), (-1, P.Code.NODEEXISTS), (-1, P.Code.RUNTIMEINCONSISTENCY)]

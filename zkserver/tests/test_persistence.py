"""Durability: every acknowledged write survives a crash; a torn last record is dropped; snapshots + log replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from wire.zk import records as R
from wire.zk.protocol import OpCode
from zkserver.config import ZkConfig
from zkserver.core import Client, ZkCore
from zkserver.persistence import CorruptLogError, DataDir

OPEN = [R.ACL(31, R.Id("world", "anyone"))]


def open_core(path: Path, snap_count: int = 100_000) -> ZkCore:
    return ZkCore(ZkConfig(tick_time_ms=100, snap_count=snap_count), 0, 5_000_000, DataDir(path, force_sync=True))


def session(core: ZkCore, cid: int = 1) -> tuple[Client, int, bytes]:
    client = Client(cid, "127.0.0.1")
    core.add_client(client)
    out = core.connect(client, R.ConnectRequest(0, 0, 30000, 0, b"\0" * 16, False), 0)
    return client, out.reply.body.session_id, out.reply.body.passwd


def write_some(core: ZkCore, client: Client) -> None:
    ops = [
        (OpCode.create, R.CreateRequest("/a", b"1", OPEN, 0)),
        (OpCode.create, R.CreateRequest("/a/seq-", b"", OPEN, 2)),
        (OpCode.create, R.CreateRequest("/a/eph", b"e", OPEN, 1)),
        (OpCode.setData, R.SetDataRequest("/a", b"2", 0)),
        (OpCode.create, R.CreateRequest("/a", b"dup", OPEN, 0)),  # fails, still a txn
        (OpCode.multi, [(OpCode.create, R.CreateRequest("/m", b"", OPEN, 0)),
                        (OpCode.setACL, R.SetACLRequest("/m", [R.ACL(1, R.Id("world", "anyone"))], 0))]),
    ]
    for xid, (op, body) in enumerate(ops, 1):
        core.handle(client, xid, op, body, 10)


def state(core: ZkCore) -> dict[str, tuple[bytes | None, R.Stat, list[object]]]:
    return {p: (n.data, n.stat(), list(n.acl)) for p, n in core.tree.nodes.items()}


def test_crash_recovery_replays_every_acknowledged_write(tmp_path: Path) -> None:
    core = open_core(tmp_path)
    client, sid, passwd = session(core)
    write_some(core, client)
    before, zxid = state(core), core.zxid
    # a crash: no close(); the last record is half written
    log = sorted((tmp_path / "version-2").glob("log.*"))[-1]
    with open(log, "ab") as f:
        f.write(b"\x00\x00\x01\x00\xde\xad")
    recovered = open_core(tmp_path)
    assert state(recovered) == before
    assert recovered.zxid == zxid
    assert recovered.tree.need("/a/eph").stat().ephemeral_owner == sid
    resumed = Client(9, "127.0.0.1")
    recovered.add_client(resumed)
    out = recovered.connect(resumed, R.ConnectRequest(0, zxid, 30000, sid, passwd, False), 0)
    assert out.reply.body.session_id == sid  # the session survived the restart
    # the torn tail was cut, so new writes append cleanly and survive another restart
    recovered.handle(resumed, 1, OpCode.create, R.CreateRequest("/after", b"", OPEN, 0), 20)
    again = open_core(tmp_path)
    assert again.tree.get("/after") is not None and again.zxid == zxid + 1


def test_snapshot_then_log(tmp_path: Path) -> None:
    core = open_core(tmp_path, snap_count=4)
    client, _, _ = session(core)
    write_some(core, client)
    assert list((tmp_path / "version-2").glob("snapshot.*"))
    core.handle(client, 50, OpCode.delete, R.DeleteRequest("/m", -1), 30)
    before, zxid = state(core), core.zxid
    core.close()
    recovered = open_core(tmp_path, snap_count=4)
    assert state(recovered) == before and recovered.zxid == zxid


def test_damage_before_the_last_log_refuses_to_start(tmp_path: Path) -> None:
    core = open_core(tmp_path, snap_count=3)
    client, _, _ = session(core)
    write_some(core, client)
    core.close()
    logs = sorted((tmp_path / "version-2").glob("log.*"))
    assert len(logs) >= 2
    data = bytearray(logs[0].read_bytes())
    data[10] ^= 0xFF
    logs[0].write_bytes(bytes(data))
    for snap in (tmp_path / "version-2").glob("snapshot.*"):
        snap.unlink()
    with pytest.raises(CorruptLogError):
        open_core(tmp_path, snap_count=3)


def test_expired_session_closed_while_down_is_not_resurrected(tmp_path: Path) -> None:
    core = open_core(tmp_path)
    client, sid, _ = session(core)
    core.handle(client, 1, OpCode.create, R.CreateRequest("/e", b"", OPEN, 1), 0)
    core.handle(client, 2, OpCode.closeSession, None, 0)
    recovered = open_core(tmp_path)
    assert recovered.tree.get("/e") is None and recovered.sessions.get(sid) is None

"""ZkCore without sockets: zxid accounting, sessions and expiry with time passed in, multi, watches, reaping."""

from __future__ import annotations

from typing import Any

import pytest

from wire.zk import records as R
from wire.zk.protocol import Code, EventType, OpCode
from zkserver.config import ZkConfig
from zkserver.core import Client, Outcome, ZkCore

OPEN = [R.ACL(31, R.Id("world", "anyone"))]


class Harness:
    def __init__(self, **cfg: Any) -> None:
        cfg.setdefault("tick_time_ms", 100)
        self.core = ZkCore(ZkConfig(**cfg), now_ms=0, wall_ms=1_000_000)
        self.now = 0
        self.next_client = 1
        self.xid = 0

    def connect(self, timeout: int = 1000, session_id: int = 0, passwd: bytes = b"\0" * 16) -> tuple[Client, Outcome]:
        client = Client(self.next_client, "127.0.0.1")
        self.next_client += 1
        self.core.add_client(client)
        out = self.core.connect(client, R.ConnectRequest(0, 0, timeout, session_id, passwd, False), self.now)
        return client, out

    def req(self, client: Client, op: int, body: Any = None) -> Outcome:
        self.xid += 1
        return self.core.handle(client, self.xid, op, body, self.now)

    def create(self, client: Client, path: str, flags: int = 0, data: bytes = b"") -> Outcome:
        return self.req(client, OpCode.create, R.CreateRequest(path, data, OPEN, flags))


def test_zxid_accounting() -> None:
    h = Harness()
    c, out = h.connect()
    assert h.core.zxid == 1  # createSession is a txn
    assert h.create(c, "/a").reply.zxid == 2
    failed = h.create(c, "/a")
    assert (failed.reply.err, failed.reply.zxid) == (Code.NODEEXISTS, 3)  # failed writes consume a zxid
    read = h.req(c, OpCode.getData, R.GetDataRequest("/missing", False))
    assert (read.reply.err, read.reply.zxid) == (Code.NONODE, 3)  # reads do not
    assert h.req(c, OpCode.ping).reply.zxid == 3
    close = h.req(c, OpCode.closeSession)
    assert close.reply.zxid == 4 and close.close_this


def test_timeout_is_clamped_and_refusals_are_zeroed() -> None:
    h = Harness(tick_time_ms=2000)
    for asked, granted in [(1, 4000), (0, 4000), (-5, 4000), (100000, 40000), (10000, 10000)]:
        _, out = h.connect(timeout=asked)
        assert out.reply.body.time_out == granted
    _, bad = h.connect(session_id=12345)
    assert bad.close_this
    assert (bad.reply.body.time_out, bad.reply.body.session_id, bad.reply.body.passwd) == (0, 0, b"\0" * 16)


def test_resume_closes_the_old_connection_and_keeps_ephemerals() -> None:
    h = Harness()
    c1, out = h.connect()
    sid, pw = out.reply.body.session_id, out.reply.body.passwd
    h.create(c1, "/e", flags=1)
    c2, resumed = h.connect(session_id=sid, passwd=pw)
    assert resumed.reply.body.session_id == sid
    assert resumed.close_clients == [c1.id]
    assert h.core.tree.need("/e").stat().ephemeral_owner == sid
    _, wrong = h.connect(session_id=sid, passwd=b"x" * 16)
    assert wrong.reply.body.session_id == 0


def test_session_expires_between_timeout_and_timeout_plus_tick() -> None:
    h = Harness(tick_time_ms=100)
    owner, out = h.connect(timeout=1000)
    watcher, _ = h.connect()
    sid = out.reply.body.session_id
    h.create(owner, "/e", flags=1)
    h.req(watcher, OpCode.exists, R.ExistsRequest("/e", True))
    deadline = h.core.next_deadline()
    assert deadline is not None and 1000 <= deadline <= 1100
    assert not h.core.tick(deadline - 1).notifications
    # keep the watcher alive; the owner goes silent
    h.now = 900
    h.req(watcher, OpCode.ping)
    tick = h.core.tick(1100)
    assert tick.close_clients == [owner.id]
    assert [(n.client_id, n.type, n.path) for n in tick.notifications] == [(watcher.id, EventType.NodeDeleted, "/e")]
    assert tick.notifications[0].zxid == h.core.zxid  # 3.9: the closeSession txn's zxid
    assert h.core.tree.get("/e") is None and h.core.sessions.get(sid) is None


def test_multi_is_atomic_with_per_op_results() -> None:
    h = Harness()
    c, _ = h.connect()
    h.create(c, "/exists")
    before = h.core.zxid
    ops = [(OpCode.create, R.CreateRequest("/new", b"", OPEN, 0)),
           (OpCode.create, R.CreateRequest("/exists", b"", OPEN, 0)),
           (OpCode.delete, R.DeleteRequest("/exists", -1))]
    out = h.req(c, OpCode.multi, ops)
    assert out.reply.err == 0
    assert [(t, e) for t, e, _ in out.reply.body] == [(-1, 0), (-1, Code.NODEEXISTS), (-1, Code.RUNTIMEINCONSISTENCY)]
    assert h.core.tree.get("/new") is None
    assert h.core.zxid == before + 1
    good = h.req(c, OpCode.multi, [(OpCode.create2, R.CreateRequest("/n2", b"x", OPEN, 0)),
                                   (OpCode.setData, R.SetDataRequest("/n2", b"y", 0)),
                                   (OpCode.check, R.CheckVersionRequest("/n2", 1))])
    types = [t for t, _, _ in good.reply.body]
    assert types == [OpCode.create2, OpCode.setData, OpCode.check]
    assert good.reply.body[0][2].stat.czxid == good.reply.zxid  # one zxid for the whole multi
    mixed = h.req(c, OpCode.multi, [(OpCode.create, R.CreateRequest("/m", b"", OPEN, 0)),
                                    (OpCode.getData, R.GetDataRequest("/n2", False))])
    assert mixed.reply.err == Code.MARSHALLINGERROR



def test_a_multi_failing_part_way_fires_no_watch_and_leaves_them_set() -> None:
    """Ops before the failing one were applied to the tree and rolled back: the watches they would have fired
    must still be set (ZooKeeper fires watches only when a multi commits), and fire on the next real change."""
    h = Harness()
    writer, _ = h.connect()
    watcher, _ = h.connect()
    for path in ("/s0", "/s1", "/s2"):
        h.create(writer, path)
        h.req(watcher, OpCode.getData, R.GetDataRequest(path, True))
    h.req(watcher, OpCode.exists, R.ExistsRequest("/fresh", True))
    h.req(watcher, OpCode.getChildren, R.GetChildrenRequest("/", True))
    failed = h.req(writer, OpCode.multi, [(OpCode.setData, R.SetDataRequest("/s0", b"a", 0)),
                                          (OpCode.create, R.CreateRequest("/fresh", b"", OPEN, 0)),
                                          (OpCode.setData, R.SetDataRequest("/s1", b"a", 0)),
                                          (OpCode.setData, R.SetDataRequest("/s2", b"a", 5))])  # BadVersion
    assert [e for _, e, _ in failed.reply.body] == [0, 0, 0, Code.BADVERSION]
    assert failed.notifications == []
    committed = h.req(writer, OpCode.multi, [(OpCode.setData, R.SetDataRequest(p, b"b", 0))
                                             for p in ("/s0", "/s1", "/s2")]
                      + [(OpCode.create, R.CreateRequest("/fresh", b"", OPEN, 0))])
    assert [(n.client_id, n.type, n.path, n.zxid) for n in committed.notifications] == [
        (watcher.id, EventType.NodeDataChanged, "/s0", committed.reply.zxid),
        (watcher.id, EventType.NodeDataChanged, "/s1", committed.reply.zxid),
        (watcher.id, EventType.NodeDataChanged, "/s2", committed.reply.zxid),
        (watcher.id, EventType.NodeCreated, "/fresh", committed.reply.zxid),
        (watcher.id, EventType.NodeChildrenChanged, "/", committed.reply.zxid)]

def test_set_watches_fires_what_changed_and_rearms_the_rest() -> None:
    h = Harness()
    c, _ = h.connect()
    h.create(c, "/a")
    h.create(c, "/b")
    rel = h.core.zxid
    h.req(c, OpCode.setData, R.SetDataRequest("/a", b"changed", -1))
    out = h.req(c, OpCode.setWatches, R.SetWatches(rel, ["/a", "/b", "/gone"], ["/b", "/none"], ["/b"]))
    events = sorted((n.type, n.path, n.zxid) for n in out.notifications)
    assert events == [(EventType.NodeCreated, "/b", -1), (EventType.NodeDeleted, "/gone", -1),
                      (EventType.NodeDataChanged, "/a", -1)]
    assert h.core.watches.data.contains("/b", c.id, None)
    assert h.core.watches.data.contains("/none", c.id, None)
    assert h.core.watches.child.contains("/b", c.id, None)


def test_watch_events_are_filtered_by_read_permission() -> None:
    h = Harness()
    owner, _ = h.connect()
    other, _ = h.connect()
    h.req(other, OpCode.addWatch, R.AddWatchRequest("/", 1))
    h.req(owner, OpCode.auth, R.AuthPacket(0, "digest", b"alice:secret"))
    secret = [R.ACL(31, R.Id("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="))]
    out = h.req(owner, OpCode.create, R.CreateRequest("/private", b"", secret, 0))
    assert out.reply.err == 0
    assert not [n for n in out.notifications if n.client_id == other.id]
    public = h.create(owner, "/public")
    assert [n.path for n in public.notifications if n.client_id == other.id] == ["/public"]


def test_containers_and_ttl_nodes_are_reaped() -> None:
    h = Harness(container_check_interval_ms=500, extended_types_enabled=True)
    c, _ = h.connect(timeout=100000)
    h.req(c, OpCode.createContainer, R.CreateRequest("/box", b"", OPEN, 4))
    h.create(c, "/box/item")
    h.req(c, OpCode.delete, R.DeleteRequest("/box/item", -1))
    assert h.req(c, OpCode.createTTL, R.CreateTTLRequest("/ttl", b"", OPEN, 5, 1000)).reply.err == 0
    assert h.core.tree.need("/ttl").stat().ephemeral_owner == 0
    assert h.core.next_deadline() == 500
    h.core.tick(500)
    assert h.core.tree.get("/box") is None  # emptied container: reaped at the first check
    assert h.core.tree.get("/ttl") is not None  # 500 ms old, TTL 1000 ms
    assert h.core.next_deadline() == 1000
    h.core.tick(1000)
    assert h.core.tree.get("/ttl") is None


@pytest.mark.parametrize(("flags", "ttl", "op", "code"), [
    (7, -1, OpCode.create, Code.BADARGUMENTS),
    (5, -1, OpCode.create, Code.BADARGUMENTS),
    (5, 100, OpCode.createTTL, Code.UNIMPLEMENTED),  # extended types disabled
    (0, 100, OpCode.createTTL, Code.BADARGUMENTS),
])
def test_create_mode_errors(flags: int, ttl: int, op: int, code: int) -> None:
    h = Harness()
    c, _ = h.connect()
    body = R.CreateTTLRequest("/t", b"", OPEN, flags, ttl) if op == OpCode.createTTL else \
        R.CreateRequest("/t", b"", OPEN, flags)
    assert h.req(c, op, body).reply.err == code


def test_special_nodes_cannot_be_deleted_and_unknown_opcodes_close() -> None:
    h = Harness()
    c, _ = h.connect()
    for path in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        assert h.req(c, OpCode.delete, R.DeleteRequest(path, -1)).reply.err == Code.BADARGUMENTS
    out = h.req(c, 999)
    assert (out.reply.err, out.reply.zxid, out.close_this) == (Code.UNIMPLEMENTED, -1, True)

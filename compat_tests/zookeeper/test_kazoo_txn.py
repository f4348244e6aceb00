"""kazoo transactions (multi) on both targets: results, atomicity, zxids, and the create2-in-multi 3.8/3.9 split."""

from __future__ import annotations

import pytest
from kazoo.exceptions import (
    BadVersionError, NodeExistsError, NoNodeError, NotEmptyError, RolledBackError, RuntimeInconsistency,
)
from kazoo.protocol.serialization import (
    Create2, MultiHeader, Transaction, ZnodeStat, int_struct, read_string, stat_struct,
)
from kazoo.protocol.states import EventType
from kazoo.security import OPEN_ACL_UNSAFE

from compat_tests.zookeeper.conftest import Events


def test_transaction_success(zk_target):
    zk = zk_target.client()
    zk.create("/tx", b"old")
    zk.create("/tx/gone")
    before = zk.last_zxid
    t = zk.transaction()
    t.create("/tx/new", b"n")
    t.create("/tx/seq-", b"", sequence=True)
    t.set_data("/tx", b"new", version=0)
    t.delete("/tx/gone")
    t.check("/tx", 1)  # sees the set_data above: the ops apply in order
    results = t.commit()
    zxid = zk.last_zxid
    assert zxid == before + 1  # one zxid for the whole multi
    assert results[0] == "/tx/new" and results[1] == "/tx/seq-0000000002"
    assert isinstance(results[2], ZnodeStat) and results[2].version == 1 and results[2].mzxid == zxid
    assert results[3:] == [True, True]
    stat = zk.exists("/tx/new")
    assert stat.czxid == stat.mzxid == zxid
    parent = zk.exists("/tx")
    assert (parent.pzxid, parent.cversion, parent.numChildren, parent.version) == (zxid, 4, 2, 1)


def test_transaction_failure_is_atomic(zk_target):
    zk = zk_target.client()
    zk.create("/ta", b"v")
    before = zk.last_zxid
    t = zk.transaction()
    t.create("/ta/one")
    t.set_data("/ta", b"x", version=7)  # fails: BadVersion
    t.delete("/ta")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, BadVersionError, RuntimeInconsistency]
    assert zk.last_zxid == before + 1  # the failed multi is still one (error) txn
    assert zk.exists("/ta/one") is None
    data, stat = zk.get("/ta")
    assert data == b"v" and stat.version == 0 and stat.cversion == 0 and stat.pzxid == before


@pytest.mark.parametrize(("build", "errors"), [
    (lambda t: (t.create("/tb/a"), t.create("/tb/a")), [RolledBackError, NodeExistsError]),
    (lambda t: (t.create("/tb/a"), t.delete("/missing"), t.create("/tb/b")),
     [RolledBackError, NoNodeError, RuntimeInconsistency]),
    (lambda t: (t.check("/tb", 5), t.create("/tb/a")), [BadVersionError, RuntimeInconsistency]),
    (lambda t: (t.delete("/tb"),), [NotEmptyError]),
])
def test_transaction_failure_codes(zk_target, build, errors):
    zk = zk_target.client()
    zk.create("/tb/keep", makepath=True)
    t = zk.transaction()
    build(t)
    assert [type(r) for r in t.commit()] == errors
    assert zk.get_children("/tb") == ["keep"]


def test_transaction_sequence_counter_rolls_back(zk_target):
    zk = zk_target.client()
    zk.create("/ts")
    t = zk.transaction()
    t.create("/ts/n-", sequence=True)
    t.create("/ts/n-", sequence=True)
    t.check("/ts", 99)
    assert [type(r) for r in t.commit()] == [RolledBackError, RolledBackError, BadVersionError]
    assert zk.create("/ts/n-", sequence=True) == "/ts/n-0000000000"
    t = zk.transaction()
    t.create("/ts/n-", sequence=True)
    t.create("/ts/n-", sequence=True)
    assert t.commit() == ["/ts/n-0000000001", "/ts/n-0000000002"]


def test_transaction_fires_watches_once_committed(zk_target):
    zk = zk_target.client()
    watcher = zk_target.client()
    zk.create("/tw", b"")
    events = Events()
    watcher.get("/tw", watch=events)
    watcher.get_children("/tw", watch=events)
    t = zk.transaction()
    t.create("/tw/a")
    t.set_data("/tw", b"1")
    t.commit()
    got = events.wait_for(2)
    assert [(e.type, e.path) for e in got] == [(EventType.CHILD, "/tw"), (EventType.CHANGED, "/tw")]
    # a failed multi fires nothing
    fence = Events()
    watcher.get("/tw", watch=events)
    watcher.exists("/tw/fence", watch=fence)
    t = zk.transaction()
    t.set_data("/tw", b"2")
    t.create("/tw/a")
    assert [type(r) for r in t.commit()] == [RolledBackError, NodeExistsError]
    zk.create("/tw/fence")
    fence.wait_for(1)
    assert len(events.items) == 2


def test_empty_transaction(zk_target):
    zk = zk_target.client()
    zk.create("/te")
    assert zk.transaction().commit() == []


class RawMulti(Transaction):
    """A multi whose results keep their wire type: kazoo's own Transaction cannot parse a create2 result."""

    @classmethod
    def deserialize(cls, buf, offset):
        header, offset = MultiHeader.deserialize(buf, offset)
        results = []
        while not header.done:
            if header.type == 1:
                path, offset = read_string(buf, offset)
                results.append((1, path))
            elif header.type == 15:
                path, offset = read_string(buf, offset)
                stat = ZnodeStat._make(stat_struct.unpack_from(buf, offset))
                offset += stat_struct.size
                results.append((15, path, stat))
            elif header.type == -1:
                results.append((-1, int_struct.unpack_from(buf, offset)[0]))
                offset += int_struct.size
            else:
                raise AssertionError(f"unexpected result type {header.type}")
            header, offset = MultiHeader.deserialize(buf, offset)
        return results


def test_create2_inside_multi_result(zk_target):
    """3.8.0 answers a create2 inside multi with a plain create result (no Stat); 3.8.2+/3.9 (ZOOKEEPER-4026,
    and ours) with a create2 result carrying the new node's Stat."""
    zk = zk_target.client()
    zk.create("/tc")
    result = zk.handler.async_result()
    zk._call(RawMulti([Create2(zk.chroot + "/tc/a", b"abc", OPEN_ACL_UNSAFE, 0)]), result)
    results = result.get(timeout=10)
    zxid = zk.last_zxid
    if zk_target.version >= (3, 9):
        assert len(results) == 1
        kind, path, stat = results[0]
        assert (kind, path) == (15, zk.chroot + "/tc/a")
        assert (stat.czxid, stat.mzxid, stat.pzxid, stat.dataLength, stat.version) == (zxid, zxid, zxid, 3, 0)
    else:
        assert results == [(1, zk.chroot + "/tc/a")]


def test_a_failed_multi_consumes_no_watch(zk_target):
    """The ops before the failing one are rolled back, and so is everything they would have fired: the watcher
    hears nothing, and its one-shot watches are still set for the next change that commits."""
    watcher = zk_target.client()
    writer = zk_target.client()
    writer.create("/fw")
    for name in ("a", "b"):
        writer.create(f"/fw/{name}", b"0")
    events = Events()
    for name in ("a", "b"):
        watcher.get(f"/fw/{name}", watch=events)
    watcher.exists("/fw/new", watch=events)
    t = writer.transaction()
    t.set_data("/fw/a", b"1", version=0)
    t.create("/fw/new")
    t.set_data("/fw/b", b"1", version=9)  # BadVersion: the whole multi fails
    assert [type(r) for r in t.commit()] == [RolledBackError, RolledBackError, BadVersionError]
    t = writer.transaction()
    t.set_data("/fw/a", b"2", version=0)
    t.set_data("/fw/b", b"2", version=0)
    t.create("/fw/new")
    assert not any(isinstance(r, Exception) for r in t.commit())
    got = events.wait_for(3)
    assert sorted((e.type, e.path) for e in got) == [
        (EventType.CHANGED, "/fw/a"), (EventType.CHANGED, "/fw/b"), (EventType.CREATED, "/fw/new")]

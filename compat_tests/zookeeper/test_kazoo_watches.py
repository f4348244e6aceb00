"""Watches through kazoo on both targets: one-shot semantics, event types and order, DataWatch/ChildrenWatch."""

from __future__ import annotations

import pytest
from kazoo.protocol.states import EventType, KazooState
from kazoo.recipe.watchers import ChildrenWatch, DataWatch, PatientChildrenWatch

from compat_tests.zookeeper.conftest import WAIT, Events, spy_headers


def _kinds(events):
    return [(e.type, e.path) for e in events]


def test_data_watch_is_one_shot(zk_target):
    zk = zk_target.client()
    writer = zk_target.client()
    zk.create("/w", b"0")
    events = Events()
    zk.get("/w", watch=events)
    writer.set("/w", b"1")
    writer.set("/w", b"2")  # the watch is gone after the first change
    zk.sync("/w")  # the server's replies and events reach this client in order
    writer.create("/fence")
    zk.exists("/fence")
    assert _kinds(events.wait_for(1)) == [(EventType.CHANGED, "/w")]
    marker = Events()
    zk.exists("/w", watch=marker)
    writer.set("/w", b"3")
    marker.wait_for(1)
    assert len(events.items) == 1
    assert events.items[0].state == KazooState.CONNECTED


def test_watches_deduplicate_per_path_and_kind(zk_target):
    zk = zk_target.client(start=False)
    wire = spy_headers(zk)
    zk.start(timeout=WAIT)
    writer = zk_target.client()
    zk.create("/d", b"")
    first, second, third = Events(), Events(), Events()
    zk.get("/d", watch=first)
    zk.exists("/d", watch=second)
    zk.get("/d", watch=third)
    zk.get_children("/d", watch=third)  # a child watch is a different kind: setData does not fire it
    writer.set("/d", b"x")
    for events in (first, second, third):  # kazoo fans the one notification out to every local watcher
        assert _kinds(events.wait_for(1)) == [(EventType.CHANGED, "/d")]
    zk.sync("/")
    # the server kept one data watch for the path: one notification on the wire
    root = zk.chroot
    assert [e for _, _, _, e in wire if e] == [(3, root + "/d")]
    writer.create("/d/kid")  # the child watch is still armed, on the server and in kazoo
    assert _kinds(third.wait_for(2)) == [(EventType.CHANGED, "/d"), (EventType.CHILD, "/d")]
    assert [e for _, _, _, e in wire if e] == [(3, root + "/d"), (4, root + "/d")]


def test_exists_watch_on_missing_node_fires_created(zk_target):
    zk = zk_target.client()
    writer = zk_target.client()
    events = Events()
    assert zk.exists("/later", watch=events) is None
    writer.create("/later", b"v")
    assert _kinds(events.wait_for(1)) == [(EventType.CREATED, "/later")]


def test_node_deleted_versus_children_changed(zk_target):
    zk = zk_target.client(start=False)
    wire = spy_headers(zk)
    zk.start(timeout=WAIT)
    writer = zk_target.client()
    zk.create("/parent/child", makepath=True)
    data_w, child_w, parent_w = Events(), Events(), Events()
    zk.get("/parent/child", watch=data_w)
    zk.get_children("/parent/child", watch=child_w)
    zk.get_children("/parent", watch=parent_w)
    writer.delete("/parent/child")
    assert _kinds(data_w.wait_for(1)) == [(EventType.DELETED, "/parent/child")]
    assert _kinds(child_w.wait_for(1)) == [(EventType.DELETED, "/parent/child")]
    assert _kinds(parent_w.wait_for(1)) == [(EventType.CHILD, "/parent")]
    # on the wire: ONE NodeDeleted for the node although it had a data and a child watch, then
    # NodeChildrenChanged for the parent
    root = zk.chroot
    assert [e for _, _, _, e in wire if e] == [(2, root + "/parent/child"), (4, root + "/parent")]


def test_event_order_matches_write_order(zk_target):
    zk = zk_target.client()
    writer = zk_target.client()
    for name in ("a", "b", "c"):
        zk.create(f"/{name}", b"")
    events = Events()
    for name in ("a", "b", "c"):
        zk.get(f"/{name}", watch=events)
    writer.set("/b", b"1")
    writer.delete("/c")
    writer.set("/a", b"1")
    assert _kinds(events.wait_for(3)) == [(EventType.CHANGED, "/b"), (EventType.DELETED, "/c"),
                                          (EventType.CHANGED, "/a")]


def test_event_precedes_the_writers_own_reply(zk_target):
    # the writer itself watches: on the wire the event comes before the reply of the write that caused it
    zk = zk_target.client(start=False)
    headers = spy_headers(zk)
    zk.start(timeout=WAIT)
    zk.create("/self", b"")
    events = Events()
    zk.get("/self", watch=events)
    del headers[:]
    zk.set("/self", b"x")
    events.wait_for(1)
    write_zxid = zk.last_zxid
    event_zxid = write_zxid if zk_target.version >= (3, 9) else -1
    assert [(xid == -1, zxid, err) for xid, zxid, err, _ in headers] == [(True, event_zxid, 0), (False, write_zxid, 0)]


def test_notification_zxid(zk_target):
    """3.8.0 sends watch notifications with zxid -1; 3.9 (ZOOKEEPER-4655, and ours) sends the write's zxid."""
    zk = zk_target.client(start=False)
    headers = spy_headers(zk)
    zk.start(timeout=WAIT)
    writer = zk_target.client()
    zk.create("/z", b"")
    zk.create("/z/c", b"")
    events = Events()
    zk.get("/z", watch=events)
    zk.get_children("/z", watch=events)
    zk.exists("/z/c", watch=events)
    writer.set("/z", b"1")
    set_zxid = writer.last_zxid
    writer.delete("/z/c")
    delete_zxid = writer.last_zxid
    events.wait_for(3)
    notes = [zxid for xid, zxid, _, _ in headers if xid == -1]
    if zk_target.version >= (3, 9):
        assert notes == [set_zxid, delete_zxid, delete_zxid]
    else:
        assert notes == [-1, -1, -1]
    assert sorted((e.type, e.path) for e in events.items[1:]) == [(EventType.CHILD, "/z"), (EventType.DELETED, "/z/c")]


def test_datawatch_recipe(zk_target):
    zk = zk_target.client()
    writer = zk_target.client()
    calls = Events()

    @zk.DataWatch("/dw")
    def watcher(data, stat, event):
        calls((data, stat.version if stat else None, event.type if event else None))

    assert calls.wait_for(1)[0] == (None, None, None)  # missing node: called at once with None
    # one write at a time: kazoo re-reads after each event, so back-to-back writes could coalesce
    writer.create("/dw", b"a")
    calls.wait_for(2)
    writer.set("/dw", b"b")
    calls.wait_for(3)
    writer.delete("/dw")
    assert calls.wait_for(4) == [(None, None, None), (b"a", 0, EventType.CREATED), (b"b", 1, EventType.CHANGED),
                                 (None, None, EventType.DELETED)]


def test_datawatch_stops_when_told(zk_target):
    zk = zk_target.client()
    zk.create("/stop", b"0")
    calls = Events()

    def watcher(data, stat):
        calls(data)
        return data != b"1"  # returning False stops the watch

    DataWatch(zk, "/stop", watcher)
    calls.wait_for(1)
    zk.set("/stop", b"1")
    assert calls.wait_for(2) == [b"0", b"1"]
    zk.set("/stop", b"2")
    zk.sync("/")
    fence = Events()
    zk.exists("/stop", watch=fence)
    zk.set("/stop", b"3")
    fence.wait_for(1)
    assert calls.items == [b"0", b"1"]


def test_childrenwatch_recipe(zk_target):
    zk = zk_target.client()
    writer = zk_target.client()
    zk.create("/cw")
    calls = Events()
    ChildrenWatch(zk, "/cw", lambda children: calls(sorted(children)))
    assert calls.wait_for(1) == [[]]
    writer.create("/cw/a")
    calls.wait_until(lambda items: items[-1] == ["a"])
    writer.create("/cw/b")
    calls.wait_until(lambda items: items[-1] == ["a", "b"])
    writer.delete("/cw/a")
    got = calls.wait_until(lambda items: items[-1] == ["b"])
    assert got[0] == [] and got[-1] == ["b"]


def test_childrenwatch_send_event_and_parent_delete(zk_target):
    zk = zk_target.client()
    zk.create("/cwe/x", makepath=True)
    calls = Events()
    ChildrenWatch(zk, "/cwe", lambda children, event: calls((sorted(children), event.type if event else None)),
                  send_event=True)
    assert calls.wait_for(1) == [(["x"], None)]
    zk.delete("/cwe/x")
    assert calls.wait_for(2)[1] == ([], EventType.CHILD)
    zk.delete("/cwe")
    # the node itself is gone: kazoo's re-read gets NoNode and the recipe stops without calling again
    fence = Events()
    zk.exists("/cwe", watch=fence)
    zk.create("/cwe")
    zk.create("/cwe/y")
    fence.wait_for(1)
    zk.sync("/")
    assert len(calls.items) == 2


def test_patient_children_watch(zk_target):
    zk = zk_target.client()
    zk.create("/pcw/a", makepath=True)
    watch = PatientChildrenWatch(zk, "/pcw", time_boundary=0.05)
    result = watch.start()
    children, changed = result.get(timeout=WAIT)
    assert children == ["a"]
    zk.create("/pcw/b")
    changed.wait(WAIT)
    assert changed.ready()


@pytest.mark.parametrize("kind", ["data", "child"])
def test_watches_do_not_survive_a_dropped_connection(zk_target, kind):
    """kazoo never sends setWatches: when its connection drops it hands each one-shot watcher a NONE event
    (state CONNECTING) and forgets it (python-zk/kazoo#151); the server drops the old connection's watches."""
    zk = zk_target.client()
    writer = zk_target.client()
    zk.create("/r", b"")
    events = Events()
    if kind == "data":
        zk.get("/r", watch=events)
    else:
        zk.get_children("/r", watch=events)
    states = Events()
    zk.add_listener(states)
    zk_target.drop_connection(zk)
    states.wait_for(2)
    assert states.items == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert [(e.type, e.state, e.path) for e in events.wait_for(1)] == [(EventType.NONE, "CONNECTING", None)]
    if kind == "data":
        writer.set("/r", b"x")
    else:
        writer.create("/r/c")
    fence = Events()
    zk.exists("/r2", watch=fence)
    writer.create("/r2")
    fence.wait_for(1)
    assert len(events.items) == 1

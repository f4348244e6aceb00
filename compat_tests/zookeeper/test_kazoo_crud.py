"""kazoo CRUD against both targets: exact Stats, zxid accounting, errors, sequential/ephemeral/container/TTL nodes."""

from __future__ import annotations

import struct
import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError, BadVersionError, NoChildrenForEphemeralsError, NodeExistsError, NoNodeError,
    NotEmptyError, UnimplementedError,
)
from kazoo.protocol.serialization import Create, Create2, Delete, int_struct, stat_struct, write_buffer, write_string
from kazoo.protocol.states import EventType, ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE

from compat_tests.zookeeper.conftest import Events


def _call(client, request):
    """Send one request through kazoo's own connection (for opcodes kazoo's API does not expose)."""
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=10)


def test_create_get_set_delete_stats(zk_target):
    zk = zk_target.client()
    path, stat = zk.create("/node", b"hello", include_data=True)
    created = zk.last_zxid
    assert path == "/node"
    assert stat.czxid == stat.mzxid == stat.pzxid == created
    assert stat.ctime == stat.mtime and abs(stat.ctime - time.time() * 1000) < 60_000  # wall-clock ms
    assert (stat.version, stat.cversion, stat.aversion, stat.ephemeralOwner, stat.dataLength, stat.numChildren) \
        == (0, 0, 0, 0, 5, 0)

    data, got = zk.get("/node")
    assert data == b"hello"
    assert got == stat
    assert zk.last_zxid == created  # reads do not move the zxid

    new = zk.set("/node", b"hello, world")
    assert zk.last_zxid == created + 1
    assert new.mzxid == created + 1 and new.czxid == created and new.pzxid == created
    assert new.version == 1 and new.dataLength == 12 and new.mtime >= stat.mtime and new.ctime == stat.ctime

    # a failed write still consumes a zxid (it is logged as an error txn)
    with pytest.raises(BadVersionError):
        zk.set("/node", b"x", version=0)
    assert zk.last_zxid == created + 2
    with pytest.raises(NodeExistsError):
        zk.create("/node")
    assert zk.last_zxid == created + 3
    with pytest.raises(NoNodeError):
        zk.delete("/missing")
    assert zk.last_zxid == created + 4
    with pytest.raises(NoNodeError):
        zk.get("/missing")
    assert zk.last_zxid == created + 4  # a failed read does not

    assert zk.exists("/node") == new
    assert zk.exists("/missing") is None
    zk.delete("/node", version=1)
    assert zk.exists("/node") is None


def test_null_data_and_empty_data(zk_target):
    zk = zk_target.client()
    zk.create("/null", None)
    data, stat = zk.get("/null")
    assert data is None and stat.dataLength == 0  # null data comes back as a -1-length buffer
    zk.create("/empty", b"")
    assert zk.get("/empty")[1].dataLength == 0


def test_children_and_parent_stat(zk_target):
    zk = zk_target.client()
    zk.create("/p")
    base = zk.last_zxid
    for name in ("a", "b", "c"):
        zk.create(f"/p/{name}", name.encode())
    assert sorted(zk.get_children("/p")) == ["a", "b", "c"]
    children, stat = zk.get_children("/p", include_data=True)
    assert sorted(children) == ["a", "b", "c"]
    assert (stat.cversion, stat.numChildren, stat.pzxid, stat.mzxid, stat.version) == (3, 3, base + 3, base, 0)
    zk.delete("/p/b")
    stat = zk.exists("/p")
    assert (stat.cversion, stat.numChildren, stat.pzxid) == (4, 2, base + 4)
    with pytest.raises(NotEmptyError):
        zk.delete("/p")
    zk.delete("/p", recursive=True)
    assert zk.exists("/p") is None
    with pytest.raises(NoNodeError):
        zk.get_children("/p")


def test_ensure_path_and_makepath(zk_target):
    zk = zk_target.client()
    zk.ensure_path("/a/b/c")
    assert zk.exists("/a/b/c") is not None
    assert zk.create("/x/y/z", b"v", makepath=True) == "/x/y/z"
    assert zk.get("/x/y/z")[0] == b"v"
    with pytest.raises(NoNodeError):
        zk.create("/nope/child")


def test_bad_paths_and_arguments(zk_target):
    # kazoo normalises "//", "." and ".." away client-side, so the raw records go through its connection
    zk = zk_target.client()
    zk.create("/ok")
    root = zk.chroot
    for bad, error in (("/ok/", BadArgumentsError), ("/ok/.", BadArgumentsError), ("/ok/..", BadArgumentsError),
                       ("/ok/\u0001", BadArgumentsError), ("ok", BadArgumentsError),
                       ("/ok//x", NoNodeError)):  # the parent lookup of "/ok/" fails before validation
        with pytest.raises(error):
            _call(zk, Create(root + bad if bad.startswith("/") else bad, b"", OPEN_ACL_UNSAFE, 0))
    for special in ("/", "/zookeeper"):  # absolute paths: raw records are not chrooted
        with pytest.raises(BadArgumentsError):
            _call(zk, Delete(special, -1))
    with pytest.raises(BadArgumentsError):  # create flags 7 do not exist
        _call(zk, Create(root + "/ok/f", b"", OPEN_ACL_UNSAFE, 7))


def test_sequential_suffix_is_the_stored_counter_not_cversion(zk_target):
    zk = zk_target.client()
    zk.create("/seq")
    assert zk.create("/seq/n-", sequence=True) == "/seq/n-0000000000"
    assert zk.create("/seq/n-", sequence=True) == "/seq/n-0000000001"
    for name in zk.get_children("/seq"):
        zk.delete(f"/seq/{name}")
    for _ in range(3):  # three create + delete pairs
        zk.create("/seq/tmp")
        zk.delete("/seq/tmp")
    stat = zk.exists("/seq")
    # 5 creates and 5 deletes: cversion counts both, the stored counter only creates
    assert (stat.cversion, stat.numChildren) == (10, 0)
    assert zk.create("/seq/n-", sequence=True) == "/seq/n-0000000005"
    # failed creates do not advance the counter
    with pytest.raises(NodeExistsError):
        zk.create("/seq/n-0000000005")
    assert zk.create("/seq/", sequence=True) == "/seq/0000000006"  # "parent/" is allowed with SEQUENTIAL
    assert zk.exists("/seq").cversion == 12


def test_ephemeral_owner_and_lifetime(zk_target):
    owner = zk_target.client()
    other = zk_target.client()
    path, stat = owner.create("/eph", b"e", ephemeral=True, include_data=True)
    sid = owner.client_id[0]
    assert stat.ephemeralOwner == sid and sid >> 56 == 1  # standalone server id 1 in the top byte
    assert other.exists("/eph").ephemeralOwner == sid
    with pytest.raises(NoChildrenForEphemeralsError):
        owner.create("/eph/child")
    seq = owner.create("/eph-seq-", ephemeral=True, sequence=True)
    assert other.exists(seq).ephemeralOwner == sid

    events = Events()
    other.exists("/eph", watch=events)
    other.get_children("/", watch=events)
    owner.stop()
    got = events.wait_for(2)
    assert sorted((e.type, e.path) for e in got) == [(EventType.CHILD, "/"), (EventType.DELETED, "/eph")]
    assert other.exists("/eph") is None and other.exists(seq) is None


class CreateContainer(Create2):
    """createContainer (opcode 19): kazoo 2.11's create() has no container flag; same record as create2."""

    type = 19


def _create_container(zk, path, opcode=CreateContainer):
    return _call(zk, opcode(zk.chroot + path, b"", OPEN_ACL_UNSAFE, 4))


def _reap_one_container(zk, path):
    """Create a container with a child, delete the child, and wait for the server to reap the container."""
    _create_container(zk, path)
    zk.create(f"{path}/x")
    gone = Events()
    assert zk.exists(path, watch=gone) is not None
    zk.delete(f"{path}/x")
    got = gone.wait_for(1)  # the container manager deletes it within a check interval
    assert (got[0].type, got[0].path) == (EventType.DELETED, path)
    assert zk.exists(path) is None


def test_container_is_reaped_after_its_last_child_goes(zk_target):
    zk = zk_target.client()
    path, stat = _create_container(zk, "/box")
    assert zk.unchroot(path) == "/box"
    assert stat.ephemeralOwner == 0  # the server's container sentinel is not shown
    assert (stat.version, stat.cversion, stat.numChildren) == (0, 0, 0)
    zk.create("/box/item")
    deleted = Events()
    children = Events()
    assert zk.exists("/box", watch=deleted) is not None
    zk.get_children("/box", watch=children)
    zk.delete("/box/item")
    assert [(e.type, e.path) for e in children.wait_for(1)] == [(EventType.CHILD, "/box")]
    got = deleted.wait_for(1)
    assert [(e.type, e.path) for e in got] == [(EventType.DELETED, "/box")]
    assert zk.exists("/box") is None
    with pytest.raises(NoNodeError):  # clients must expect NoNode when creating under a container
        zk.create("/box/late")


def test_container_that_never_had_children_stays(zk_target):
    zk = zk_target.client()
    _create_container(zk, "/empty-box")
    # once a later-emptied container has been reaped, at least one full check has looked at /empty-box
    _reap_one_container(zk, "/other")
    assert zk.exists("/empty-box") is not None


def test_container_flag_on_plain_create_makes_a_persistent_node(zk_target):
    # create/create2 accept flag 4, but the server logs a plain CreateTxn: the node is no container
    zk = zk_target.client()
    path, stat = _create_container(zk, "/not-a-box", opcode=Create2)
    assert zk.unchroot(path) == "/not-a-box" and stat.ephemeralOwner == 0
    assert zk.unchroot(_call(zk, Create(zk.chroot + "/not-a-box2", b"", OPEN_ACL_UNSAFE, 4))) == "/not-a-box2"
    for name in ("/not-a-box", "/not-a-box2"):
        zk.create(f"{name}/child")
        zk.delete(f"{name}/child")
    _reap_one_container(zk, "/real-box")
    assert zk.exists("/not-a-box") is not None and zk.exists("/not-a-box2") is not None


class CreateTTL(Create2):
    """createTTL (opcode 21): kazoo 2.11 has no TTL support, so this is the CreateTTLRequest record."""

    type = 21

    def __new__(cls, path, data, acl, flags, ttl):
        self = super().__new__(cls, path, data, acl, flags)
        self.ttl = ttl
        return self

    def serialize(self):
        b = bytearray()
        b.extend(write_string(self.path))
        b.extend(write_buffer(self.data))
        b.extend(int_struct.pack(len(self.acl)))
        for acl in self.acl:
            b.extend(int_struct.pack(acl.perms) + write_string(acl.id.scheme) + write_string(acl.id.id))
        b.extend(int_struct.pack(self.flags))
        b.extend(struct.pack(">q", self.ttl))
        return b


def test_ttl_node(zk_target):
    zk = zk_target.client()
    prefix = zk.chroot
    path, stat = _call(zk, CreateTTL(prefix + "/ttl", b"t", OPEN_ACL_UNSAFE, 5, 300))
    assert zk.unchroot(path) == "/ttl" and stat.ephemeralOwner == 0 and stat.dataLength == 1
    path, _ = _call(zk, CreateTTL(prefix + "/ttls-", b"", OPEN_ACL_UNSAFE, 6, 60_000))
    assert zk.unchroot(path) == "/ttls-0000000001"
    for flags, ttl in ((5, 0), (0, 100)):
        with pytest.raises(BadArgumentsError):
            _call(zk, CreateTTL(prefix + "/bad", b"", OPEN_ACL_UNSAFE, flags, ttl))
    gone = Events()
    zk.exists("/ttl", watch=gone)
    got = gone.wait_for(1)
    assert (got[0].type, got[0].path) == (EventType.DELETED, "/ttl")
    assert zk.exists("/ttls-0000000001") is not None
    zk.delete("/ttls-0000000001")  # so the shared real server does not reap it during a later test


def test_ttl_flags_on_plain_create_are_bad_arguments(zk_target):
    zk = zk_target.client()
    with pytest.raises(BadArgumentsError):
        zk._create_async_inner(zk.chroot + "/t", b"", OPEN_ACL_UNSAFE, 5).get(timeout=10)
    with pytest.raises(BadArgumentsError):
        zk._create_async_inner(zk.chroot + "/t", b"", OPEN_ACL_UNSAFE, 7).get(timeout=10)


def test_sync_echoes_the_path(zk_target):
    zk = zk_target.client()
    assert zk.sync("/") == "/"
    zk.create("/s")
    assert zk.sync("/s") == "/s"


def test_reconfig_is_disabled(zk_target):
    from kazoo.exceptions import ReconfigDisabledError

    zk = zk_target.client()
    with pytest.raises((ReconfigDisabledError, UnimplementedError)) as info:
        zk.reconfig(joining=None, leaving="2", new_members=None)
    assert isinstance(info.value, ReconfigDisabledError)


def test_stat_record_shape(zk_target):
    # kazoo decodes the Stat as 11 fields in wire order; a round trip through its struct checks our encoding
    zk = zk_target.client()
    _, stat = zk.create("/shape", b"abc", include_data=True)
    assert isinstance(stat, ZnodeStat)
    assert ZnodeStat._make(stat_struct.unpack(stat_struct.pack(*stat))) == stat

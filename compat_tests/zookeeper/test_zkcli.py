"""zkCli.sh (Debian's ZooKeeper 3.8 Java shell) against our server and against the real ZooKeeper.

Every scenario runs on both targets (``wiretwin``: a fresh zkserver; ``real``:
Debian's ZooKeeper 3.8.0, shared, each test in its own chroot). The shell is
driven over stdin (see ``clients.ZkCli``) and its output is checked line by
line where it carries facts: Stat blocks, ACL lines, error messages, watch
notifications. Zxids are compared relative to one another, since the two
servers have different histories. Where ZooKeeper 3.8 and 3.9 differ, each side
asserts its own behaviour and the test says which ticket changed it; our
server follows 3.9.

zkCli exercises what kazoo never sends: addWatch (106), setWatches2 (105,
after a reconnect while it holds persistent watches), whoAmI (107),
getEphemerals (103), getAllChildrenNumber (104), removeWatches (18).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from compat_tests.zookeeper.clients import (
    RecordingProxy, Target, WatchedEvent, ZkCli, digest_id, open_target, split_stat,
)


ALICE = digest_id("alice", "secret")  # alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E= (FEATURES.md §3)
JAVA_DATE = re.compile(r"^\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \w+ \d{4}$")  # java.util.Date.toString()


@pytest.fixture(params=["wiretwin", "real"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    with open_target(request, request.param) as t:
        yield t


@pytest.fixture
def cli(target: Target) -> Iterator[ZkCli]:
    shell = ZkCli(target.hosts)
    yield shell
    try:
        shell.close()
    except Exception:
        shell.process.kill()


def event(event_type: str, path: str) -> WatchedEvent:
    return WatchedEvent("SyncConnected", event_type, path)


# -- CRUD, Stat lines, errors ---------------------------------------------------------------


def test_crud_stat_lines_and_errors(cli: ZkCli) -> None:
    out = cli.run(
        "create /a hello",           # 0
        "get -s /a",                 # 1
        "create /a again",           # 2  a failed write: still a zxid
        "set /a world",              # 3
        "set -v 0 /a stale",         # 4  bad version: still a zxid
        "set -s -v 1 /a x2",         # 5
        "stat /a",                   # 6
        "get /missing",              # 7  a failed read: no zxid
        "stat /missing",             # 8
        "set /missing x",            # 9
        "delete /missing",           # 10
        "delete -v 5 /a",            # 11
        "ls -s /",                   # 12 the chroot node
        "create /nodata",            # 13
        "get -s /nodata",            # 14
        'create /spaced "hello world"',  # 15
        "get /spaced",               # 16
        'set /spaced ""',            # 17
        "get -s /spaced",            # 18
        "create /x/y/z",             # 19
        "create relative",           # 20 client-side path checks
        "create /trailing/",         # 21
        "delete -v 2 /a",            # 22
        "get /a",                    # 23
    )
    assert out[0] == ["Created /a"]
    value, stat = split_stat(out[1])
    assert value == ["hello"]
    z = stat["cZxid"]
    assert stat["mZxid"] == stat["pZxid"] == z
    assert JAVA_DATE.match(stat["ctime"]) and stat["mtime"] == stat["ctime"]
    assert {k: stat[k] for k in ("cversion", "dataVersion", "aclVersion", "ephemeralOwner", "dataLength",
                                 "numChildren")} == {"cversion": 0, "dataVersion": 0, "aclVersion": 0,
                                                     "ephemeralOwner": 0, "dataLength": 5, "numChildren": 0}
    assert out[2] == ["Node already exists: /a"]
    assert out[3] == []
    assert out[4] == ["version No is not valid : /a"]
    _, after = split_stat(out[5])
    # create z, failed create z+1, set z+2, failed set z+3, this set z+4
    assert (after["cZxid"], after["mZxid"], after["pZxid"]) == (z, z + 4, z)
    assert (after["dataVersion"], after["dataLength"], after["ctime"]) == (2, 2, stat["ctime"])
    assert split_stat(out[6]) == ([], after)
    assert out[7] == out[8] == out[9] == out[10] == ["Node does not exist: /missing"]
    assert out[11] == ["version No is not valid : /a"]
    children, root = split_stat(out[12])
    assert children == ["[a]"]
    assert (root["numChildren"], root["cversion"], root["pZxid"]) == (1, 1, z)
    assert out[13] == ["Created /nodata"]
    value, nodata = split_stat(out[14])
    assert value == ["null"] and nodata["dataLength"] == 0
    # reads did not use zxids, failed writes did: delete /missing z+6, delete -v 5 z+7, create /nodata z+8
    assert nodata["cZxid"] == z + 8
    assert out[15] == ["Created /spaced"]
    assert out[16] == ["hello world"]
    assert out[17] == []
    value, spaced = split_stat(out[18])
    assert value == [""] and (spaced["dataLength"], spaced["dataVersion"]) == (0, 1)
    assert out[19] == ["Node does not exist: /x/y/z"]
    assert out[20] == ["Path must start with / character"]
    assert out[21] == ["Path must not end with / character"]
    assert out[22] == []
    assert out[23] == ["Node does not exist: /a"]


def test_node_kinds_and_get_ephemerals(target: Target, cli: ZkCli) -> None:
    out = cli.run(
        "create -s /seq- one",            # 0
        "create -s /seq- two",            # 1
        "create -e /eph e",               # 2
        "create -e -s /eseq- x",          # 3
        "create -c /cont",                # 4
        "create -t 5000 /ttl t",          # 5
        "create -s -t 5000 /tseq- t",     # 6
        "create /eph/child",              # 7
        "stat /eph",                      # 8
        "stat /cont",                     # 9
        "stat /ttl",                      # 10
        "getEphemerals",                  # 11
        f"getEphemerals {target.chroot}/ep",  # 12
        "getEphemerals /nothing-here",    # 13
        "ls /",                           # 14
        "create -t 0 /t0",                # 15 client-side checks
        "create -e -t 100 /t1",           # 16
        "create -c -s /cs",               # 17
    )
    assert out[:7] == [["Created /seq-0000000000"], ["Created /seq-0000000001"], ["Created /eph"],
                       ["Created /eseq-0000000003"], ["Created /cont"], ["Created /ttl"],
                       ["Created /tseq-0000000006"]]
    assert out[7] == ["Ephemerals cannot have children: /eph/child"]
    owner = split_stat(out[8])[1]["ephemeralOwner"]
    assert owner != 0
    # container and TTL nodes report ephemeralOwner 0 although the server stores sentinels (FEATURES.md §1)
    assert split_stat(out[9])[1]["ephemeralOwner"] == 0
    assert split_stat(out[10])[1]["ephemeralOwner"] == 0
    # getEphemerals: the 3.8 client neither prefixes the chroot to the request nor strips it from the
    # answer, so the paths are the server's; the order is the server's hash order: compare as sets
    ephemerals = out[11]
    assert len(ephemerals) == 1 and ephemerals[0].startswith("[") and ephemerals[0].endswith("]")
    assert set(ephemerals[0][1:-1].split(", ")) == {f"{target.chroot}/eph", f"{target.chroot}/eseq-0000000003"}
    assert out[12] == [f"[{target.chroot}/eph]"]
    assert out[13] == ["[]"]
    assert out[14] == ["[cont, eph, eseq-0000000003, seq-0000000000, seq-0000000001, tseq-0000000006, ttl]"]
    assert out[15] == ["ttl must be positive and cannot be larger than: 1099511627775"]
    assert out[16] == ["TTLs cannot be used with Ephemeral znodes"]
    assert out[17] == ["-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."]
    if target.server is not None:
        assert owner in target.server.session_ids()

    # quit closes the session: its ephemerals are gone for everyone at once
    assert cli.close() == 0
    other = target.kazoo()
    try:
        assert sorted(other.get_children("/")) == ["cont", "seq-0000000000", "seq-0000000001", "tseq-0000000006",
                                                   "ttl"]
    finally:
        other.stop()
        other.close()


def test_get_all_children_number_ls_recursive_deleteall(cli: ZkCli) -> None:
    out = cli.run(
        "create /tree", "create /tree/a", "create /tree/a/b", "create /tree/a/b/c", "create /tree/d",
        "getAllChildrenNumber /",        # 5
        "getAllChildrenNumber /tree",    # 6
        "getAllChildrenNumber /tree/d",  # 7
        "getAllChildrenNumber /missing",  # 8
        "ls -R /tree",                   # 9
        "delete /tree",                  # 10
        "deleteall /tree",               # 11
        "ls /",                          # 12
        "getAllChildrenNumber /",        # 13
    )
    assert out[5] == ["5"] and out[6] == ["4"] and out[7] == ["0"]
    assert out[8] == ["Node does not exist: /missing"]
    assert out[9] == ["/tree", "/tree/a", "/tree/d", "/tree/a/b", "/tree/a/b/c"]  # breadth first (client side)
    assert out[10] == ["Node not empty: /tree"]
    assert out[11] == []
    assert out[12] == ["[]"] and out[13] == ["0"]


# -- ACLs and authentication ------------------------------------------------------------------


def test_acl_digest_auth_and_whoami(target: Target, cli: ZkCli) -> None:
    out = cli.run(
        f"create /s secret digest:{ALICE}:cdrwa",                   # 0
        "get /s", "getAcl /s", "set /s x", "ls /s", "create /s/c x",   # 1-5: no permission
        "stat /s",                                                    # 6: 3.8 / 3.9 differ
        f"create /m x digest:{ALICE}:cdrwa,world:anyone:r",           # 7
        "getAcl /m",                                                  # 8: READ without ADMIN masks digests
        "setAcl /m world:anyone:cdrwa",                               # 9
        "whoami",                                                     # 10
        "addauth digest alice:secret",                                # 11
        "whoami",                                                     # 12
        "get /s",                                                     # 13
        "getAcl -s /s",                                               # 14
        "setAcl -v 3 /s world:anyone:r",                              # 15
        "setAcl -s -v 0 /s world:anyone:cdr",                         # 16
        "getAcl /s",                                                  # 17
        "set /s y",                                                   # 18 WRITE is gone now
        "getAcl /m",                                                  # 19 ADMIN: the hash is shown
        "create /authn x auth::cdrwa",                                # 20 auth expands to the caller's ids
        "getAcl /authn",                                              # 21
        "create /ipn x ip:127.0.0.1:cdrwa",                           # 22
        "getAcl /ipn",                                                # 23
        "get /ipn",                                                   # 24
        "create /bad x foo:bar:cdrwa",                                # 25
    )
    assert out[0] == ["Created /s"]
    assert out[1:6] == [["Insufficient permission : /s"]] * 4 + [["Insufficient permission : /s/c"]]
    if target.is_real:
        # Debian's 3.8.0 answers exists without READ (fixed by ZOOKEEPER-2590 in 3.8.4 / 3.9.2)
        assert split_stat(out[6])[1]["dataLength"] == 6
    else:
        assert out[6] == ["Insufficient permission : /s"]
    assert out[7] == ["Created /m"]
    assert out[8] == ["'digest,'alice:x", ": cdrwa", "'world,'anyone", ": r"]
    assert out[9] == ["Insufficient permission : /m"]
    assert out[10] == ["Auth scheme: User", "ip: 127.0.0.1"]
    assert out[11] == []
    assert out[12] == ["Auth scheme: User", "digest: alice", "ip: 127.0.0.1"]
    assert out[13] == ["secret"]
    acl, stat = split_stat(out[14])
    assert acl == [f"'digest,'{ALICE}", ": cdrwa"] and stat["aclVersion"] == 0
    assert out[15] == ["version No is not valid : /s"]
    _, stat = split_stat(out[16])
    assert stat["aclVersion"] == 1 and stat["dataVersion"] == 0
    assert out[17] == ["'world,'anyone", ": cdr"]
    assert out[18] == ["Insufficient permission : /s"]
    assert out[19] == [f"'digest,'{ALICE}", ": cdrwa", "'world,'anyone", ": r"]
    assert out[20] == ["Created /authn"]
    assert out[21] == [f"'digest,'{ALICE}", ": cdrwa"]
    assert out[22] == ["Created /ipn"]
    assert out[23] == ["'ip,'127.0.0.1", ": cdrwa"]
    assert out[24] == ["x"]
    assert out[25] == ["KeeperErrorCode = InvalidACL for /bad", "Acl is not valid : /bad"]


def test_set_acl_recursive(cli: ZkCli) -> None:
    out = cli.run(
        "create /tree", "create /tree/a", "create /tree/a/b",
        "setAcl -R /tree world:anyone:rw",   # 3
        "getAcl /tree", "getAcl /tree/a/b",   # 4, 5
        "create /r x world:anyone:r",        # 6
        "setAcl -R /r world:anyone:cdrwa",   # 7: no ADMIN
    )
    assert out[3] == []
    assert out[4] == out[5] == ["'world,'anyone", ": rw"]
    assert out[7] == ["KeeperErrorCode = NoAuth for /r"]


def test_unknown_auth_scheme_fails_the_session(cli: ZkCli) -> None:
    """AUTHFAILED (-115) closes the connection; the client's state becomes AuthFailed, which is final."""
    assert cli.run1("addauth nosuchscheme bar") == []  # addAuthInfo does not wait for the answer
    cli.process.wait_for(r"^WatchedEvent state:AuthFailed type:None path:null$")
    start = len(cli.process.snapshot())
    cli.process.send("ls /\n")
    cli.process.wait_for(r"^Not connected$", start)


# -- built-in nodes, config, sync, quotas -------------------------------------------------------


def test_builtin_nodes_config_sync_and_reconfig(target: Target) -> None:
    with ZkCli(target.root_hosts) as root:
        out = root.run(
            "ls /zookeeper",                 # 0
            "config -s",                     # 1
            "getAcl /zookeeper/config",      # 2
            "set /zookeeper/config x",       # 3
            "getAcl /zookeeper",             # 4
            "delete /zookeeper",             # 5
            "delete /",                      # 6
            "delete /zookeeper/quota",       # 7
            f"sync {target.chroot}",         # 8
            "sync /missing",                 # 9
            "reconfig -remove 1",            # 10
        )
    assert out[0] == ["[config, quota]"]
    value, stat = split_stat(out[1])
    assert value == [""]  # standalone: /zookeeper/config is empty
    assert stat == {"cZxid": 0, "ctime": stat["ctime"], "mZxid": 0, "mtime": stat["mtime"], "pZxid": 0,
                    "cversion": 0, "dataVersion": 0, "aclVersion": -1, "ephemeralOwner": 0, "dataLength": 0,
                    "numChildren": 0}
    assert stat["ctime"] == stat["mtime"] == "Thu Jan 01 00:00:00 UTC 1970"
    assert out[2] == ["'world,'anyone", ": r"]
    assert out[3] == ["Insufficient permission : /zookeeper/config"]
    assert out[4] == ["'world,'anyone", ": cdrwa"]
    assert out[5] == ["Arguments are not valid : /zookeeper"]
    assert out[6] == ["Arguments are not valid : /"]
    assert out[7] == ["Arguments are not valid : /zookeeper/quota"]
    assert out[8] == ["Sync is OK"]
    assert out[9] == ["Sync is OK"]  # standalone sync only echoes the path
    assert out[10] == ["KeeperErrorCode = Reconfig is disabled"]


def test_quota_stats_follow_the_subtree(target: Target) -> None:
    """setquota writes zookeeper_limits/zookeeper_stats; the *server* keeps the stats node current."""
    q = f"{target.chroot}/q"
    stats = f"/zookeeper/quota{q}/zookeeper_stats"
    with ZkCli(target.root_hosts) as root:
        out = root.run(
            f"create {q} abc",                 # 0
            f"setquota -n 2 {q}",              # 1
            f"listquota {q}",                  # 2
            f"create {q}/a 12345",             # 3
            f"create {q}/b", f"create {q}/b/c xy",  # 4, 5 (soft limits only warn)
            f"get {stats}",                    # 6
            f"set {q}/a 1",                    # 7
            f"delete {q}/b/c",                 # 8
            f"get {stats}",                    # 9
            f"setquota -b 100 {q}",            # 10
            f"listquota {q}",                  # 11
            f"delquota {q}",                   # 12
            f"listquota {q}",                  # 13
            f"ls /zookeeper/quota{target.chroot}",  # 14
        )
    assert out[1] == []
    assert out[2] == [f"absolute path is /zookeeper/quota{q}/zookeeper_limits",
                      f"Output quota for {q} count=2,bytes=-1=;byteHardLimit=-1;countHardLimit=-1",
                      f"Output stat for {q} count=1,bytes=3"]
    assert out[3:6] == [[f"Created {q}/a"], [f"Created {q}/b"], [f"Created {q}/b/c"]]
    assert out[6] == ["count=4,bytes=10"]
    assert out[9] == ["count=3,bytes=4"]
    assert out[10] == ["[Warning]: the count quota you create is less than the existing count:3"]
    assert out[11][1:] == [f"Output quota for {q} count=2,bytes=100=;byteHardLimit=-1;countHardLimit=-1",
                           f"Output stat for {q} count=3,bytes=4"]
    assert out[12] == []
    assert out[13] == [f"absolute path is /zookeeper/quota{q}/zookeeper_limits", f"quota for {q} does not exist."]
    assert out[14] == [f"Node does not exist: /zookeeper/quota{target.chroot}"]  # delquota prunes the empty parents


# -- watches ------------------------------------------------------------------------------------


def test_add_watch_persistent_recursive_and_persistent(target: Target, cli: ZkCli) -> None:
    out = cli.run(
        "create /p",
        "addWatch -m PERSISTENT_RECURSIVE /p",
        "addWatch -m PERSISTENT /q",        # on a missing path: allowed
        "addWatch /r",                      # the default mode: PERSISTENT (the 3.8 help text says RECURSIVE)
        "addWatch -m BOGUS /x",
    )
    assert out[:4] == [["Created /p"], [], [], []]
    assert out[4][0].startswith("addWatch [-m mode] path")
    other = target.kazoo()
    try:
        other.create("/p/a", b"1")
        other.create("/p/a/b")
        other.set("/p", b"x")
        other.set("/p/a/b", b"y")
        other.delete("/p/a/b")
        other.create("/q")
        other.create("/q/c")      # PERSISTENT on /q: NodeChildrenChanged for its children...
        other.set("/q/c", b"z")   # ...but nothing about the grandchildren's data
        other.set("/q", b"z")
        other.create("/r")
        other.create("/r/c")
        other.create("/r/c/d")    # nothing: /r's watch is not recursive
        other.create("/p/a/e")    # recursive: below the first level too
        other.delete("/q/c")
        other.delete("/q")
        other.create("/p/last")   # the barrier: events reach a client in zxid order
        events = cli.wait_events(14)
    finally:
        other.stop()
        other.close()
    assert events == [
        event("NodeCreated", "/p/a"),
        event("NodeCreated", "/p/a/b"),
        event("NodeDataChanged", "/p"),
        event("NodeDataChanged", "/p/a/b"),
        event("NodeDeleted", "/p/a/b"),
        event("NodeCreated", "/q"),
        event("NodeChildrenChanged", "/q"),
        event("NodeDataChanged", "/q"),
        event("NodeCreated", "/r"),
        event("NodeChildrenChanged", "/r"),
        event("NodeCreated", "/p/a/e"),  # recursive watches never get NodeChildrenChanged
        event("NodeChildrenChanged", "/q"),
        event("NodeDeleted", "/q"),  # a persistent watch outlives the node it watches
        event("NodeCreated", "/p/last"),
    ]
    out = cli.run("removewatches /q -a", "removewatches /q -a", "removewatches /nowatch -d")
    assert out == [[], ["KeeperErrorCode = No such watcher for /q"], ["KeeperErrorCode = No such watcher for /nowatch"]]


def test_one_shot_watches_fire_once(target: Target, cli: ZkCli) -> None:
    out = cli.run(
        "create /d x", "create /c", "create /d2", "create /c2",
        "get -w /d",            # data watch
        "stat -w /d",           # the same (path, type): de-duplicated, one event
        "stat -w /nope",        # exist watch on a missing node
        "ls -w /c",             # child watch
        "get -w /d2",           # a data watch fires NodeDeleted...
        "ls -s -w /c2",         # ...and so does a child watch on the deleted node itself
    )
    assert out[4] == ["x"] and out[6] == ["Node does not exist: /nope"] and out[7] == ["[]"]
    other = target.kazoo()
    try:
        other.set("/d", b"1")
        other.set("/d", b"2")       # the watch has fired: nothing
        other.create("/nope")
        other.delete("/nope")       # nothing
        other.create("/c/x")
        other.create("/c/y")        # nothing
        other.delete("/d2")
        other.delete("/c2")
        assert cli.run1("stat -w /barrier") == ["Node does not exist: /barrier"]
        other.create("/barrier")
        events = cli.wait_events(6)
    finally:
        other.stop()
        other.close()
    assert events == [
        event("NodeDataChanged", "/d"),
        event("NodeCreated", "/nope"),
        event("NodeChildrenChanged", "/c"),
        event("NodeDeleted", "/d2"),
        event("NodeDeleted", "/c2"),
        event("NodeCreated", "/barrier"),
    ]


def test_standard_and_persistent_watches_on_one_path(target: Target, cli: ZkCli) -> None:
    """Two 3.8 / 3.9 differences (our server follows 3.9):

    * 3.9 keeps a standard and a persistent watch of one client on one path side by side (ZOOKEEPER-4466); in
      3.8 the later standard watch (``get -w``) replaces the recursive one, so ``/p/a`` goes unreported.
    * removeWatches of type Data or Children does not touch a recursive watch (NoWatcher) and Any then removes
      it (``WatchManager.removeWatcher`` with mode ``null``), after which the client reports
      PersistentWatchRemoved. Debian's 3.8.0 answers NoWatcher too, but its failed typed removal has already
      dropped the watch half-way: Any finds nothing, and no event about ``/rr`` arrives any more.
    """
    out = cli.run(
        "create /p",
        "addWatch -m PERSISTENT_RECURSIVE /p",
        "get -w /p",
        "create /rr",
        "addWatch -m PERSISTENT_RECURSIVE /rr",
        "removewatches /rr -d",
        "removewatches /rr -c",
        "removewatches /rr",       # -a (Any) is the default
        "stat -w /barrier",
    )
    assert out[5] == out[6] == ["KeeperErrorCode = No such watcher for /rr"]
    assert out[7] == (["KeeperErrorCode = No such watcher for /rr"] if target.is_real else [])
    other = target.kazoo()
    try:
        other.set("/p", b"x")      # with both watches there: still one notification
        other.create("/p/a")       # only the recursive watch reports this
        other.create("/rr/x")      # removed: nothing
        other.create("/barrier")
        cli.process.wait_for("path:/barrier")
    finally:
        other.stop()
        other.close()
    events = [e for e in cli.events if e.type != "None"]
    if target.is_real:
        assert events == [event("NodeDataChanged", "/p"), event("NodeCreated", "/barrier")]
    else:
        assert events == [event("PersistentWatchRemoved", "/rr"), event("NodeDataChanged", "/p"),
                          event("NodeCreated", "/p/a"), event("NodeCreated", "/barrier")]


# -- the wire: what zkCli sends, and the watches it re-sends after a reconnect --------------------------


def test_zkcli_requests_on_the_wire(target: Target) -> None:
    """zkCli's handshake carries the readOnly byte (45 bytes) and is answered in kind (37 bytes); the opcodes
    kazoo never sends all get answers."""
    with RecordingProxy(target.address) as proxy:
        with ZkCli(proxy.hosts + target.chroot) as shell:
            out = shell.run("create /e x", "whoami", "getEphemerals /", "getAllChildrenNumber /",
                            "addWatch /e", "removewatches /e", "sync /", "create -t 1000 /ttl", "create -c /c",
                            "ls -s /", "getAcl /e")
            assert out[1] == ["Auth scheme: User", "ip: 127.0.0.1"]
            assert out[3] == ["1"]
        conn = proxy.connections[0]
    assert len(conn.to_server[0]) == 45 and conn.to_server[0][-1] == 0  # readOnly=false
    assert len(conn.to_client[0]) == 37 and conn.to_client[0][-1] == 0
    timeout, = struct.unpack(">i", conn.to_client[0][4:8])
    assert timeout == 30_000  # zkCli asks for 30 s; both targets allow it
    opcodes = conn.request_opcodes()
    for op in (1, 107, 103, 104, 106, 18, 9, 21, 19, 12, 6, -11):
        # create, whoAmI, getEphemerals, getAllChildrenNumber, addWatch, removeWatches, sync, createTTL,
        # createContainer, getChildren2, getACL, closeSession
        assert op in opcodes, (op, opcodes)
    assert opcodes[-1] == -11


def test_watches_are_restored_after_a_reconnect_with_set_watches2(target: Target) -> None:
    """A client holding persistent watches re-sends all its watches with setWatches2 (105) when it
    reconnects. One-shot watches whose node changed meanwhile fire at once; persistent ones are re-armed
    without catching up."""
    with RecordingProxy(target.address) as proxy, ZkCli(proxy.hosts + target.chroot) as shell:
        shell.run("create /p", "create /d x", "create /c",
                  "addWatch -m PERSISTENT_RECURSIVE /p", "get -w /d", "stat -w /nope", "ls -w /c", "get -w /same")
        proxy.hold()
        proxy.drop_all()
        shell.process.wait_for(r"^WatchedEvent state:Disconnected type:None path:null$")
        other = target.kazoo()
        try:
            other.set("/d", b"changed")   # data watch: mzxid > relativeZxid -> NodeDataChanged at once
            other.create("/nope")         # exist watch: the node exists now -> NodeCreated at once
            other.create("/p/missed")     # persistent: re-armed, no catch-up
            proxy.release()
            proxy.wait(lambda: len(proxy.connections) == 2 and any(
                struct.unpack(">i", f[4:8])[0] == 105 for f in proxy.connections[1].to_server[1:]))
            shell.process.wait_for(r"^WatchedEvent state:SyncConnected type:None path:null$",
                                   shell.process.snapshot().index(
                                       "WatchedEvent state:Disconnected type:None path:null"))
            other.create("/c/kid")        # the re-armed child watch
            other.create("/p/after")      # the re-armed recursive watch; also the barrier
            events = shell.wait_events(4)
        finally:
            other.stop()
            other.close()
        # the reconnect resumed the same session: no Expired state
        assert all(e.state != "Expired" for e in shell.events)
    assert events == [
        event("NodeDataChanged", "/d"),
        event("NodeCreated", "/nope"),
        event("NodeChildrenChanged", "/c"),
        event("NodeCreated", "/p/after"),
    ]
    resumed = proxy.connections[1]
    first_sid = struct.unpack(">q", proxy.connections[0].to_client[0][8:16])[0]
    assert struct.unpack(">q", resumed.to_server[0][16:24])[0] == first_sid  # ConnectRequest.sessionId
    assert struct.unpack(">q", resumed.to_client[0][8:16])[0] == first_sid


def test_ttl_nodes_need_extended_types(zk_server_factory: Callable[..., Any]) -> None:
    """Our server only (the shared real one runs with ``zookeeper.extendedTypesEnabled=true``): without
    extended types a TTL create is Unimplemented (-6), and it still costs a zxid."""
    server = zk_server_factory(extended_types_enabled=False)
    with ZkCli(server.hosts) as shell:
        out = shell.run("create /before", "create -t 1000 /ttl", "create /after", "stat /after", "stat /before")
    assert out[:3] == [["Created /before"], ["KeeperErrorCode = Unimplemented for /ttl"], ["Created /after"]]
    assert split_stat(out[3])[1]["cZxid"] == split_stat(out[4])[1]["cZxid"] + 2

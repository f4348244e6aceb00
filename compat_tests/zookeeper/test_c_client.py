"""The ZooKeeper C client (libzookeeper-mt 3.8, through its sample shell ``cli_mt``) against both targets.

``cli_mt`` (Debian package zookeeper-bin) sends a 45-byte ConnectRequest, with
the readOnly byte, and every command but ``exists``/``wexists`` is
asynchronous; see ``clients.CCli`` for how its output is delimited. It creates
every node with the data ``new`` and an open ACL. Scenarios run against our
server and against Debian's real ZooKeeper 3.8.0 (shared, one chroot per test).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from compat_tests.zookeeper.clients import (
    CCli, CEvent, RecordingProxy, Target, digest_id, open_target, parse_c_stat,
)



@pytest.fixture(params=["wiretwin", "real"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    with open_target(request, request.param) as t:
        yield t


@pytest.fixture
def shell(target: Target) -> Iterator[CCli]:
    cli = CCli(target.hosts)
    yield cli
    try:
        cli.close()
    except Exception:
        cli.process.kill()


def test_handshake_carries_the_read_only_byte(target: Target) -> None:
    """The C client always sends the readOnly byte (45-byte request) and gets the 37-byte reply. With ``-r``
    (ZOO_READONLY) it asks for read-only mode; a server that is not read-only answers readOnly=false and the
    client is plainly connected."""
    with RecordingProxy(target.address) as proxy:
        with CCli(proxy.hosts + target.chroot) as plain:
            assert plain.run("create /rw") == ["Creating [/rw] node (mode: 0)", "[/rw]: rc = 0", "\tname = /rw"]
        with CCli(proxy.hosts + target.chroot, "-r") as read_only:
            assert [e.state for e in read_only.events if e.type == "SESSION_EVENT"] == ["CONNECTED_STATE"]
            assert read_only.run("create /ro") == ["Creating [/ro] node (mode: 0)", "[/ro]: rc = 0", "\tname = /ro"]
        first, second = proxy.connections[:2]
    for conn, flag in ((first, 0), (second, 1)):
        request, response = conn.to_server[0], conn.to_client[0]
        assert len(request) == 45 and request[-1] == flag
        protocol, last_zxid, timeout, session_id = struct.unpack(">iqiq", request[:24])
        assert (protocol, last_zxid, timeout, session_id) == (0, 0, 30_000, 0)
        assert len(response) == 37 and response[-1] == 0  # answered in kind, never read-only
        protocol, timeout, session_id = struct.unpack(">iiq", response[:16])
        assert protocol == 0 and timeout == 30_000 and session_id != 0
    assert first.request_opcodes()[-1] == -11  # quit closes the session


def test_crud_and_node_kinds(target: Target, shell: CCli) -> None:
    assert shell.run("create /a") == ["Creating [/a] node (mode: 0)", "[/a]: rc = 0", "\tname = /a"]
    assert shell.run("create /a") == ["Creating [/a] node (mode: 0)", "[/a]: rc = -110"]
    out = shell.run("create2 /b")
    assert out[:3] == ["Creating [/b] node (mode: 0)", "[/b]: rc = 0", "\tname = /b"]
    b = parse_c_stat(out[3:])
    assert b["czxid"] == b["mzxid"] and (b["version"], b["aversion"], b["ephemeralOwner"]) == (0, 0, 0)
    assert b["ctime"] == b["mtime"]

    out = shell.run("get /a")
    assert out[:4] == ["/a: rc = 0", " value_len = 3", "new", "Stat:"]
    a = parse_c_stat(out[4:])
    assert a["czxid"] == a["mzxid"] == b["czxid"] - 2  # the failed create used a zxid too
    out = shell.run("set /a hello")
    assert out[0] == "/a: rc = 0 Stat:"
    assert parse_c_stat(out[1:])["version"] == 1 and parse_c_stat(out[1:])["mzxid"] == b["czxid"] + 1
    out = shell.run("get /a")
    assert out[1:3] == [" value_len = 5", "hello"]
    assert shell.run("get /missing") == ["/missing: rc = -101", "", "Stat:", "null"]
    assert shell.run("set /missing x") == ["/missing: rc = -101 Stat:", "null"]

    out = shell.run("ls /")
    assert out[0] == "/: rc = 0" and sorted(out[1:]) == ["\ta", "\tb"]
    out = shell.run("ls2 /")
    assert out[0] == "/: rc = 0" and sorted(out[1:3]) == ["\ta", "\tb"]
    assert parse_c_stat(out[3:])["version"] == 0
    assert shell.run("exists /a") == []  # synchronous: silent on success
    assert shell.run("exists /missing") == ["Error -101 for /missing"]

    assert shell.run("create +e /e")[1:] == ["[/e]: rc = 0", "\tname = /e"]
    assert shell.run("create +s /s-")[1:] == ["[/s-]: rc = 0", "\tname = /s-0000000003"]
    assert shell.run("create +es /es-")[1:] == ["[/es-]: rc = 0", "\tname = /es-0000000004"]
    assert shell.run("create +c /c") == ["Creating [/c] node (mode: 4)", "[/c]: rc = 0", "\tname = /c"]
    out = shell.run("create2 +t=1000 /t")
    assert out[:3] == ["Creating [/t] node (mode: 5)", "[/t]: rc = 0", "\tname = /t"]
    assert parse_c_stat(out[3:])["ephemeralOwner"] == 0  # TTL nodes report no owner
    assert shell.run("create /e/child")[1:] == ["[/e/child]: rc = -108"]
    assert shell.run("create /nope/child")[1:] == ["[/nope/child]: rc = -101"]

    assert shell.run("delete /a") == ["/a: rc = 0"]
    assert shell.run("delete /a") == ["/a: rc = -101"]
    assert shell.run("sync /b") == ["[/b]: rc = 0", "\tname = /b"]
    out = shell.run("config")
    assert out[:4] == ["/zookeeper/config: rc = 0", " value_len = 0", "", "Stat:"]
    config = parse_c_stat(out[4:])
    assert (config["czxid"], config["aversion"], config["ctime"]) == (0, 0xFFFFFFFF, "Thu Jan  1 00:00:00 1970")

    other = target.kazoo()
    try:
        assert other.exists("/e").ephemeralOwner == shell.session_id
        assert sorted(other.get_children("/")) == ["b", "c", "e", "es-0000000004", "s-0000000003", "t"]
        shell.close()
        assert sorted(other.get_children("/")) == ["b", "c", "s-0000000003", "t"]  # quit: ephemerals are gone
        assert other.get("/b")[0] == b"new"
    finally:
        other.stop()
        other.close()


def test_watches(target: Target, shell: CCli) -> None:
    """get and ls leave watches (the shell passes watch=1), wexists leaves an exists watch on a missing node;
    each fires once, through the shell's global watcher."""
    for command in ("create /d", "create /c", "create /gone"):
        shell.run(command)
    assert shell.run("get /d")[0] == "/d: rc = 0"
    assert shell.run("ls /c")[0] == "/c: rc = 0"
    assert shell.run("get /gone")[0] == "/gone: rc = 0"
    assert shell.run("wexists /n") == ["Error -101 for /n"]
    other = target.kazoo()
    try:
        other.set("/d", b"1")
        other.set("/d", b"2")       # fired already: nothing
        other.create("/c/x")
        other.create("/c/y")        # nothing
        other.create("/n")
        other.delete("/gone")
        assert shell.run("wexists /barrier") == ["Error -101 for /barrier"]
        other.create("/barrier")
        shell.wait_for(r"^Watcher CREATED_EVENT state = CONNECTED_STATE for path /barrier$")
    finally:
        other.stop()
        other.close()
    assert shell.node_events() == [
        CEvent("CHANGED_EVENT", "CONNECTED_STATE", "/d"),
        CEvent("CHILD_EVENT", "CONNECTED_STATE", "/c"),
        CEvent("CREATED_EVENT", "CONNECTED_STATE", "/n"),
        CEvent("DELETED_EVENT", "CONNECTED_STATE", "/gone"),
        CEvent("CREATED_EVENT", "CONNECTED_STATE", "/barrier"),
    ]


def test_digest_auth(target: Target) -> None:
    other = target.kazoo()
    try:
        from kazoo.security import make_digest_acl

        acl = make_digest_acl("alice", "secret", all=True)
        assert acl.id.id == digest_id("alice", "secret")
        other.create("/s", b"secret", acl=[acl])
    finally:
        other.stop()
        other.close()
    with CCli(target.hosts) as shell:
        assert shell.run("get /s") == ["/s: rc = -102", "", "Stat:", "null"]
        assert shell.run("addauth digest alice:secret") == []
        assert shell.run("get /s")[:3] == ["/s: rc = 0", " value_len = 6", "secret"]
    with CCli(target.hosts) as shell:
        start = len(shell.process.snapshot())
        shell.process.send("addauth nosuchscheme x\n")
        shell.wait_for(r"^Watcher SESSION_EVENT state = AUTH_FAILED_STATE$", start)
        shell.wait_for(r"^Authentication failure\. Shutting down\.\.\.$", start)


@pytest.mark.parametrize("target", ["wiretwin"], indirect=True)
def test_server_side_session_expiry(target: Target, shell: CCli) -> None:
    """Our server can expire a session on demand (the real one cannot); the C client learns it on reconnect."""
    assert target.server is not None
    shell.run("create +e /eph")
    target.server.expire_session(shell.session_id)
    shell.wait_for(r"^Watcher SESSION_EVENT state = EXPIRED_SESSION_STATE$")
    shell.wait_for(r"^Session expired\. Shutting down\.\.\.$")
    other = target.kazoo()
    try:
        assert other.exists("/eph") is None
    finally:
        other.stop()
        other.close()

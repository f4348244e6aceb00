"""Sessions through kazoo: negotiation, expiry, resume, restart, and the jute.maxbuffer frame limit.

Tests that need a server-side control (expire a session on demand, restart the server in place) run on our
server only; everything a client can provoke by itself (timeouts, dropped sockets, big frames) runs on both.
"""

from __future__ import annotations

import time

import pytest
from kazoo.exceptions import ConnectionLoss, SessionExpiredError
from kazoo.protocol.states import EventType, KazooState

from compat_tests.zookeeper.conftest import TICK_MS, WAIT, Events, state_recorder

MAX_BUFFER = 0xFFFFF  # jute.maxbuffer default, 1 MiB - 1


@pytest.mark.parametrize(("requested_s", "granted_ms"), [
    (0.1, 2 * TICK_MS),   # below minSessionTimeout (2 x tickTime): raised
    (1.0, 1000),          # inside the range: granted as asked
    (100.0, 20 * TICK_MS),  # above maxSessionTimeout (20 x tickTime): lowered
])
def test_session_timeout_is_negotiated_within_2x_20x_tick(zk_target, requested_s, granted_ms):
    zk = zk_target.client(timeout=requested_s, with_timeout_log=True)
    assert zk.negotiated.values == [granted_ms]
    assert zk._session_timeout == int(requested_s * 1000)  # kazoo keeps what it asked for
    zk.create("/alive", ephemeral=True)
    assert zk.exists("/alive").ephemeralOwner == zk.client_id[0]


def _break_away(zk_target, zk):
    """Cut a client off for good: point it at a dead port, then break its connection. Its session then gets
    no more pings, and the server expires it after the timeout (no server control needed)."""
    zk.set_hosts("127.0.0.1:1" + zk_target.chroot)
    states = state_recorder(zk)
    zk_target.drop_connection(zk)
    states.wait_for(1)
    assert states.items == [KazooState.SUSPENDED]
    return states


def test_session_expires_after_its_timeout(zk_target):
    zk = zk_target.client(timeout=0.1, with_timeout_log=True)  # negotiated to 2 x tickTime = 200 ms
    assert zk.negotiated.values == [2 * TICK_MS]
    watcher = zk_target.client()
    zk.create("/short-lived", b"", ephemeral=True)
    sid = zk.client_id[0]
    gone = Events()
    assert watcher.exists("/short-lived", watch=gone).ephemeralOwner == sid
    start = time.monotonic()
    states = _break_away(zk_target, zk)
    assert [(e.type, e.path) for e in gone.wait_for(1)] == [(EventType.DELETED, "/short-lived")]
    elapsed = time.monotonic() - start
    assert 0.1 < elapsed < 5.0  # expiry comes between timeout and timeout + tickTime after the last ping
    assert watcher.exists("/short-lived") is None
    # back in reach: the old session is refused (timeOut 0), kazoo reports LOST and starts a new session
    zk.set_hosts(zk_target.hosts)
    states.wait_until(lambda s: s[-1:] == [KazooState.CONNECTED])
    assert states.items == [KazooState.SUSPENDED, KazooState.LOST, KazooState.CONNECTED]
    assert zk.client_id[0] != sid
    assert zk.negotiated.values == [2 * TICK_MS, 2 * TICK_MS]


@pytest.mark.wiretwin_only
def test_expire_session_control(zk_target):
    """Ours only: expire a session server-side on demand (ZooKeeper has no such call)."""
    server = zk_target.controls
    zk = zk_target.client()
    watcher = zk_target.client()
    zk.create("/doomed", b"", ephemeral=True)
    zk.create("/doomed-seq-", b"", ephemeral=True, sequence=True)
    sid = zk.client_id[0]
    gone, children = Events(), Events()
    watcher.exists("/doomed", watch=gone)
    watcher.get_children("/", watch=children)
    states = state_recorder(zk)
    server.expire_session(sid)
    assert [(e.type, e.path) for e in gone.wait_for(1)] == [(EventType.DELETED, "/doomed")]
    assert [(e.type, e.path) for e in children.wait_for(1)] == [(EventType.CHILD, "/")]
    states.wait_until(lambda s: s[-1:] == [KazooState.CONNECTED])
    assert states.items == [KazooState.SUSPENDED, KazooState.LOST, KazooState.CONNECTED]
    assert zk.client_id[0] != sid and sid not in server.session_ids()
    assert watcher.get_children("/") == ["zookeeper"]


@pytest.mark.wiretwin_only
def test_calls_after_expiry(zk_target):
    """Ours only (needs the expire control): kazoo fails calls while the session is lost, then opens a new one."""
    server = zk_target.controls
    zk = zk_target.client()
    zk.create("/mine", b"", ephemeral=True)
    states = state_recorder(zk)
    server.expire_session(zk.client_id[0])
    states.wait_until(lambda s: s[-1:] == [KazooState.CONNECTED])
    assert zk.create("/after", b"") == "/after"
    assert zk.exists("/mine") is None


def test_unknown_session_is_expired_at_connect(zk_target):
    """A wrong password or an unknown session id gets timeOut 0: kazoo treats it as expired (its state is
    already LOST before the first connect, so no new LOST is emitted) and opens a fresh session."""
    zk = zk_target.client()
    sid, passwd = zk.client_id
    zk.create("/owned", b"", ephemeral=True)
    for client_id in ((sid, b"\x00" * 16), (sid + 12345, passwd)):
        other = zk_target.client(start=False, client_id=client_id)
        states = state_recorder(other)
        other.start(timeout=WAIT)
        assert states.items == [KazooState.CONNECTED]
        assert other.client_id[0] not in (0, sid, sid + 12345)
        other.stop()
    assert zk.exists("/owned").ephemeralOwner == sid  # the real owner was not disturbed
    assert zk.state == KazooState.CONNECTED


def test_resume_after_dropped_connection_keeps_session(zk_target):
    zk = zk_target.client()
    watcher = zk_target.client()
    _, stat = zk.create("/kept", b"k", ephemeral=True, include_data=True)
    sid, passwd = zk.client_id
    deleted = Events()
    watcher.exists("/kept", watch=deleted)
    states = state_recorder(zk)
    zk_target.drop_connection(zk)
    states.wait_for(2)
    assert states.items == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert zk.client_id == (sid, passwd)
    assert zk.exists("/kept") == stat
    watcher.sync("/")
    assert deleted.items == []
    zk.stop()
    assert [(e.type, e.path) for e in deleted.wait_for(1)] == [(EventType.DELETED, "/kept")]


@pytest.mark.wiretwin_only
def test_restart_keeps_tree_and_sessions(zk_target):
    """Ours only: restart the server in place (same port and data directory)."""
    server = zk_target.controls
    zk = zk_target.client()
    zk.create("/durable/a", b"data", makepath=True)
    _, eph = zk.create("/durable/eph", b"", ephemeral=True, include_data=True)
    zk.create("/durable/seq-", sequence=True)
    before = zk.last_zxid
    sid = zk.client_id
    states = state_recorder(zk)
    server.restart()
    states.wait_until(lambda s: s[-1:] == [KazooState.CONNECTED])
    assert states.items == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert zk.client_id == sid  # the session survived the restart
    assert zk.exists("/durable/eph") == eph
    assert zk.get("/durable/a")[0] == b"data"
    assert sorted(zk.get_children("/durable")) == ["a", "eph", "seq-0000000002"]
    assert zk.create("/durable/seq-", sequence=True) == "/durable/seq-0000000003"
    assert zk.exists("/durable/seq-0000000003").czxid == before + 1  # zxids continue where they were
    other = zk_target.client()
    gone = Events()
    other.exists("/durable/eph", watch=gone)
    zk.stop()
    assert [(e.type, e.path) for e in gone.wait_for(1)] == [(EventType.DELETED, "/durable/eph")]


def test_frame_above_jute_maxbuffer_closes_the_connection(zk_target):
    zk = zk_target.client()
    zk.create("/big", b"")
    sid = zk.client_id[0]
    fits = b"x" * (MAX_BUFFER + 1 - 200)  # 1 MiB - 200 bytes: the whole frame is under jute.maxbuffer
    assert zk.set("/big", fits).dataLength == len(fits)
    assert zk.get("/big")[0] == fits
    states = state_recorder(zk)
    with pytest.raises(ConnectionLoss):
        zk.set("/big", b"y" * (1024 * 1024 + 1))
    states.wait_until(lambda s: s[-1:] == [KazooState.CONNECTED])
    assert states.items == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert zk.client_id[0] == sid  # only the connection was closed; the session resumes
    data, stat = zk.get("/big")
    assert data == fits and stat.version == 1


def test_closed_client_raises(zk_target):
    zk = zk_target.client()
    zk.stop()
    with pytest.raises(SessionExpiredError):  # kazoo's ConnectionClosedError is a SessionExpiredError
        zk.get("/")

"""ACLs and digest auth through kazoo on both targets."""

from __future__ import annotations

import pytest
from kazoo.exceptions import AuthFailedError, BadVersionError, InvalidACLError, NoAuthError
from kazoo.protocol.states import EventType, KazooState
from kazoo.security import (
    ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, Permissions, make_acl, make_digest_acl,
    make_digest_acl_credential,
)

from compat_tests.zookeeper.conftest import WAIT, Events

ALICE_ID = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="  # base64(sha1("alice:secret")), as observed on a real server


def _alice(zk_target):
    zk = zk_target.client()
    zk.add_auth("digest", "alice:secret")
    return zk


def test_digest_credential_format():
    assert make_digest_acl_credential("alice", "secret") == ALICE_ID
    acl = make_digest_acl("alice", "secret", all=True)
    assert (acl.perms, acl.id.scheme, acl.id.id) == (Permissions.ALL, "digest", ALICE_ID)


def test_digest_acl_protects_a_node(zk_target):
    alice = _alice(zk_target)
    anon = zk_target.client()
    bob = zk_target.client()
    bob.add_auth("digest", "bob:secret")
    alice.create("/secret", b"s", acl=[make_digest_acl("alice", "secret", all=True)])
    data, stat = alice.get("/secret")
    assert data == b"s" and stat.aversion == 0
    for client in (anon, bob):
        with pytest.raises(NoAuthError):
            client.get("/secret")
        with pytest.raises(NoAuthError):
            client.set("/secret", b"x")
        with pytest.raises(NoAuthError):
            client.get_acls("/secret")
        with pytest.raises(NoAuthError):
            client.set_acls("/secret", OPEN_ACL_UNSAFE)
        with pytest.raises(NoAuthError):
            client.create("/secret/child")
        with pytest.raises(NoAuthError):
            client.get_children("/secret")
    acls, stat = alice.get_acls("/secret")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(31, "digest", ALICE_ID)]


def test_exists_without_read_permission(zk_target):
    """exists needs READ from 3.9.2/3.8.4 (ZOOKEEPER-2590; ours follows 3.9): Debian's 3.8.0 answers it."""
    alice = _alice(zk_target)
    anon = zk_target.client()
    alice.create("/hidden", b"h", acl=[make_digest_acl("alice", "secret", all=True)])
    if zk_target.version >= (3, 9):
        with pytest.raises(NoAuthError):
            anon.exists("/hidden")
    else:
        stat = anon.exists("/hidden")
        assert stat is not None and stat.dataLength == 1


def test_get_acl_masks_digests_without_admin(zk_target):
    alice = _alice(zk_target)
    anon = zk_target.client()
    acl = [make_digest_acl("alice", "secret", all=True), ACL(Permissions.READ, Id("world", "anyone"))]
    alice.create("/masked", b"", acl=acl)
    acls, stat = anon.get_acls("/masked")  # READ but no ADMIN: digest hashes are masked
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(31, "digest", "alice:x"), (1, "world", "anyone")]
    acls, _ = alice.get_acls("/masked")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(31, "digest", ALICE_ID), (1, "world", "anyone")]
    assert anon.get("/masked")[0] == b""
    with pytest.raises(NoAuthError):
        anon.set("/masked", b"x")


def test_admin_only_acl_allows_get_acl(zk_target):
    zk = zk_target.client()
    zk.create("/admin-only", b"", acl=[ACL(Permissions.ADMIN, Id("world", "anyone"))])
    acls, _ = zk.get_acls("/admin-only")  # ADMIN without READ is enough for getACL
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(16, "world", "anyone")]
    with pytest.raises(NoAuthError):
        zk.get("/admin-only")


def test_creator_all_acl_expands_auth(zk_target):
    anon = zk_target.client()
    with pytest.raises(InvalidACLError):  # "auth" with no authenticated id
        anon.create("/mine", acl=CREATOR_ALL_ACL)
    alice = _alice(zk_target)
    alice.create("/mine", acl=CREATOR_ALL_ACL)
    acls, _ = alice.get_acls("/mine")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(31, "digest", ALICE_ID)]


@pytest.mark.parametrize("acl", [
    [],
    [ACL(31, Id("nosuchscheme", "x"))],
    [ACL(31, Id("digest", "no-colon"))],
    [ACL(31, Id("ip", "not-an-ip"))],
], ids=["empty", "unknown-scheme", "bad-digest", "bad-ip"])
def test_invalid_acls(zk_target, acl):
    zk = zk_target.client()
    with pytest.raises(InvalidACLError):  # create_async: kazoo's create() replaces an empty list by its default
        zk.create_async("/bad-acl", acl=acl).get(timeout=WAIT)
    zk.create("/ok-acl")
    with pytest.raises(InvalidACLError):
        zk.set_acls("/ok-acl", acl)


def test_set_acl_checks_and_bumps_aversion(zk_target):
    zk = zk_target.client()
    zk.create("/av", b"")
    stat = zk.set_acls("/av", READ_ACL_UNSAFE + [make_acl("world", "anyone", admin=True)], version=0)
    assert (stat.aversion, stat.version, stat.cversion) == (1, 0, 0)
    with pytest.raises(BadVersionError):
        zk.set_acls("/av", OPEN_ACL_UNSAFE, version=0)
    acls, stat = zk.get_acls("/av")
    assert stat.aversion == 1
    assert sorted((a.perms, a.id.scheme, a.id.id) for a in acls) == [(1, "world", "anyone"), (16, "world", "anyone")]
    with pytest.raises(NoAuthError):
        zk.set("/av", b"x")
    zk.set_acls("/av", OPEN_ACL_UNSAFE)  # ADMIN still held
    assert zk.set("/av", b"x").version == 1


def test_create_and_delete_need_permission_on_the_parent(zk_target):
    zk = zk_target.client()
    zk.create("/parent", acl=[make_acl("world", "anyone", read=True, create=True, admin=True)])
    zk.create("/parent/kid")
    with pytest.raises(NoAuthError):
        zk.delete("/parent/kid")
    zk.set_acls("/parent", [make_acl("world", "anyone", read=True, delete=True, admin=True)])
    with pytest.raises(NoAuthError):
        zk.create("/parent/kid2")
    zk.delete("/parent/kid")


def test_ip_acl(zk_target):
    zk = zk_target.client()
    zk.create("/ip", b"", acl=[ACL(Permissions.READ, Id("world", "anyone")), ACL(31, Id("ip", "127.0.0.1"))])
    assert zk.set("/ip", b"local").version == 1  # the local client's connection carries ip:127.0.0.1
    zk.create("/ip-net", b"", acl=[ACL(31, Id("ip", "127.0.0.0/8"))])
    assert zk.get("/ip-net")[0] == b""
    zk.create("/ip-other", b"", acl=[ACL(31, Id("ip", "10.1.2.3"))])
    with pytest.raises(NoAuthError):
        zk.get("/ip-other")


def test_multiple_auths_on_one_connection(zk_target):
    zk = zk_target.client()
    zk.add_auth("digest", "alice:secret")
    zk.add_auth("digest", "bob:pw")
    zk.create("/both", acl=[make_digest_acl("bob", "pw", read=True)])
    assert zk.get("/both")[0] == b""
    zk.create("/both2", acl=CREATOR_ALL_ACL)  # "auth" expands to every digest identity
    acls, _ = zk.get_acls("/both2")
    assert sorted(a.id.id.split(":")[0] for a in acls) == ["alice", "bob"]


def test_auth_is_replayed_after_reconnect(zk_target):
    zk = _alice(zk_target)
    zk.create("/replay", b"r", acl=[make_digest_acl("alice", "secret", all=True)])
    states = Events()
    zk.add_listener(states)
    zk_target.drop_connection(zk)
    states.wait_until(lambda s: s[-1:] == [KazooState.CONNECTED])
    assert zk.get("/replay")[0] == b"r"


def test_unknown_auth_scheme_fails_and_closes(zk_target):
    zk = zk_target.client()
    states = Events()
    zk.add_listener(states)
    with pytest.raises(AuthFailedError):
        zk.add_auth("nosuchscheme", "whatever")
    # kazoo reports AUTH_FAILED as a lost session; the server closes the connection
    assert states.wait_until(lambda s: KazooState.LOST in s) == [KazooState.LOST]


def test_watch_events_are_filtered_by_read_acl(zk_target):
    """Debian's 3.8.0 carries the CVE-2024-23944 fix like 3.9.2+: events for nodes a watcher may not read
    are dropped."""
    alice = _alice(zk_target)
    anon = zk_target.client()
    hidden, public = Events(), Events()
    assert anon.exists("/priv", watch=hidden) is None
    assert anon.exists("/pub", watch=public) is None
    alice.create("/priv", acl=[make_digest_acl("alice", "secret", all=True)])
    alice.create("/pub")
    assert [(e.type, e.path) for e in public.wait_for(1)] == [(EventType.CREATED, "/pub")]
    anon.sync("/")
    assert hidden.items == []

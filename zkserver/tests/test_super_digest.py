"""The configurable super digest, driven by kazoo: a super user passes every ACL, others do not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_digest_acl

from zkserver.acl import digest
from zkserver.testing import RunningZkServer


def test_super_user_reads_and_writes_through_any_acl(zk_server_factory: Callable[..., RunningZkServer]) -> None:
    server = zk_server_factory(super_digest=digest("super:letmein"))
    owner, stranger, admin = (KazooClient(server.hosts) for _ in range(3))
    for client in (owner, stranger, admin):
        client.start(timeout=10)
    try:
        owner.add_auth("digest", "alice:secret")
        owner.create("/private", b"data", acl=[make_digest_acl("alice", "secret", all=True)])
        with pytest.raises(NoAuthError):
            stranger.get("/private")
        stranger.add_auth("digest", "super:wrong")  # a digest that is not the super one
        with pytest.raises(NoAuthError):
            stranger.get("/private")
        admin.add_auth("digest", "super:letmein")
        assert admin.get("/private")[0] == b"data"
        admin.set("/private", b"changed")
        admin.delete("/private")
        assert owner.exists("/private") is None
    finally:
        for client in (owner, stranger, admin):
            client.stop()

"""The lose_reply fault on the ZooKeeper server: the write happens, the client never hears of it."""

from __future__ import annotations

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss, NodeExistsError

from zkserver.testing import RunningZkServer
from wire.zk.constants import OpCode


def test_a_create_whose_reply_is_lost_is_applied_and_a_retry_sees_node_exists(zk_server: RunningZkServer) -> None:
    client = KazooClient(hosts=zk_server.hosts, timeout=5)
    client.start(timeout=10)
    try:
        zk_server.lose_reply_next(OpCode.create, 1)
        with pytest.raises(ConnectionLoss):
            client.create("/lost", b"v")  # the connection closes instead of the reply
        client.ensure_path("/")  # kazoo reconnects
        assert client.get("/lost")[0] == b"v"  # applied, although never acknowledged
        with pytest.raises(NodeExistsError):
            client.create("/lost", b"again")
    finally:
        client.stop()
        client.close()

"""The test-double controls through the zk_server fixture, driven by kazoo: fail, drop, delay, expire."""

from __future__ import annotations

import threading
import time

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import ConnectionLoss, NoAuthError

from wire.zk.protocol import Code, OpCode
from zkserver.testing import RunningZkServer


def connect(server: RunningZkServer) -> KazooClient:
    client = KazooClient(server.hosts, timeout=5.0)
    client.start(timeout=10)
    return client


def test_fail_next_answers_with_the_given_error_without_executing(zk_server: RunningZkServer) -> None:
    client = connect(zk_server)
    try:
        zk_server.fail_next(OpCode.create, Code.NOAUTH, count=2)
        for _ in range(2):
            with pytest.raises(NoAuthError):
                client.create("/x")
        assert client.exists("/x") is None  # the failed requests were not executed
        client.create("/x")  # the third create goes through
        assert client.exists("/x") is not None
    finally:
        client.stop()


def test_drop_next_closes_the_connection_and_the_session_survives(zk_server: RunningZkServer) -> None:
    client = connect(zk_server)
    try:
        states: list[KazooState] = []
        back = threading.Event()

        def listener(state: KazooState) -> None:
            states.append(state)
            if state == KazooState.CONNECTED:
                back.set()

        client.add_listener(listener)
        session = client.client_id[0]
        zk_server.drop_next(OpCode.getData)
        with pytest.raises(ConnectionLoss):
            client.get("/zookeeper")
        assert back.wait(10)
        assert states[0] == KazooState.SUSPENDED and client.client_id[0] == session
        assert client.get("/zookeeper")[0] == b""
    finally:
        client.stop()


def test_added_latency_delays_replies(zk_server: RunningZkServer) -> None:
    client = connect(zk_server)
    try:
        zk_server.add_latency(0.3)
        start = time.monotonic()
        client.exists("/")
        assert time.monotonic() - start >= 0.3
        zk_server.add_latency(0)
    finally:
        client.stop()


def test_latency_for_one_opcode_holds_only_those_requests(zk_server: RunningZkServer) -> None:
    client = connect(zk_server)
    try:
        client.create("/slow", b"0")
        zk_server.add_latency(0.5, OpCode.setData)
        start = time.monotonic()
        client.exists("/slow")
        client.get("/slow")
        assert time.monotonic() - start < 0.5  # reads are not held
        start = time.monotonic()
        client.set("/slow", b"1")
        assert time.monotonic() - start >= 0.5
        zk_server.add_latency(0, OpCode.setData)
    finally:
        client.stop()


def test_expire_session_server_side(zk_server: RunningZkServer) -> None:
    owner, other = connect(zk_server), connect(zk_server)
    try:
        owner.create("/eph", ephemeral=True)
        lost = threading.Event()
        owner.add_listener(lambda s: lost.set() if s == KazooState.LOST else None)
        gone = threading.Event()
        other.exists("/eph", watch=lambda event: gone.set())
        expired = owner.client_id[0]
        zk_server.expire_session(expired)
        assert gone.wait(10) and lost.wait(10)  # kazoo reports a server-side expiry as LOST
        assert other.exists("/eph") is None
        assert expired not in zk_server.session_ids()
    finally:
        owner.stop()
        other.stop()

"""The trio shell over in-memory streams with a mock clock: handshake, pipelining, 4lw, expiry in zero wall time."""

from __future__ import annotations

import struct

import trio
import trio.testing

from wire.framing import FrameBuffer, frame
from wire.zk import records as R
from wire.zk.protocol import Code, EventType, OpCode, decode_reply, encode_request
from zkserver.config import ZkConfig
from zkserver.server import ZkServer

OPEN = [R.ACL(31, R.Id("world", "anyone"))]


class Peer:
    """A raw client on one end of a memory stream pair."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.frames = FrameBuffer()

    async def send(self, payload: bytes) -> None:
        await self.stream.send_all(frame(payload))

    async def frame(self) -> bytes:
        while (payload := self.frames.next_frame()) is None:
            data = await self.stream.receive_some(65536)
            self.frames.feed(data)
            if not data:
                raise EOFError
        return payload

    async def connect(self, timeout: int = 1000, read_only: bool | None = False) -> R.ConnectResponse:
        await self.send(R.ConnectRequest(0, 0, timeout, 0, b"\0" * 16, read_only).encode())
        return R.ConnectResponse.decode(await self.frame())


async def start(nursery: trio.Nursery, **cfg: object) -> ZkServer:
    server = ZkServer(ZkConfig(tick_time_ms=100, four_letter_whitelist=("*",), **cfg))  # type: ignore[arg-type]
    await nursery.start(lambda task_status: server.serve(listen=False, task_status=task_status))
    return server


def open_peer(nursery: trio.Nursery, server: ZkServer) -> Peer:
    client_end, server_end = trio.testing.memory_stream_pair()
    nursery.start_soon(server.handle_stream, server_end)
    return Peer(client_end)


async def test_handshake_mirrors_the_optional_read_only_byte() -> None:
    async with trio.open_nursery() as nursery:
        server = await start(nursery)
        with_flag = open_peer(nursery, server)
        await with_flag.send(R.ConnectRequest(0, 0, 1000, 0, b"\0" * 16, False).encode())
        assert len(await with_flag.frame()) == 37
        without = open_peer(nursery, server)
        await without.send(R.ConnectRequest(0, 0, 1000, 0, b"\0" * 16, None).encode())
        reply = await without.frame()
        assert len(reply) == 36
        assert R.ConnectResponse.decode(reply).read_only is None
        server.stop()


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with trio.open_nursery() as nursery:
        server = await start(nursery)
        peer = open_peer(nursery, server)
        await peer.connect()
        burst = b"".join(frame(encode_request(100 + i, OpCode.create, R.CreateRequest(f"/n{i}", b"", OPEN, 0)))
                         for i in range(5))
        await peer.stream.send_all(burst)
        xids = []
        for _ in range(5):
            header, body = decode_reply(await peer.frame(), OpCode.create)
            xids.append(header.xid)
        assert xids == [100, 101, 102, 103, 104]
        server.stop()


async def test_four_letter_word_replies_in_text_and_closes() -> None:
    async with trio.open_nursery() as nursery:
        server = await start(nursery)
        peer = open_peer(nursery, server)
        await peer.stream.send_all(b"ruok")
        assert await peer.stream.receive_some(100) == b"imok"
        assert await peer.stream.receive_some(100) == b""
        server.stop()


async def test_oversized_frame_closes_without_reply() -> None:
    async with trio.open_nursery() as nursery:
        server = await start(nursery)
        peer = open_peer(nursery, server)
        await peer.connect()
        big = encode_request(1, OpCode.create, R.CreateRequest("/big", b"x" * (1024 * 1024 + 10), OPEN, 0))
        await peer.send(big)
        assert await peer.stream.receive_some(100) == b""
        server.stop()


async def test_session_expiry_runs_on_the_mock_clock(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        server = await start(nursery)
        owner, watcher = open_peer(nursery, server), open_peer(nursery, server)
        await owner.connect(timeout=2000)
        await watcher.connect(timeout=40000)
        await owner.send(encode_request(1, OpCode.create, R.CreateRequest("/eph", b"", OPEN, 1)))
        assert decode_reply(await owner.frame(), OpCode.create)[0].err == 0
        await watcher.send(encode_request(1, OpCode.exists, R.ExistsRequest("/eph", True)))
        await watcher.frame()
        start_time = trio.current_time()
        header, event = decode_reply(await watcher.frame(), 0)  # waits until the owner's session expires
        elapsed = trio.current_time() - start_time
        assert header.xid == -1 and event.type == EventType.NodeDeleted and event.path == "/eph"
        assert 2.0 <= elapsed <= 2.2  # between timeout and timeout + tickTime
        server.stop()


async def test_unknown_opcode_gets_unimplemented_then_close() -> None:
    async with trio.open_nursery() as nursery:
        server = await start(nursery)
        peer = open_peer(nursery, server)
        await peer.connect()
        await peer.send(struct.pack(">ii", 7, 4242))
        header, _ = decode_reply(await peer.frame(), 4242)
        assert (header.xid, header.err, header.zxid) == (7, Code.UNIMPLEMENTED, -1)
        assert await peer.stream.receive_some(100) == b""
        server.stop()


async def test_an_internal_error_costs_only_its_connection() -> None:
    async with trio.open_nursery() as nursery:
        server = await start(nursery)
        assert server.core is not None
        real_handle = server.core.handle

        def broken(client, xid, op, record, now):  # type: ignore[no-untyped-def]
            if op == OpCode.getData:
                raise RuntimeError("a bug in a handler")
            return real_handle(client, xid, op, record, now)

        server.core.handle = broken  # type: ignore[method-assign]
        victim, bystander = open_peer(nursery, server), open_peer(nursery, server)
        await victim.connect()
        await bystander.connect()
        await victim.send(encode_request(1, OpCode.getData, R.GetDataRequest("/", False)))
        assert await victim.stream.receive_some(100) == b""  # closed, no reply
        await bystander.send(encode_request(1, OpCode.exists, R.ExistsRequest("/", False)))
        header, body = decode_reply(await bystander.frame(), OpCode.exists)
        assert header.err == 0 and body.stat.num_children >= 1
        server.stop()

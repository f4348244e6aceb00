"""A small trio-native Kafka client on ``wire.kafka``: one connection, one request in flight at a time.

What a follower needs to talk to its leader: ``request(api_key, version, body)``
sends a framed request (header v1/v2 as the version requires) and returns the
decoded response body, checking the correlation id.
"""

from __future__ import annotations

import trio

from wire.framing import FrameBuffer, frame
from wire.kafka._message import Message
from wire.kafka.codec import decode_response, encode_request
from wire.kafka.headers import RequestHeader

RECEIVE_SIZE = 1 << 18


class ProtocolError(Exception):
    """The peer answered something we cannot use (a correlation id mismatch)."""


class KafkaConnection:
    def __init__(self, stream: trio.abc.Stream, client_id: str) -> None:
        self.stream = stream
        self.client_id = client_id
        self._frames = FrameBuffer()
        self._next_correlation = 1

    @classmethod
    async def open(cls, host: str, port: int, client_id: str) -> KafkaConnection:
        stream = await trio.open_tcp_stream(host, port)
        return cls(stream, client_id)

    async def request(self, api_key: int, version: int, body: Message) -> Message:
        correlation = self._next_correlation
        self._next_correlation = correlation % 0x7FFFFFFF + 1
        header = RequestHeader(api_key, version, correlation, self.client_id)
        await self.stream.send_all(frame(encode_request(header, body)))
        while True:
            payload = self._frames.next_frame()
            if payload is not None:
                break
            data = await self.stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise trio.BrokenResourceError("the leader closed the connection")
            self._frames.feed(data)
        resp_header, resp = decode_response(payload, api_key, version)
        if resp_header.correlation_id != correlation:
            raise ProtocolError(f"correlation id {resp_header.correlation_id}, expected {correlation}")
        return resp

    async def aclose(self) -> None:
        await self.stream.aclose()

"""One client connection's protocol state, sans-IO, in the h11 style.

``receive_data(bytes)`` buffers (``b""`` is end of input); ``next_event()``
returns the next thing the shell must act on, in order:

* ``Incoming(ctx, request)``: a decoded request for the core;
* ``Reply(bytes)``: a frame to send that needed no core (the KIP-511 answer to
  an ApiVersions version we do not support);
* ``Close(reason)``: the connection must be closed (malformed or oversized
  frame, unknown API key or version, peer hung up);
* ``None``: more data is needed.

``respond(ctx, message)`` encodes a response frame with the header version the
API and version call for. A malformed frame is the peer's fault: it closes this
connection and nothing else. Bytes after a complete request body are ignored, as
Kafka ignores them (librdkafka's all-topics Metadata carries three).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from broker.core import RequestContext
from broker.handlers import REGISTRY
from broker.handlers.api_versions import unsupported_version_response
from wire.errors import DecodeError, FrameTooLargeError, TrailingBytesError
from wire.framing import FrameBuffer, frame
from wire.kafka._message import Message
from wire.kafka.codec import (
    DecodedRequest, UnsupportedRequestError, decode_request, decode_request_header, encode_response,
)
from wire.kafka.messages import APIS
from wire.primitives import Buffer

log = logging.getLogger("broker.connection")

API_VERSIONS = 18
MAX_REQUEST = 100 * 1024 * 1024  # socket.request.max.bytes


@dataclass
class Incoming:
    ctx: RequestContext
    request: Message


@dataclass
class Reply:
    data: bytes


@dataclass
class Close:
    reason: str


Event = Incoming | Reply | Close | None


def _decode_ignoring_tail(payload: Buffer) -> DecodedRequest:
    """Kafka reads a request body and ignores any bytes after it. librdkafka relies on that: its all-topics
    Metadata v9+ keeps a 4-byte placeholder where a 1-byte null compact array belongs, leaving 3 bytes over."""
    header, pos = decode_request_header(payload)
    return DecodedRequest(header, APIS[header.api_key].request.decode(payload, header.api_version, pos=pos,
                                                                      whole=False))


class BrokerConnection:
    def __init__(self, node_id: int, connection_id: int = 0, client_host: str = "127.0.0.1",
                 max_request: int = MAX_REQUEST) -> None:
        self.node_id = node_id
        self.connection_id = connection_id
        self.client_host = client_host
        self.frames = FrameBuffer(max_request)
        self.closed = False

    def receive_data(self, data: bytes | bytearray) -> None:
        self.frames.feed(data)

    def next_event(self) -> Event:
        if self.closed:
            return None
        try:
            payload = self.frames.next_frame()
        except FrameTooLargeError as exc:
            return self._close(f"request too large: {exc}")
        except DecodeError as exc:
            return self._close(f"bad frame: {exc}")
        if payload is None:
            if self.frames.at_eof:
                self.closed = True
                return Close("peer closed the connection")
            return None
        try:
            try:
                decoded = decode_request(payload)
            except TrailingBytesError:
                decoded = _decode_ignoring_tail(payload)
        except UnsupportedRequestError as exc:
            header = exc.header
            if header.api_key == API_VERSIONS:
                return Reply(frame(encode_response(header.correlation_id, API_VERSIONS, 0,
                                                   unsupported_version_response())))
            return self._close(f"unsupported request: {exc} (client {header.client_id!r})")
        except DecodeError as exc:
            return self._close(f"malformed request: {exc}")
        header = decoded.header
        reg = REGISTRY.get(header.api_key)
        if reg is None or not reg.min_version <= header.api_version <= reg.max_version:
            if header.api_key == API_VERSIONS:
                return Reply(frame(encode_response(header.correlation_id, API_VERSIONS, 0,
                                                   unsupported_version_response())))
            return self._close(f"API key {header.api_key} v{header.api_version} is not served "
                               f"(client {header.client_id!r})")
        ctx = RequestContext(self.node_id, header, self.connection_id, self.client_host)
        return Incoming(ctx, decoded.body)

    def respond(self, ctx: RequestContext, message: Message) -> bytes:
        h = ctx.header
        return frame(encode_response(h.correlation_id, h.api_key, h.api_version, message))

    def _close(self, reason: str) -> Close:
        log.warning("closing connection %d from %s: %s", self.connection_id, self.client_host, reason)
        self.closed = True
        return Close(reason)

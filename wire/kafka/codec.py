"""Whole Kafka request and response payloads: header plus body, in both directions.

A payload is a frame without its 4-byte length prefix (see ``wire.framing``).
Servers use ``decode_request`` and ``encode_response``; clients use
``encode_request`` and ``decode_response``. Decoding raises only DecodeErrors;
``UnsupportedRequestError`` carries the already-decoded header so a server can
still answer (for example ApiVersions' KIP-511 fallback) or log the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from wire.errors import DecodeError, TrailingBytesError, UnsupportedVersionError
from wire.kafka._message import Message
from wire.kafka.headers import RequestHeader, ResponseHeader, request_header_version, response_header_version
from wire.kafka.messages import APIS
from wire.primitives import Buffer, decoding_errors


class UnsupportedRequestError(UnsupportedVersionError):
    """A request whose API key or version we cannot decode. ``header`` is what we could read."""

    def __init__(self, message: str, header: RequestHeader) -> None:
        super().__init__(message)
        self.header = header


@dataclass(slots=True)
class DecodedRequest:
    header: RequestHeader
    body: Message

    @property
    def api_key(self) -> int:
        return self.header.api_key

    @property
    def api_version(self) -> int:
        return self.header.api_version


def decode_request_header(payload: Buffer) -> tuple[RequestHeader, int]:
    with decoding_errors("request header"):
        return RequestHeader.decode_from(payload, 0)


def decode_request(payload: Buffer) -> DecodedRequest:
    """Decode a request payload (header and body) as a server receives it."""
    header, pos = decode_request_header(payload)
    info = APIS.get(header.api_key)
    if info is None:
        raise UnsupportedRequestError(f"unknown API key {header.api_key}", header)
    if header.api_version not in info.versions:
        raise UnsupportedRequestError(
            f"{info.request_name} has no version {header.api_version} "
            f"(known {info.min_version}-{info.max_version})",
            header,
        )
    body = info.request.decode(payload, header.api_version, pos=pos)
    return DecodedRequest(header, body)


def encode_request(header: RequestHeader, body: Message) -> bytes:
    out = bytearray()
    header.encode_into(out)
    body.encode_into(out, header.api_version)
    return bytes(out)


def encode_response(correlation_id: int, api_key: int, api_version: int, body: Message) -> bytes:
    out = bytearray()
    ResponseHeader(correlation_id).encode_into(out, response_header_version(api_key, api_version))
    body.encode_into(out, api_version)
    return bytes(out)


def decode_response(payload: Buffer, api_key: int, api_version: int) -> tuple[ResponseHeader, Message]:
    """Decode a response payload as a client receives it, knowing what it asked."""
    info = APIS.get(api_key)
    if info is None or api_version not in info.versions:
        raise UnsupportedVersionError(f"no response schema for API key {api_key} version {api_version}")
    with decoding_errors("response header"):
        header, pos = ResponseHeader.decode_from(payload, response_header_version(api_key, api_version))
    body = info.response.decode(payload, api_version, pos=pos)
    return header, body


__all__ = [
    "DecodeError",
    "DecodedRequest",
    "TrailingBytesError",
    "UnsupportedRequestError",
    "decode_request",
    "decode_request_header",
    "decode_response",
    "encode_request",
    "encode_response",
    "request_header_version",
]

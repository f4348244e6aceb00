"""Kafka request and response headers, and the rules that pick their versions.

Hand-written (the header schemas are tiny and have one odd rule each):

* Request header v0: api_key int16, api_version int16, correlation_id int32.
  v1 adds client_id, a classic int16-length nullable string *even in v2*
  (its ``flexibleVersions`` is "none"). v2 adds a tagged-field section.
  A request uses v2 when its body version is flexible, else v1;
  ControlledShutdown v0 alone uses v0.
* Response header v0: correlation_id int32. v1 adds a tagged-field section and
  is used when the response body version is flexible, except that
  ApiVersions responses always use v0 (KIP-511).

Flexibility is decided by the lowest flexible version ("N+"), so a request at a
version newer than any we know still gets the right header version; that is how
Kafka reads an ApiVersions request it cannot otherwise parse.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from wire.errors import EncodeError
from wire.kafka._tagged import read_unknown_tagged_fields, write_tagged_fields
from wire.kafka.messages import APIS
from wire.primitives import INT32, Buffer, encoding_errors, read_string16, write_string16

API_VERSIONS_KEY = 18
CONTROLLED_SHUTDOWN_KEY = 7

_KEY_VERSION_CORRELATION = struct.Struct(">hhi")


def _first_flexible(versions: frozenset[int]) -> int | None:
    return min(versions) if versions else None


_REQUEST_FLEXIBLE_FROM = {key: _first_flexible(info.request_flexible_versions) for key, info in APIS.items()}
_RESPONSE_FLEXIBLE_FROM = {key: _first_flexible(info.response_flexible_versions) for key, info in APIS.items()}


def request_header_version(api_key: int, api_version: int) -> int:
    """0, 1 or 2. Unknown API keys are treated as non-flexible (v1)."""
    if api_key == CONTROLLED_SHUTDOWN_KEY and api_version == 0:
        return 0
    first = _REQUEST_FLEXIBLE_FROM.get(api_key)
    return 2 if first is not None and api_version >= first else 1


def response_header_version(api_key: int, api_version: int) -> int:
    """0 or 1; ApiVersions responses are always v0."""
    if api_key == API_VERSIONS_KEY:
        return 0
    first = _RESPONSE_FLEXIBLE_FROM.get(api_key)
    return 1 if first is not None and api_version >= first else 0


@dataclass(slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None = None
    unknown_tagged_fields: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def version(self) -> int:
        """The header version this request travels with."""
        return request_header_version(self.api_key, self.api_version)

    def encode_into(self, out: bytearray, header_version: int | None = None) -> None:
        hv = self.version if header_version is None else header_version
        with encoding_errors("request header"):
            out += _KEY_VERSION_CORRELATION.pack(self.api_key, self.api_version, self.correlation_id)
        if hv >= 1:
            write_string16(out, self.client_id, nullable=True)
        elif self.client_id is not None:
            raise EncodeError("request header v0 cannot carry a client id")
        if hv >= 2:
            write_tagged_fields(out, [], self.unknown_tagged_fields)
        elif self.unknown_tagged_fields:
            raise EncodeError(f"request header v{hv} has no tagged fields")

    @classmethod
    def decode_from(cls, buf: Buffer, pos: int = 0) -> tuple[RequestHeader, int]:
        """Read a request header, choosing its version from the api key and version it carries."""
        api_key, api_version, correlation_id = _KEY_VERSION_CORRELATION.unpack_from(buf, pos)
        pos += 8
        header = cls(api_key, api_version, correlation_id)
        hv = request_header_version(api_key, api_version)
        if hv >= 1:
            header.client_id, pos = read_string16(buf, pos, nullable=True)
        if hv >= 2:
            header.unknown_tagged_fields, pos = read_unknown_tagged_fields(buf, pos, "RequestHeader")
        return header, pos


@dataclass(slots=True)
class ResponseHeader:
    correlation_id: int
    unknown_tagged_fields: list[tuple[int, bytes]] = field(default_factory=list)

    def encode_into(self, out: bytearray, header_version: int) -> None:
        with encoding_errors("response header"):
            out += INT32.pack(self.correlation_id)
        if header_version >= 1:
            write_tagged_fields(out, [], self.unknown_tagged_fields)
        elif self.unknown_tagged_fields:
            raise EncodeError("response header v0 has no tagged fields")

    @classmethod
    def decode_from(cls, buf: Buffer, header_version: int, pos: int = 0) -> tuple[ResponseHeader, int]:
        (correlation_id,) = INT32.unpack_from(buf, pos)
        pos += 4
        header = cls(correlation_id)
        if header_version >= 1:
            header.unknown_tagged_fields, pos = read_unknown_tagged_fields(buf, pos, "ResponseHeader")
        return header, pos


def peek_api_key_version(buf: Buffer) -> tuple[int, int, int] | None:
    """(api_key, api_version, correlation_id) of a request frame, or None if it is shorter than 8 bytes."""
    if len(buf) < 8:
        return None
    key, version, corr = _KEY_VERSION_CORRELATION.unpack_from(buf, 0)
    return int(key), int(version), int(corr)


__all__ = [
    "RequestHeader",
    "ResponseHeader",
    "peek_api_key_version",
    "request_header_version",
    "response_header_version",
]

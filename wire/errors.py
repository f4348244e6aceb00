"""The error families of the wire layer.

Two families, never mixed:

* ``DecodeError`` and its subclasses: the bytes we were given are wrong. This is
  the peer's fault; a server answers with a protocol error or closes the
  connection, and never crashes.
* ``EncodeError``: we were asked to encode something the chosen version or type
  cannot carry. This is our own misuse (a bug in the caller).

Every decoder in ``wire`` raises only ``DecodeError`` (or a subclass) on bad
input; the fuzz tests in ``wire/tests`` hold that invariant.
"""

from __future__ import annotations


class WireError(Exception):
    """Base of every error raised by the wire layer."""


class DecodeError(WireError, ValueError):
    """Malformed input from the peer."""


class TruncatedError(DecodeError):
    """The input ended before the value being read was complete."""


class TrailingBytesError(DecodeError):
    """A message decoded completely but bytes were left over."""


class MalformedError(DecodeError):
    """The bytes are complete but not a valid encoding (bad length, varint, UTF-8, ...)."""


class FrameTooLargeError(DecodeError):
    """A length prefix announced a frame larger than the configured maximum."""

    def __init__(self, size: int, maximum: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the maximum of {maximum} bytes")
        self.size = size
        self.maximum = maximum


class UnsupportedVersionError(DecodeError):
    """An API key, API version or record format we do not know how to decode."""


class CorruptRecordError(DecodeError):
    """A record batch or message set whose checksum or framing is wrong."""


class EncodeError(WireError, ValueError):
    """A value cannot be encoded as asked (our misuse, not the peer's)."""

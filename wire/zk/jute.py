"""The base class of every generated jute record: whole-buffer decode, encode, and the wire error family.

``JuteRecord.decode`` needs the record to fill the buffer exactly
(``TrailingBytesError`` otherwise); ``decode_from`` reads one record at a position
and returns where it ended. Decoding raises only ``DecodeError`` subclasses;
encoding a value of the wrong type or out of range raises ``EncodeError``.
"""

from __future__ import annotations

import struct

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from wire.errors import EncodeError, TrailingBytesError
from wire.primitives import Buffer, decoding_errors

__all__ = ["JuteRecord", "wrong_type"]

R = TypeVar("R", bound="JuteRecord")


def wrong_type(where: str, expected: str, value: object) -> EncodeError:
    return EncodeError(f"{where}: expected {expected}, got {type(value).__name__}")


class JuteRecord:
    __slots__ = ()
    _read: ClassVar[Callable[[Buffer, int], tuple[Any, int]]]
    _write: ClassVar[Callable[[bytearray, Any], None]]

    @classmethod
    def decode(cls: type[R], buf: Buffer, pos: int = 0) -> R:
        """Decode a record that must fill the buffer from ``pos`` to the end."""
        obj, end = cls.decode_from(buf, pos)
        if end != len(buf):
            raise TrailingBytesError(f"{cls.__name__}: {len(buf) - end} bytes left after the record")
        return obj

    @classmethod
    def decode_from(cls: type[R], buf: Buffer, pos: int = 0) -> tuple[R, int]:
        """Decode one record starting at ``pos``; returns it and the position after it."""
        try:  # inline rather than decoding_errors(): this runs for every request and reply
            obj, end = cls._read(buf, pos)
        except (struct.error, UnicodeDecodeError):
            with decoding_errors(cls.__name__):
                raise
        return obj, end

    def encode(self) -> bytes:
        out = bytearray()
        self.encode_into(out)
        return bytes(out)

    def encode_into(self, out: bytearray) -> None:
        """Append the encoding to ``out``; on EncodeError, ``out`` may hold a partial record."""
        try:
            type(self)._write(out, self)
        except struct.error as exc:
            raise EncodeError(f"{type(self).__name__}: {exc}") from None
        except UnicodeEncodeError as exc:  # a lone surrogate in a str
            raise EncodeError(f"{type(self).__name__}: string is not encodable as UTF-8 ({exc.reason})") from None

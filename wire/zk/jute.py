"""The base of every generated jute record: whole-buffer decode and encode with the wire error family."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from wire.errors import TrailingBytesError
from wire.primitives import Buffer, decoding_errors, encoding_errors

R = TypeVar("R", bound="JuteRecord")


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
        with decoding_errors(cls.__name__):
            obj, end = cls._read(buf, pos)
        return obj, end  # type: ignore[no-any-return]

    def encode(self) -> bytes:
        out = bytearray()
        self.encode_into(out)
        return bytes(out)

    def encode_into(self, out: bytearray) -> None:
        with encoding_errors(type(self).__name__):
            type(self)._write(out, self)

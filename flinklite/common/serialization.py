"""Owns the (de)serialization schemas the connectors take: SimpleStringSchema (UTF-8 text),
ByteArraySchema (raw bytes), and the two base classes for user schemas."""

from __future__ import annotations

from typing import Any


class SerializationSchema:
    """Turns a value into bytes for a sink."""

    def serialize(self, value: Any) -> bytes:
        raise NotImplementedError


class DeserializationSchema:
    """Turns bytes from a source into a value."""

    def deserialize(self, message: bytes) -> Any:
        raise NotImplementedError


class SimpleStringSchema(SerializationSchema, DeserializationSchema):
    """Strings as encoded bytes (UTF-8 unless told otherwise)."""

    def __init__(self, charset: str = "UTF-8") -> None:
        self.charset = charset

    def serialize(self, value: Any) -> bytes:
        return str(value).encode(self.charset)

    def deserialize(self, message: bytes) -> Any:
        return message.decode(self.charset)


class ByteArraySchema(SerializationSchema, DeserializationSchema):
    """Bytes as they are."""

    def serialize(self, value: Any) -> bytes:
        return bytes(value)

    def deserialize(self, message: bytes) -> Any:
        return bytes(message)


class Encoder:
    """Row encoder for file sinks (kept for import compatibility)."""

    def __init__(self, charset: str = "UTF-8") -> None:
        self.charset = charset

    @staticmethod
    def simple_string_encoder(charset_name: str = "UTF-8") -> Encoder:
        return Encoder(charset_name)

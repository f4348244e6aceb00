"""Writing the tagged-field section that ends every struct in a flexible version."""

from __future__ import annotations

from wire.errors import EncodeError, TruncatedError
from wire.primitives import Buffer, read_uvarint, write_uvarint


def write_tagged_fields(out: bytearray, known: list[tuple[int, bytes]], unknown: list[tuple[int, bytes]]) -> None:
    """Write known and round-tripped unknown tagged fields in ascending tag order."""
    fields = known + list(unknown) if unknown else known
    if unknown:
        fields.sort(key=lambda item: item[0])
        tags = [tag for tag, _ in fields]
        if len(set(tags)) != len(tags):
            raise EncodeError(f"duplicate tagged field among tags {tags}")
    write_uvarint(out, len(fields))
    for tag, data in fields:
        write_uvarint(out, tag)
        write_uvarint(out, len(data))
        out += data


def read_unknown_tagged_fields(buf: Buffer, pos: int, where: str) -> tuple[list[tuple[int, bytes]], int]:
    """Read a tagged-field section in which no tag is known: keep every field as raw bytes."""
    count, pos = read_uvarint(buf, pos)
    fields: list[tuple[int, bytes]] = []
    for _ in range(count):
        tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        end = pos + size
        if end > len(buf):
            raise TruncatedError(f"{where}: tagged field {tag} runs past the end")
        fields.append((tag, bytes(buf[pos:end])))
        pos = end
    return fields, pos

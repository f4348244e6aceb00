"""Compression codecs: round trips, both snappy wire forms, LZ4 header-checksum quirk, bombs, garbage."""

from __future__ import annotations

import gzip
import os
import zlib

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.errors import DecodeError, MalformedError, TruncatedError
from wire.kafka import compression as c
from wire.kafka.compression import CompressionType, DecompressionLimitError

CODECS = [CompressionType.GZIP, CompressionType.SNAPPY, CompressionType.LZ4, CompressionType.ZSTD]
TEXT = b"".join(b"record %d: the quick brown fox jumps over the lazy dog. " % i for i in range(3000))


@pytest.mark.parametrize("codec", list(CompressionType))
@given(data=st.binary(max_size=3000))
@settings(max_examples=30, deadline=None)
def test_round_trip(codec: CompressionType, data: bytes) -> None:
    assert c.decompress(codec, c.compress(codec, data)) == data


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_large_multi_block(codec: CompressionType) -> None:
    data = TEXT + os.urandom(200_000) + TEXT  # several LZ4 64 KiB blocks, xerial 32 KiB blocks, incompressible parts
    packed = c.compress(codec, data)
    assert c.decompress(codec, packed) == data
    assert c.decompress(codec, memoryview(bytearray(packed))) == data


def test_snappy_wire_forms() -> None:
    xerial = c.snappy_compress(TEXT, xerial=True)
    raw = c.snappy_compress(TEXT, xerial=False)
    assert xerial[:8] == bytes.fromhex("82534e4150505900")
    assert xerial[8:16] == b"\x00\x00\x00\x01\x00\x00\x00\x01"
    assert c.is_xerial_snappy(xerial) and not c.is_xerial_snappy(raw)
    assert c.snappy_decompress(xerial) == TEXT
    assert c.snappy_decompress(raw) == TEXT
    assert c.snappy_decompress(c.XERIAL_MAGIC + b"\x00\x00\x00\x01\x00\x00\x00\x01") == b""  # header only
    # the raw form is the plain snappy block format (cramjam's compress_raw reads it back)
    assert bytes(cramjam.snappy.decompress_raw(raw)) == TEXT


def test_lz4_frame_layout_matches_kafka_java() -> None:
    frame = c.lz4_compress(b"abc" * 10)
    assert frame[:4] == b"\x04\x22\x4d\x18"
    assert frame[4:6] == b"\x60\x40"  # version 01 + independent blocks; 64 KiB max block
    assert frame[6] == (c.xxh32(b"\x60\x40") >> 8) & 0xFF
    assert frame.endswith(b"\x00\x00\x00\x00")
    assert bytes(cramjam.lz4.decompress(frame)) == b"abc" * 10  # a standard decoder agrees


def test_lz4_broken_header_checksum_of_magic_0() -> None:
    broken = c.lz4_compress(TEXT, broken_header_checksum=True)
    assert broken[6] == (c.xxh32(broken[:6]) >> 8) & 0xFF
    with pytest.raises(MalformedError):
        c.lz4_decompress(broken)
    assert c.lz4_decompress(broken, ignore_header_checksum=True) == TEXT
    assert c.decompress(CompressionType.LZ4, broken, lz4_ignore_header_checksum=True) == TEXT


def test_lz4_other_frame_flavours() -> None:
    # cramjam's own frames: linked blocks, block and content checksums
    for frame in (bytes(cramjam.lz4.compress(TEXT)), bytes(cramjam.lz4.compress(b""))):
        assert c.lz4_decompress(frame) in (TEXT, b"")
    comp = cramjam.lz4.Compressor(block_linked=False)
    comp.compress(TEXT)
    assert c.lz4_decompress(bytes(comp.finish())) == TEXT


def test_gzip_concatenated_members_and_stdlib_interop() -> None:
    two = gzip.compress(b"first ") + gzip.compress(b"second")
    assert c.gzip_decompress(two) == b"first second"
    assert gzip.decompress(c.gzip_compress(TEXT)) == TEXT
    with pytest.raises(MalformedError):
        c.gzip_decompress(gzip.compress(b"x") + b"trailing garbage")
    with pytest.raises(TruncatedError):
        c.gzip_decompress(gzip.compress(TEXT)[:-10])


def test_zstd_multiple_and_skippable_frames() -> None:
    frame = c.zstd_compress(b"one")
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"xyz"
    assert c.zstd_decompress(frame + skippable + c.zstd_compress(b"two")) == b"onetwo"


@pytest.mark.parametrize("codec", CODECS)
def test_decompression_bomb_is_bounded(codec: CompressionType) -> None:
    zeros = bytes(4 * 1024 * 1024)
    packed = c.compress(codec, zeros)
    assert len(packed) < len(zeros) // 20
    with pytest.raises(DecompressionLimitError):
        c.decompress(codec, packed, max_size=1024 * 1024)
    assert c.decompress(codec, packed, max_size=len(zeros)) == zeros
    with pytest.raises(DecompressionLimitError):
        c.decompress(codec, packed, max_size=len(zeros) - 1)


def test_bomb_bound_for_hand_made_frames() -> None:
    # raw snappy announcing a huge length is refused before any work
    with pytest.raises(DecompressionLimitError):
        c.snappy_decompress(b"\xff\xff\xff\xff\x0f" + b"\x00" * 10, max_size=1000)
    # a zstd RLE block regenerating 100 KiB from one byte
    fhd = bytes([0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x58])  # magic, FHD (no FCS, no single segment), window
    rle = (1 | (1 << 1) | (100 * 1024 << 3)).to_bytes(3, "little") + b"A"
    assert c.zstd_decompress(fhd + rle) == b"A" * 100 * 1024
    with pytest.raises(DecompressionLimitError):
        c.zstd_decompress(fhd + rle, max_size=1000)


def test_compression_type_names() -> None:
    assert CompressionType.from_name("zstd") is CompressionType.ZSTD
    assert CompressionType.from_name("None") is CompressionType.NONE
    with pytest.raises(ValueError):
        CompressionType.from_name("brotli")


@pytest.mark.parametrize(
    ("data", "seed", "expected"),
    [(b"", 0, 0x02CC5D05), (b"a", 0, 0x550D7456), (b"abc", 0, 0x32D153FF)],
)
def test_xxh32_known_values(data: bytes, seed: int, expected: int) -> None:
    assert c.xxh32(data, seed) == expected


def _decode_or_decode_error(codec: int, data: bytes) -> None:
    try:
        c.decompress(codec, data, max_size=1 << 20, lz4_ignore_header_checksum=bool(len(data) & 1))
    except DecodeError:
        pass


@pytest.mark.parametrize("codec", [0, *CODECS, 5, 7])
@given(data=st.binary(max_size=300))
@settings(max_examples=150, deadline=None)
def test_garbage_raises_only_decode_errors(codec: int, data: bytes) -> None:
    _decode_or_decode_error(codec, data)


@pytest.mark.parametrize("codec", CODECS)
@given(data=st.data())
@settings(max_examples=120, deadline=None)
def test_mutated_streams_raise_only_decode_errors(codec: CompressionType, data: st.DataObject) -> None:
    packed = bytearray(c.compress(codec, TEXT[: data.draw(st.integers(0, 3000))],
                                  snappy_xerial=data.draw(st.booleans())))
    for _ in range(data.draw(st.integers(1, 4))):
        if not packed:
            break
        pos = data.draw(st.integers(0, len(packed) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            packed[pos] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del packed[pos:]
        else:
            packed[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    _decode_or_decode_error(codec, bytes(packed))


def test_gzip_truncated_header_and_zlib_errors_are_decode_errors() -> None:
    for bad in (b"\x1f", b"\x1f\x8b", b"\x1f\x8b\x08\x00", zlib.compress(b"not gzip")):
        with pytest.raises(DecodeError):
            c.gzip_decompress(bad)

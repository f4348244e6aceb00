"""Owns the key -> key group -> subtask mapping, as PyFlink computes it: the hashCode of the
key as Flink sees it, Flink's murmur finaliser, modulo the max parallelism (128 by default),
then `key_group * parallelism // max_parallelism`.

PyFlink's key_by hands Java a one-field Row holding the key, and that Row's hashCode is 62 +
the field's hashCode (measured on PyFlink 2.3.0's org.apache.flink.types.Row). With a key_type
the field is the Java value (String, Integer, Long, Float, Double, Boolean, TupleN hash as in
Java); without one it is the pickled key, a byte[] hashed by content (Arrays.hashCode), and
cloudpickle gives pickle protocol 5's bytes for plain values, so that is reproducible too.
Checked against PyFlink's own KeyGroupRangeAssignment for both cases and end to end by the
parallel_keyed differential job and PyFlink's example jobs, whose "N> " prefixes match."""

from __future__ import annotations

import struct
import pickle
from functools import lru_cache
from typing import Any, Callable

DEFAULT_MAX_PARALLELISM = 128
_MASK = 0xFFFFFFFF


def _to_int32(value: int) -> int:
    value &= _MASK
    return value - (1 << 32) if value & 0x80000000 else value


def java_hash_code(key: Any) -> int:
    """The hashCode the Java counterpart of `key` would have (as a signed 32-bit int)."""
    if key is None:
        return 0
    if isinstance(key, bool):
        return 1231 if key else 1237
    if isinstance(key, int):
        if -(2**31) <= key < 2**31:
            return key
        unsigned = key & 0xFFFFFFFFFFFFFFFF
        return _to_int32(unsigned ^ (unsigned >> 32))
    if isinstance(key, str):
        h = 0
        data = key.encode("utf-16-be")
        for i in range(0, len(data), 2):
            h = (31 * h + ((data[i] << 8) | data[i + 1])) & _MASK
        return _to_int32(h)
    if isinstance(key, float):
        bits = struct.unpack(">q", struct.pack(">d", key))[0] & 0xFFFFFFFFFFFFFFFF
        return _to_int32(bits ^ (bits >> 32))
    if isinstance(key, (tuple, list)):
        h = 0
        for item in key:
            h = (31 * h + java_hash_code(item)) & _MASK
        return _to_int32(h)
    if isinstance(key, bytes):
        h = 1
        for byte in key:
            h = (31 * h + (byte - 256 if byte > 127 else byte)) & _MASK
        return _to_int32(h)
    return _to_int32(hash(key))


def _rotl(value: int, shift: int) -> int:
    value &= _MASK
    return ((value << shift) | (value >> (32 - shift))) & _MASK


def murmur_hash(code: int) -> int:
    """Flink's MathUtils.murmurHash: a non-negative int spread from a hashCode."""
    code &= _MASK
    code = (code * 0xCC9E2D51) & _MASK
    code = _rotl(code, 15)
    code = (code * 0x1B873593) & _MASK
    code = _rotl(code, 13)
    code = (code * 5 + 0xE6546B64) & _MASK
    code ^= 4
    code ^= code >> 16
    code = (code * 0x85EBCA6B) & _MASK
    code ^= code >> 13
    code = (code * 0xC2B2AE35) & _MASK
    code ^= code >> 16
    signed = _to_int32(code)
    if signed >= 0:
        return signed
    if signed != -(2**31):
        return -signed
    return 0


def typed_key_hash(key: Any) -> int:
    """hashCode of PyFlink's one-field key Row when key_by got a key_type (STRING, INT, ...)."""
    if key is None:
        return 31
    return _to_int32(62 + java_hash_code(key))


def pickled_key_hash(key: Any) -> int:
    """hashCode of PyFlink's key Row without a key_type: the key is pickled (cloudpickle, which
    gives pickle protocol 5's bytes for plain values) and the Row hashes the byte[] by content."""
    return _to_int32(62 + java_hash_code(pickle.dumps(key, protocol=5)))


def float_key_hash(key: Any) -> int:
    bits = struct.unpack(">i", struct.pack(">f", key))[0]
    return 31 if key is None else _to_int32(62 + bits)


def long_key_hash(key: Any) -> int:
    if key is None:
        return 31
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return _to_int32(62 + (unsigned ^ (unsigned >> 32)))


def key_hash_for(key_type: Any) -> Callable[[Any], int]:
    """The key hash PyFlink's partitioning applies for a key_by with this key_type."""
    name = getattr(key_type, "name", "PICKLED_BYTE_ARRAY")
    if key_type is None or name == "PICKLED_BYTE_ARRAY":
        return pickled_key_hash
    if name == "FLOAT":
        return float_key_hash
    if name == "LONG":
        return long_key_hash
    return typed_key_hash


@lru_cache(maxsize=1 << 16)
def _cached_key_group(key: Any, max_parallelism: int, key_hash: Callable[[Any], int]) -> int:
    return murmur_hash(key_hash(key)) % max_parallelism


def key_group_for(key: Any, max_parallelism: int = DEFAULT_MAX_PARALLELISM,
                  key_hash: Callable[[Any], int] = pickled_key_hash) -> int:
    try:
        return _cached_key_group(key, max_parallelism, key_hash)
    except TypeError:  # unhashable key: compute without the cache
        return murmur_hash(key_hash(key)) % max_parallelism


def operator_index_for_key_group(key_group: int, parallelism: int,
                                 max_parallelism: int = DEFAULT_MAX_PARALLELISM) -> int:
    return key_group * parallelism // max_parallelism


def key_group_range(subtask: int, parallelism: int, max_parallelism: int = DEFAULT_MAX_PARALLELISM) -> range:
    """The key groups subtask `subtask` of `parallelism` owns (Flink's KeyGroupRangeAssignment)."""
    start = (subtask * max_parallelism + parallelism - 1) // parallelism
    end = ((subtask + 1) * max_parallelism - 1) // parallelism
    return range(start, end + 1)


def default_max_parallelism(parallelism: int) -> int:
    """Flink's default: the next power of two of 1.5 x parallelism, within [128, 32768]."""
    wanted = parallelism + parallelism // 2
    power = 1
    while power < wanted:
        power <<= 1
    return max(128, min(power, 32768))

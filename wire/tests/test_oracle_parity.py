"""Parity between ``wire``'s codecs and the construct oracle in ``wire/tests/oracle``.

Covered: Kafka primitives (varints, classic/compact strings, bytes, arrays, tagged-field
sections), request headers v0/v1/v2 and response headers v0/v1, the messages and
versions in ``oracle.kafka_messages.VERSIONS``, the RecordBatch v2 header and whole
batches (uncompressed and gzip), and the ZooKeeper records in ``oracle.zk.RECORDS``
plus whole request/reply/notification frames.

For every case, hypothesis draws values and requires:

* identical bytes: ``ours.encode(v) == oracle.build(value)``;
* each side decodes the other's bytes to the same value.

Values come from both sides: from the oracle's declaration (``oracle.strategies``)
and, for Kafka messages, from ``wire``'s own FIELDS-driven strategies
(``wire.tests.kafka_strategies``), so a field either side forgets shows up.
construct is used non-compiled and only on valid input (it is too lax to judge
invalid bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wire import primitives as prim
from wire.errors import DecodeError, EncodeError
from wire.kafka import records
from wire.kafka._tagged import read_unknown_tagged_fields, write_tagged_fields
from wire.kafka.headers import RequestHeader, ResponseHeader
from wire.kafka.messages import APIS
from wire.tests.oracle import kafka_messages as km
from wire.tests.oracle import kafka_types as kt
from wire.tests.oracle import records as oracle_records
from wire.tests.oracle import zk as oracle_zk
from wire.tests.oracle.adapters import from_plain
from wire.tests.oracle.kafka_types import KStruct, plain
from wire.tests.oracle.strategies import text, values
from wire.zk import protocol as zk_protocol
from wire.zk import records as zk_records

try:
    from wire.tests import kafka_strategies
except ImportError:  # pragma: no cover - written alongside this file
    kafka_strategies = None  # type: ignore[assignment]


def _classes() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for info in APIS.values():
        out[info.request.NAME] = info.request
        out[info.response.NAME] = info.response
    return out


CLASSES = _classes()
CASES = km.all_cases()
CASE_IDS = [f"{name}-v{v}" for name, v in CASES]


@lru_cache(maxsize=None)
def _oracle_values(name: str, version: int) -> st.SearchStrategy[Any]:
    return values(km.message(name, version))


def check_kafka_parity(name: str, version: int, value: dict[str, Any]) -> None:
    """Both encoders agree on ``value`` and both decoders read it back from the other's bytes."""
    con = km.message(name, version)
    cls = CLASSES[name]
    obj = from_plain(cls, value)
    ours = obj.encode(version)
    theirs = con.build(value)
    assert ours == theirs, f"{name} v{version}: encodings differ\n ours   {ours.hex()}\n oracle {theirs.hex()}"
    assert cls.decode(theirs, version) == obj
    assert plain(con.parse(ours)) == value


# --- Kafka primitives ---------------------------------------------------------------------------

def _writer(fn: Callable[..., None], *args: Any) -> Callable[[Any], bytes]:
    def write(value: Any) -> bytes:
        out = bytearray()
        fn(out, value, *args)
        return bytes(out)
    return write


def _reader(fn: Callable[..., tuple[Any, int]], *args: Any) -> Callable[[bytes], tuple[Any, int]]:
    return lambda buf: fn(buf, 0, *args)


def _array_writer(compact: bool, nullable: bool) -> Callable[[Any], bytes]:
    def write(items: list[int] | None) -> bytes:
        out = bytearray()
        (prim.write_compact_array_count if compact else prim.write_array_count)(out, items, nullable)
        for item in items or []:
            out += prim.INT8.pack(item)
        return bytes(out)
    return write


def _array_reader(compact: bool, nullable: bool) -> Callable[[bytes], tuple[Any, int]]:
    def read(buf: bytes) -> tuple[Any, int]:
        n, pos = (prim.read_compact_array_count if compact else prim.read_array_count)(buf, 0, nullable)
        if n is None:
            return None, pos
        items = [prim.INT8.unpack_from(buf, pos + i)[0] for i in range(n)]
        return items, pos + n
    return read


def _tagged_writer(fields: list[dict[str, Any]]) -> bytes:
    out = bytearray()
    write_tagged_fields(out, [], [(f["tag"], f["data"]) for f in fields])
    return bytes(out)


def _tagged_reader(buf: bytes) -> tuple[Any, int]:
    fields, pos = read_unknown_tagged_fields(buf, 0, "test")
    return [{"tag": tag, "data": data} for tag, data in fields], pos


def _tag_of(f: dict[str, Any]) -> int:
    return int(f["tag"])


_tag_field: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"tag": st.integers(0, 2**32 - 1), "data": st.binary(max_size=8)})
_sorted_tags = st.lists(_tag_field, max_size=4, unique_by=_tag_of).map(lambda fs: sorted(fs, key=_tag_of))

# (name, oracle construct, our writer, our reader, value strategy or None to derive one)
PRIMITIVES: list[tuple[str, Any, Callable[[Any], bytes], Callable[[bytes], tuple[Any, int]],
                       st.SearchStrategy[Any] | None]] = [
    ("unsigned_varint", kt.UVARINT, _writer(prim.write_uvarint), _reader(prim.read_uvarint), None),
    ("varint", kt.VARINT, _writer(prim.write_varint), _reader(prim.read_varint), None),
    ("varlong", kt.VARLONG, _writer(prim.write_varlong), _reader(prim.read_varlong), None),
    ("uuid", kt.UUID, _writer(prim.write_uuid), _reader(prim.read_uuid), None),
    ("string", kt.KString(compact=False, nullable=False), _writer(prim.write_string16, False),
     _reader(prim.read_string16, False), None),
    ("nullable_string", kt.KString(compact=False, nullable=True), _writer(prim.write_string16, True),
     _reader(prim.read_string16, True), None),
    ("compact_string", kt.KString(compact=True, nullable=False), _writer(prim.write_compact_string, False),
     _reader(prim.read_compact_string, False), None),
    ("compact_nullable_string", kt.KString(compact=True, nullable=True), _writer(prim.write_compact_string, True),
     _reader(prim.read_compact_string, True), None),
    ("bytes", kt.KBytes(compact=False, nullable=False), _writer(prim.write_bytes32, False),
     _reader(prim.read_bytes32, False), None),
    ("nullable_bytes", kt.KBytes(compact=False, nullable=True), _writer(prim.write_bytes32, True),
     _reader(prim.read_bytes32, True), None),
    ("compact_bytes", kt.KBytes(compact=True, nullable=False), _writer(prim.write_compact_bytes, False),
     _reader(prim.read_compact_bytes, False), None),
    ("compact_nullable_bytes", kt.KBytes(compact=True, nullable=True), _writer(prim.write_compact_bytes, True),
     _reader(prim.read_compact_bytes, True), None),
    ("array", kt.KArray(kt.INT8, compact=False), _array_writer(False, False), _array_reader(False, False), None),
    ("nullable_array", kt.KArray(kt.INT8, compact=False, nullable=True), _array_writer(False, True),
     _array_reader(False, True), None),
    ("compact_array", kt.KArray(kt.INT8, compact=True), _array_writer(True, False), _array_reader(True, False), None),
    ("compact_nullable_array", kt.KArray(kt.INT8, compact=True, nullable=True), _array_writer(True, True),
     _array_reader(True, True), None),
    ("tagged_fields", kt.RAW_TAGGED_FIELDS, _tagged_writer, _tagged_reader, _sorted_tags),
]


@pytest.mark.parametrize(("name", "con", "write", "read", "strategy"), PRIMITIVES, ids=[p[0] for p in PRIMITIVES])
@given(data=st.data())
def test_kafka_primitive(name: str, con: Any, write: Callable[[Any], bytes],
                         read: Callable[[bytes], tuple[Any, int]], strategy: st.SearchStrategy[Any] | None,
                         data: st.DataObject) -> None:
    value = data.draw(strategy if strategy is not None else values(con))
    ours = write(value)
    theirs = con.build(value)
    assert ours == theirs
    assert read(theirs) == (value, len(theirs))
    assert plain(con.parse(ours)) == value


# --- Kafka messages ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "version"), CASES, ids=CASE_IDS)
@given(data=st.data())
def test_kafka_message_from_oracle_values(name: str, version: int, data: st.DataObject) -> None:
    check_kafka_parity(name, version, data.draw(_oracle_values(name, version)))


@pytest.mark.skipif(kafka_strategies is None, reason="wire.tests.kafka_strategies not present")
@pytest.mark.parametrize(("name", "version"), CASES, ids=CASE_IDS)
@settings(max_examples=kafka_strategies.budget("roundtrip") if kafka_strategies else 10)
@given(data=st.data())
def test_kafka_message_from_wire_values(name: str, version: int, data: st.DataObject) -> None:
    cls = CLASSES[name]
    con = km.message(name, version)
    obj = data.draw(kafka_strategies.messages(cls, version))
    ours = obj.encode(version)
    value = plain(con.parse(ours))
    assert from_plain(cls, value) == obj, f"{name} v{version}: oracle read {value}"
    assert con.build(value) == ours


def test_every_case_has_a_wire_class() -> None:
    for name, version in CASES:
        assert version in CLASSES[name].VERSIONS, (name, version)


def test_tagged_fields_are_written_only_when_not_default() -> None:
    """A hand-picked case: FetchResponse v12 with one partition carrying one tagged field."""
    from wire.kafka.messages.fetch import FetchResponse

    value = {
        "throttle_time_ms": 0, "error_code": 0, "session_id": 7,
        "responses": [{
            "topic": "t", "unknown_tagged_fields": [],
            "partitions": [{
                "partition_index": 0, "error_code": 0, "high_watermark": 10, "last_stable_offset": 10,
                "log_start_offset": 0, "aborted_transactions": None, "preferred_read_replica": -1,
                "records": None,
                "diverging_epoch": {"epoch": -1, "end_offset": -1, "unknown_tagged_fields": []},
                "current_leader": {"leader_id": 1, "leader_epoch": 5, "unknown_tagged_fields": []},
                "snapshot_id": {"end_offset": -1, "epoch": -1, "unknown_tagged_fields": []},
                "unknown_tagged_fields": [],
            }],
        }],
        "unknown_tagged_fields": [],
    }
    check_kafka_parity("FetchResponse", 12, value)
    encoded = from_plain(FetchResponse, value).encode(12)
    # ... current_leader (tag 1) alone: count 1, tag 1, size 9 (two int32 + empty section), then the struct
    assert bytes.fromhex("0101090000000100000005" + "00") in encoded


# --- Kafka headers ----------------------------------------------------------------------------

# (api_key, api_version) pairs that travel with each request header version, from the
# schemas' flexibleVersions (header v2 iff the request version is flexible) and the
# ControlledShutdown v0 exception (header v0).
_REQUEST_HEADER_USERS = {
    0: [(7, 0)],
    1: [(0, 3), (0, 8), (1, 4), (1, 11), (3, 1), (3, 8), (18, 0), (18, 2), (19, 4), (7, 1)],
    2: [(0, 9), (1, 12), (1, 16), (3, 9), (3, 12), (18, 3), (18, 4), (19, 5), (11, 6)],
}


@pytest.mark.parametrize("header_version", [0, 1, 2])
@given(data=st.data())
def test_request_header(header_version: int, data: st.DataObject) -> None:
    con = km.request_header(header_version)
    assert isinstance(con, KStruct)
    value = data.draw(values(con))
    key, version = data.draw(st.sampled_from(_REQUEST_HEADER_USERS[header_version]))
    value["request_api_key"], value["request_api_version"] = key, version
    header = from_plain(RequestHeader, value, request_api_key="api_key", request_api_version="api_version")
    out = bytearray()
    header.encode_into(out, header_version)
    theirs = con.build(value)
    assert bytes(out) == theirs
    assert header.version == header_version
    decoded, end = RequestHeader.decode_from(theirs, 0)
    assert (decoded, end) == (header, len(theirs))
    assert plain(con.parse(bytes(out))) == value


@pytest.mark.parametrize("header_version", [0, 1])
@given(data=st.data())
def test_response_header(header_version: int, data: st.DataObject) -> None:
    con = km.response_header(header_version)
    value = data.draw(values(con))
    header = from_plain(ResponseHeader, value)
    out = bytearray()
    header.encode_into(out, header_version)
    theirs = con.build(value)
    assert bytes(out) == theirs
    decoded, end = ResponseHeader.decode_from(theirs, header_version, 0)
    assert (decoded, end) == (header, len(theirs))
    assert plain(con.parse(bytes(out))) == value


def test_client_id_is_a_classic_string_in_header_v2() -> None:
    con = km.request_header(2)
    value = {"request_api_key": 18, "request_api_version": 3, "correlation_id": 1, "client_id": "ab",
             "unknown_tagged_fields": []}
    assert con.build(value) == bytes.fromhex("0012" "0003" "00000001" "0002" "6162" "00")
    header = RequestHeader(18, 3, 1, "ab")
    out = bytearray()
    header.encode_into(out)
    assert bytes(out) == con.build(value)




# --- RecordBatch v2 ---------------------------------------------------------------------------

@given(value=values(oracle_records.BATCH_HEADER))
def test_batch_header(value: dict[str, Any]) -> None:
    header = records.BatchHeader(**value)
    theirs = oracle_records.BATCH_HEADER.build(value)
    assert len(theirs) == records.HEADER_SIZE == 61
    assert header.pack() == theirs
    assert records.BatchHeader.unpack(theirs) == header
    assert plain(oracle_records.BATCH_HEADER.parse(header.pack())) == value


@st.composite
def batch_values(draw: st.DrawFn) -> dict[str, Any]:
    """A whole-batch oracle value that ``BatchBuilder`` can reproduce exactly: offsets ascending,
    the first record's timestamp delta 0 (the builder takes the first timestamp as the base)
    unless a delete horizon stands in for the base timestamp."""
    n = draw(st.integers(0, 4))
    bodies = [draw(values(oracle_records.RECORD_BODY)) for _ in range(n)]
    offsets = sorted(draw(st.lists(st.integers(0, 2**31 - 1), min_size=n, max_size=n, unique=True)))
    horizon = draw(st.booleans())
    base_ts = draw(st.one_of(st.integers(-(2**40), 2**45), st.just(1_700_000_000_000)))
    deltas = [draw(st.integers(-(2**31), 2**31 - 1)) for _ in range(n)]
    if n and not horizon:
        deltas[0] = 0
    timestamps = [base_ts + d for d in deltas]
    for body, off, delta in zip(bodies, offsets, deltas, strict=True):
        body["offset_delta"], body["timestamp_delta"] = off, delta
    codec = draw(st.sampled_from([oracle_records.COMPRESSION_NONE, oracle_records.COMPRESSION_GZIP]))
    log_append, transactional, control = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    attributes = codec | log_append << 3 | transactional << 4 | control << 5 | horizon << 6
    return {
        "base_offset": draw(st.integers(-(2**62), 2**62)),
        "partition_leader_epoch": draw(st.integers(-(2**31), 2**31 - 1)),
        "attributes": attributes,
        "last_offset_delta": offsets[-1] if n else 0,
        "base_timestamp": base_ts if (horizon or n) else -1,
        "max_timestamp": max([-1, *timestamps]),
        "producer_id": draw(st.integers(-(2**63), 2**63 - 1)),
        "producer_epoch": draw(st.integers(-(2**15), 2**15 - 1)),
        "base_sequence": draw(st.integers(-(2**31), 2**31 - 1)),
        "records": bodies,
    }


def _build_with_wire(value: dict[str, Any]) -> bytes:
    attrs = value["attributes"]
    builder = records.BatchBuilder(
        base_offset=value["base_offset"],
        compression=attrs & 0x07,
        timestamp_type=(attrs >> 3) & 1,
        producer_id=value["producer_id"],
        producer_epoch=value["producer_epoch"],
        base_sequence=value["base_sequence"],
        is_transactional=bool(attrs & 0x10),
        is_control=bool(attrs & 0x20),
        partition_leader_epoch=value["partition_leader_epoch"],
        delete_horizon_ms=value["base_timestamp"] if attrs & 0x40 else None,
    )
    for r in value["records"]:
        builder.append(
            r["value"], r["key"], [(h["key"], h["value"]) for h in r["headers"]],
            timestamp=value["base_timestamp"] + r["timestamp_delta"],
            offset=value["base_offset"] + r["offset_delta"],
            attributes=r["attributes"],
        )
    return builder.build()


def _expected_records(value: dict[str, Any]) -> list[records.Record]:
    log_append = bool(value["attributes"] & 0x08)
    return [
        records.Record(
            offset=value["base_offset"] + r["offset_delta"],
            timestamp=value["max_timestamp"] if log_append else value["base_timestamp"] + r["timestamp_delta"],
            key=r["key"], value=r["value"],
            headers=tuple((h["key"], h["value"]) for h in r["headers"]),
            attributes=r["attributes"],
        )
        for r in value["records"]
    ]


@given(value=batch_values())
def test_record_batch(value: dict[str, Any]) -> None:
    ours = _build_with_wire(value)
    theirs = oracle_records.RECORD_BATCH.build(value)
    if value["attributes"] & 0x07 == oracle_records.COMPRESSION_NONE:
        assert ours == theirs
    # gzip: many valid encodings, so compare what each side reads from the other's bytes
    assert plain(oracle_records.RECORD_BATCH.parse(ours)) == value
    batch = records.RecordBatch(theirs)
    batch.validate()
    assert batch.records() == _expected_records(value)
    header = plain(oracle_records.BATCH_HEADER.parse(theirs))
    assert batch.header == records.BatchHeader(**header)
    assert header["records_count"] == len(value["records"])
    assert [bytes(b) for b in records.split_entries(ours + theirs)] == [ours, theirs]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_oracle_reads_a_kafka_python_batch() -> None:
    """The oracle itself against a third implementation (kafka-python's DefaultRecordBatchBuilder)."""
    from kafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    builder.append(0, timestamp=1000, key=b"k", value=b"v" * 10, headers=[("h", b"x"), ("n", None)])
    builder.append(1, timestamp=1005, key=None, value=None, headers=[])
    data = bytes(builder.build())
    parsed = plain(oracle_records.RECORD_BATCH.parse(data))
    assert [(r["offset_delta"], r["timestamp_delta"], r["key"], r["value"]) for r in parsed["records"]] == [
        (0, 0, b"k", b"v" * 10), (1, 5, None, None)]
    assert parsed["records"][0]["headers"] == [{"key": "h", "value": b"x"}, {"key": "n", "value": None}]
    assert [(r.offset, r.timestamp, r.key) for r in records.RecordBatch(data).records()] == [
        (0, 1000, b"k"), (1, 1005, None)]


# --- ZooKeeper jute records ---------------------------------------------------------------------

ZK_CASES = sorted(oracle_zk.RECORDS)

# wire.zk refuses null strings inside vectors (see test_zk_null_string_in_a_vector), which jute
# itself would carry; values drawn for the parity tests keep vector elements non-null.
_NON_NULL_ITEMS = {id(oracle_zk.USTRING_ITEM): text()}


@pytest.mark.parametrize("name", ZK_CASES)
@given(data=st.data())
def test_zk_record(name: str, data: st.DataObject) -> None:
    con = oracle_zk.RECORDS[name]
    cls = getattr(zk_records, name.split("/")[0])
    value = data.draw(values(con, _NON_NULL_ITEMS))
    obj = from_plain(cls, value)  # without the readOnly byte, read_only stays None
    ours = obj.encode()
    theirs = con.build(value)
    assert ours == theirs, f"{name}: encodings differ\n ours   {ours.hex()}\n oracle {theirs.hex()}"
    assert cls.decode(theirs) == obj
    assert plain(con.parse(ours)) == value


@given(data=st.data())
def test_zk_frames(data: st.DataObject) -> None:
    """Whole frames: RequestHeader + record, ReplyHeader + record, and a notification."""
    draw = data.draw
    # the special xids (-1 notification, -2 ping, -4 auth, -8 setWatches) change how a reply reads
    xid = draw(values(oracle_zk.INT).filter(lambda x: x not in (-1, -2, -4, -8)))
    zxid = draw(values(oracle_zk.LONG))

    create = draw(values(oracle_zk.CREATE_REQUEST))
    request = zk_protocol.encode_request(xid, zk_protocol.OpCode.create, from_plain(zk_records.CreateRequest, create))
    assert request == oracle_zk.REQUEST_HEADER.build({"xid": xid, "type": 1}) + oracle_zk.CREATE_REQUEST.build(create)
    decoded = zk_protocol.decode_request(request)
    assert (decoded.xid, decoded.op, decoded.body) == (xid, 1, from_plain(zk_records.CreateRequest, create))

    get_data = draw(values(oracle_zk.GET_DATA_RESPONSE))
    reply = zk_protocol.encode_reply(xid, zxid, 0, from_plain(zk_records.GetDataResponse, get_data))
    assert reply == oracle_zk.REPLY_HEADER.build({"xid": xid, "zxid": zxid, "err": 0}) + \
        oracle_zk.GET_DATA_RESPONSE.build(get_data)
    header, body = zk_protocol.decode_reply(reply, zk_protocol.OpCode.getData)
    assert (header, body) == (zk_records.ReplyHeader(xid, zxid, 0), from_plain(zk_records.GetDataResponse, get_data))

    event = draw(values(oracle_zk.WATCHER_EVENT))
    assume(event["path"] is not None)
    note = zk_protocol.encode_notification(event["type"], event["path"], zxid, event["state"])
    assert note == oracle_zk.REPLY_HEADER.build({"xid": -1, "zxid": zxid, "err": 0}) + \
        oracle_zk.WATCHER_EVENT.build(event)

    watches = draw(values(oracle_zk.SET_WATCHES2, _NON_NULL_ITEMS))
    frame = zk_protocol.encode_request(-8, zk_protocol.OpCode.setWatches2, from_plain(zk_records.SetWatches2, watches))
    assert plain(oracle_zk.REQUEST_HEADER.parse(frame[:8])) == {"xid": -8, "type": 105}
    assert plain(oracle_zk.SET_WATCHES2.parse(frame[8:])) == watches


def test_zk_connect_handshake_lengths() -> None:
    """opcodes.md: a 44-byte request without readOnly, 45 with; replies of 36 and 37 bytes."""
    passwd = bytes(16)
    req = {"protocol_version": 0, "last_zxid_seen": 0, "time_out": 30000, "session_id": 0, "passwd": passwd}
    rsp = {"protocol_version": 0, "time_out": 30000, "session_id": 0x1000000abc, "passwd": passwd}
    assert len(oracle_zk.connect_request(False).build(req)) == 44
    assert len(oracle_zk.connect_request(True).build({**req, "read_only": False})) == 45
    assert len(oracle_zk.connect_response(False).build(rsp)) == 36
    assert len(oracle_zk.connect_response(True).build({**rsp, "read_only": False})) == 37
    assert zk_protocol.decode_connect_request(oracle_zk.connect_request(False).build(req)).read_only is None
    assert zk_records.ConnectResponse(0, 30000, 0x1000000abc, passwd).encode() == \
        oracle_zk.connect_response(False).build(rsp)


def test_zk_null_string_in_a_vector() -> None:
    """A known, deliberate divergence: jute writes a null ustring inside a vector as length -1
    (and reads it back as null); wire.zk refuses it in both directions."""
    value = {"relative_zxid": 5, "data_watches": ["/a", None], "exist_watches": [], "child_watches": None}
    encoded = oracle_zk.SET_WATCHES.build(value)
    assert encoded == bytes.fromhex("0000000000000005" "00000002" "000000022f61" "ffffffff" "00000000" "ffffffff")
    with pytest.raises(DecodeError):
        zk_records.SetWatches.decode(encoded)
    with pytest.raises(EncodeError):
        zk_records.SetWatches(5, ["/a", None], [], None).encode()  # type: ignore[list-item]

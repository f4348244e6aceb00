"""Kafka request/response headers (``wire.kafka.headers``) and whole payloads (``wire.kafka.codec``).

What this file proves:

* the header-version rules: request header v0 only for ControlledShutdown v0, v1 for
  non-flexible bodies, v2 for flexible ones (with ClientId still an int16-length string);
  response header v1 exactly for flexible bodies, except ApiVersions, always v0 (KIP-511);
  checked against the 3.9 and 4.0 schema files, not only against the registry;
* golden header bytes, header round trips and header strictness;
* KIP-511: a request the codec cannot decode (ApiVersions v99, an unknown API key) still
  has its header decoded, and ``decode_request`` raises ``UnsupportedRequestError``
  carrying it;
* whole request/response payloads for every (API, version) round-trip through
  ``encode_request``/``decode_request`` and ``encode_response``/``decode_response``,
  and kafka-python's own framed-with-header requests and responses decode in ours.
"""

from __future__ import annotations

import io
import json
import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.errors import DecodeError, EncodeError, TruncatedError, UnsupportedVersionError
from wire.kafka.codegen.__main__ import default_schema_dir
from wire.kafka.codec import (
    UnsupportedRequestError,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
)
from wire.kafka.headers import (
    RequestHeader,
    ResponseHeader,
    peek_api_key_version,
    request_header_version,
    response_header_version,
)
from wire.kafka.messages import APIS
from wire.kafka.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from wire.kafka.messages.controlled_shutdown import ControlledShutdownRequest
from wire.kafka.messages.metadata import MetadataRequest
from wire.kafka.messages.metadata import MetadataResponse
from wire.tests.kafka_python_protocol import KP_APIS, KpRequestHeader, KpResponseHeader, kp_range
from wire.tests.kafka_strategies import Options, texts, unknown_tagged_fields


SCHEMA_DIR = default_schema_dir()  # the 3.9 schemas, with the 4.0 ones in kafka-4.0/

REQUEST_PAIRS = [(key, v) for key in sorted(APIS) for v in sorted(APIS[key].versions)]


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


# =============================================================================================
# Header-version rules
# =============================================================================================

def _first_flexible_in_schema_files(name: str) -> int | None:
    """The lowest flexible version any of the 3.9/4.0 files gives the message (``"N+"``)."""
    firsts = []
    for path in (SCHEMA_DIR / f"{name}.json", SCHEMA_DIR / "kafka-4.0" / f"{name}.json"):
        if path.exists():
            raw = json.loads(re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.M))
            if raw["validVersions"] == "none":
                continue  # 4.0 removed the API entirely
            spec = raw["flexibleVersions"]
            if spec != "none":
                assert spec.endswith("+"), spec
                firsts.append(int(spec[:-1]))
    if not firsts:
        return None
    assert len(set(firsts)) == 1, (name, firsts)  # 3.9 and 4.0 agree on where flexibility starts
    return firsts[0]


@pytest.mark.skipif(not SCHEMA_DIR.is_dir(), reason="schema files not present")
def test_request_and_response_header_versions_follow_the_schema_files() -> None:
    for key, info in APIS.items():
        req_first = _first_flexible_in_schema_files(info.request_name)
        resp_first = _first_flexible_in_schema_files(info.response_name)
        for v in range(0, max(info.versions) + 5):  # versions newer than we know included
            if key == 7 and v == 0:
                expected_req = 0
            elif req_first is not None and v >= req_first:
                expected_req = 2
            else:
                expected_req = 1
            assert request_header_version(key, v) == expected_req, (info.request_name, v)
            if key == 18:
                expected_resp = 0  # KIP-511: ApiVersions responses always use header v0
            else:
                expected_resp = 1 if resp_first is not None and v >= resp_first else 0
            assert response_header_version(key, v) == expected_resp, (info.response_name, v)


def test_header_versions_agree_with_the_generated_classes() -> None:
    for key, v in REQUEST_PAIRS:
        info = APIS[key]
        flexible_req = v in info.request.FLEXIBLE_VERSIONS
        assert request_header_version(key, v) == (0 if (key, v) == (7, 0) else 2 if flexible_req else 1)
        assert response_header_version(key, v) == (0 if key == 18 else int(v in info.response.FLEXIBLE_VERSIONS))


def test_header_version_special_cases() -> None:
    assert request_header_version(7, 0) == 0  # ControlledShutdown v0: the only header v0
    assert request_header_version(7, 1) == 1
    assert request_header_version(7, 3) == 2
    assert request_header_version(18, 2) == 1
    assert request_header_version(18, 3) == 2
    assert request_header_version(18, 99) == 2  # an ApiVersions version from the future
    assert response_header_version(18, 3) == 0
    assert response_header_version(18, 4) == 0
    assert request_header_version(17, 1) == 1  # SaslHandshake is never flexible
    assert request_header_version(9999, 0) == 1  # unknown API keys: treated as non-flexible
    assert request_header_version(-1, 5) == 1
    assert response_header_version(9999, 7) == 0
    assert RequestHeader(0, 9, 1).version == 2
    assert RequestHeader(0, 8, 1).version == 1


# =============================================================================================
# Golden header bytes
# =============================================================================================

def test_golden_request_headers() -> None:
    v0 = RequestHeader(7, 0, 0x01020304)
    out = bytearray()
    v0.encode_into(out)
    assert bytes(out) == b"\x00\x07\x00\x00\x01\x02\x03\x04"  # api key, version, correlation id; no client id

    v1 = RequestHeader(3, 1, 5, "cid")
    out = bytearray()
    v1.encode_into(out)
    assert bytes(out) == b"\x00\x03\x00\x01" + i32(5) + b"\x00\x03cid"

    v1_null = RequestHeader(3, 1, 5, None)
    out = bytearray()
    v1_null.encode_into(out)
    assert bytes(out) == b"\x00\x03\x00\x01" + i32(5) + b"\xff\xff"

    v2 = RequestHeader(18, 3, -1, "über")  # ClientId stays an int16-length string in header v2
    out = bytearray()
    v2.encode_into(out)
    assert bytes(out) == b"\x00\x12\x00\x03" + i32(-1) + b"\x00\x05\xc3\xbcber" + b"\x00"

    v2_tags = RequestHeader(18, 3, 1, None, [(0, b"\x01"), (300, b"")])
    out = bytearray()
    v2_tags.encode_into(out)
    assert bytes(out) == b"\x00\x12\x00\x03" + i32(1) + b"\xff\xff" + b"\x02" + b"\x00\x01\x01" + b"\xac\x02\x00"

    for header in (v0, v1, v1_null, v2, v2_tags):
        out = bytearray()
        header.encode_into(out)
        encoded = bytes(out)
        decoded, end = RequestHeader.decode_from(encoded + b"body", 0)
        assert decoded == header and end == len(encoded)


def test_golden_response_headers() -> None:
    out = bytearray()
    ResponseHeader(7).encode_into(out, 0)
    assert bytes(out) == i32(7)
    out = bytearray()
    ResponseHeader(7).encode_into(out, 1)
    assert bytes(out) == i32(7) + b"\x00"
    out = bytearray()
    ResponseHeader(7, [(1, b"ab")]).encode_into(out, 1)
    assert bytes(out) == i32(7) + b"\x01\x01\x02ab"
    assert ResponseHeader.decode_from(i32(7) + b"\x01\x01\x02ab", 1) == (ResponseHeader(7, [(1, b"ab")]), 9)
    assert ResponseHeader.decode_from(i32(7) + b"\x00", 0) == (ResponseHeader(7), 4)


def test_golden_api_versions_response_v3_uses_header_v0() -> None:
    body = ApiVersionsResponse(error_code=0, api_keys=[ApiVersionsResponse.ApiVersion(18, 0, 4)], throttle_time_ms=0)
    payload = encode_response(9, 18, 3, body)
    assert payload == (
        i32(9)  # response header v0: no tagged-field section even though the body is flexible
        + i16(0)  # ErrorCode
        + b"\x02" + i16(18) + i16(0) + i16(4) + b"\x00"  # ApiKeys: compact array of 1, entry tags
        + i32(0)  # ThrottleTimeMs
        + b"\x00"  # body tags
    )
    header, decoded = decode_response(payload, 18, 3)
    assert header == ResponseHeader(9) and decoded == body
    # a flexible response of another API does get header v1
    assert encode_response(9, 3, 9, MetadataResponse()).startswith(i32(9) + b"\x00")
    assert encode_response(9, 3, 8, MetadataResponse()) == i32(9) + MetadataResponse().encode(8)


# =============================================================================================
# Header strictness and round trips
# =============================================================================================

def test_header_encode_errors() -> None:
    with pytest.raises(EncodeError, match="client id"):
        RequestHeader(7, 0, 1, "cid").encode_into(bytearray())
    with pytest.raises(EncodeError, match="tagged"):
        RequestHeader(7, 0, 1, None, [(1, b"")]).encode_into(bytearray())
    with pytest.raises(EncodeError, match="tagged"):
        RequestHeader(3, 1, 1, "c", [(1, b"")]).encode_into(bytearray())
    with pytest.raises(EncodeError):
        RequestHeader(3, 9, 1, "c", [(1, b""), (1, b"x")]).encode_into(bytearray())
    with pytest.raises(EncodeError):
        RequestHeader(3, 1, 1, "x" * 0x8000).encode_into(bytearray())
    with pytest.raises(EncodeError, match="tagged"):
        ResponseHeader(1, [(0, b"")]).encode_into(bytearray(), 0)
    with pytest.raises(EncodeError):
        encode_request(RequestHeader(3, 1, 1, 5), MetadataRequest())  # type: ignore[arg-type]




@pytest.mark.parametrize("fields", [(2**15, 0, 0), (0, -(2**15) - 1, 0), (0, 0, 2**31), (0, 0, -(2**31) - 1)])
def test_out_of_range_request_header_ints_raise_encode_error(fields: tuple[int, int, int]) -> None:
    with pytest.raises(EncodeError):
        encode_request(RequestHeader(*fields, "c"), MetadataRequest())


@pytest.mark.parametrize("hv", [0, 1])
def test_out_of_range_response_correlation_id_raises_encode_error(hv: int) -> None:
    with pytest.raises(EncodeError):
        ResponseHeader(2**31).encode_into(bytearray(), hv)


@st.composite
def request_headers(draw: st.DrawFn) -> RequestHeader:
    key = draw(st.one_of(st.sampled_from(sorted(APIS)), st.integers(-(2**15), 2**15 - 1)))
    version = draw(st.one_of(st.integers(0, 20), st.integers(-(2**15), 2**15 - 1)))
    header = RequestHeader(key, version, draw(st.integers(-(2**31), 2**31 - 1)))
    hv = request_header_version(key, version)
    if hv >= 1:
        header.client_id = draw(st.one_of(st.none(), texts(40)))
    if hv >= 2:
        header.unknown_tagged_fields = draw(unknown_tagged_fields(frozenset(), Options()))
    return header


@given(request_headers(), st.binary(max_size=8))
def test_request_header_round_trip(header: RequestHeader, rest: bytes) -> None:
    out = bytearray()
    header.encode_into(out)
    encoded = bytes(out)
    assert decode_request_header(encoded + rest) == (header, len(encoded))
    assert peek_api_key_version(encoded) == (header.api_key, header.api_version, header.correlation_id)
    for cut in range(len(encoded)):
        with pytest.raises(TruncatedError):
            decode_request_header(encoded[:cut])


@given(request_headers())
def test_request_headers_match_kafka_python(header: RequestHeader) -> None:
    """kafka-python writes and reads the same request header bytes (it has no unknown-tag support)."""
    hv = request_header_version(header.api_key, header.api_version)
    if hv == 0:
        return  # kafka-python has no header v0 (it never sends ControlledShutdown v0)
    header.unknown_tagged_fields = []
    out = bytearray()
    header.encode_into(out)
    kp = KpRequestHeader(request_api_key=header.api_key, request_api_version=header.api_version,
                         correlation_id=header.correlation_id, client_id=header.client_id)
    assert bytes(kp.encode(flexible=hv == 2)) == bytes(out)
    theirs = KpRequestHeader.decode(io.BytesIO(bytes(out)), flexible=hv == 2)
    assert (theirs.request_api_key, theirs.request_api_version, theirs.correlation_id, theirs.client_id) == (
        header.api_key, header.api_version, header.correlation_id, header.client_id)


@given(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, 1]))
def test_response_headers_match_kafka_python(correlation_id: int, hv: int) -> None:
    out = bytearray()
    ResponseHeader(correlation_id).encode_into(out, hv)
    assert bytes(KpResponseHeader(correlation_id=correlation_id).encode(flexible=hv == 1)) == bytes(out)
    assert ResponseHeader.decode_from(bytes(out), hv) == (ResponseHeader(correlation_id), len(out))


def test_peek_needs_eight_bytes() -> None:
    assert peek_api_key_version(b"\x00\x12\x00\x03\x00\x00\x00") is None
    assert peek_api_key_version(b"\x00\x12\x00\x03\x00\x00\x00\x09") == (18, 3, 9)


# =============================================================================================
# KIP-511 and other requests the codec cannot decode
# =============================================================================================

def test_api_versions_request_from_the_future_still_has_its_header_decoded() -> None:
    payload = (
        b"\x00\x12" + i16(99) + i32(1234)  # ApiVersions v99
        + b"\x00\x0dfuture-client"  # client_id (int16 length 13)
        + b"\x01\x05\x02hi"  # header v2 tagged fields: one unknown tag
        + b"\x0fsome future body that we cannot parse"
    )
    with pytest.raises(UnsupportedRequestError) as info:
        decode_request(payload)
    err = info.value
    assert isinstance(err, UnsupportedVersionError) and isinstance(err, DecodeError)
    assert err.header == RequestHeader(18, 99, 1234, "future-client", [(5, b"hi")])
    assert err.header.version == 2
    # the next version up, with a body shaped like v4, is equally unsupported
    v5 = encode_request(RequestHeader(18, 4, 7, "kp"), ApiVersionsRequest("kafka-python", "3.0.12"))
    v5 = v5[:2] + i16(5) + v5[4:]
    with pytest.raises(UnsupportedRequestError) as info5:
        decode_request(v5)
    assert info5.value.header == RequestHeader(18, 5, 7, "kp")


@pytest.mark.parametrize("key", [9999, 88, -1, 2**15 - 1])
def test_unknown_api_key_still_has_its_header_decoded(key: int) -> None:
    payload = i16(key) + i16(3) + i32(42) + b"\x00\x03cid" + b"\xde\xad\xbe\xef"
    with pytest.raises(UnsupportedRequestError, match="unknown API key") as info:
        decode_request(payload)
    assert info.value.header == RequestHeader(key, 3, 42, "cid")


def test_unsupported_versions_of_known_apis() -> None:
    for key, info in APIS.items():
        bad = max(info.versions) + 1
        payload = i16(key) + i16(bad) + i32(1) + b"\xff\xff" + (b"\x00" if request_header_version(key, bad) == 2 else b"")
        with pytest.raises(UnsupportedRequestError) as exc:
            decode_request(payload)
        assert exc.value.header.api_version == bad
    with pytest.raises(UnsupportedVersionError):
        decode_response(i32(1), 18, 99)
    with pytest.raises(UnsupportedVersionError):
        decode_response(i32(1), 9999, 0)


def test_truncated_headers_are_truncated_even_for_unknown_requests() -> None:
    full = i16(18) + i16(99) + i32(1) + b"\x00\x03cid" + b"\x00"
    for cut in range(len(full)):
        with pytest.raises(TruncatedError):
            decode_request(full[:cut])
    with pytest.raises(TruncatedError):
        decode_response(b"\x00\x00", 3, 1)
    with pytest.raises(TruncatedError):
        decode_response(i32(1), 3, 9)  # header v1 needs its tagged-field count


# =============================================================================================
# Whole payloads for every (API, version)
# =============================================================================================

@pytest.mark.parametrize(("key", "version"), REQUEST_PAIRS, ids=[f"{APIS[k].request_name}-v{v}" for k, v in REQUEST_PAIRS])
def test_payload_round_trip(key: int, version: int) -> None:
    info = APIS[key]
    hv = request_header_version(key, version)
    header = RequestHeader(key, version, 77, None if hv == 0 else "client-1",
                           [(9, b"t")] if hv == 2 else [])
    body = info.request()
    payload = encode_request(header, body)
    expected_header = i16(key) + i16(version) + i32(77)
    if hv >= 1:
        expected_header += b"\x00\x08client-1"
    if hv == 2:
        expected_header += b"\x01\x09\x01t"
    assert payload == expected_header + body.encode(version)
    decoded = decode_request(payload)
    assert decoded.header == header and decoded.body == body
    assert (decoded.api_key, decoded.api_version) == (key, version)
    with pytest.raises(DecodeError):
        decode_request(payload + b"\x00")

    response = info.response()
    rhv = response_header_version(key, version)
    rpayload = encode_response(77, key, version, response)
    assert rpayload == i32(77) + (b"\x00" if rhv == 1 else b"") + response.encode(version)
    assert decode_response(rpayload, key, version) == (ResponseHeader(77), response)


def test_controlled_shutdown_v0_payload() -> None:
    body = ControlledShutdownRequest(broker_id=3)
    payload = encode_request(RequestHeader(7, 0, 1), body)
    assert payload == b"\x00\x07\x00\x00" + i32(1) + i32(3)  # header v0, then BrokerId
    assert decode_request(payload).body == body


# --- kafka-python's framed payloads with headers ----------------------------------------------

def _kp_request_pairs() -> list[tuple[int, int]]:
    return [(k, v) for k, v in REQUEST_PAIRS if (k, "request") in KP_APIS and v in kp_range(KP_APIS[(k, "request")])]


KP_REQUEST_PAIRS = _kp_request_pairs()


@pytest.mark.parametrize(("key", "version"), KP_REQUEST_PAIRS,
                         ids=[f"{APIS[k].request_name}-v{v}" for k, v in KP_REQUEST_PAIRS])
def test_kafka_python_payloads_with_headers_decode_in_ours(key: int, version: int) -> None:
    kp = KP_APIS
    request = kp[(key, "request")](version=version)
    request.with_header(correlation_id=version + 1000, client_id="kafka-python-3.0.12")
    payload = bytes(request.encode(header=True))
    decoded = decode_request(payload)
    assert decoded.header == RequestHeader(key, version, version + 1000, "kafka-python-3.0.12")
    assert encode_request(decoded.header, decoded.body) == payload

    response = kp[(key, "response")](version=version)
    response.with_header(correlation_id=5)
    rpayload = bytes(response.encode(header=True))
    header, body = decode_response(rpayload, key, version)
    assert header == ResponseHeader(5)
    assert encode_response(5, key, version, body) == rpayload


def test_our_payloads_parse_in_kafka_python_with_headers() -> None:
    kp = KP_APIS
    payload = encode_request(RequestHeader(18, 4, 3, "wiretwin"), ApiVersionsRequest("wiretwin", "0.1"))
    theirs = kp[(18, "request")].decode(payload, version=4, header=True)
    assert theirs.header.correlation_id == 3 and theirs.header.client_id == "wiretwin"
    assert theirs.client_software_name == "wiretwin"
    body = ApiVersionsResponse(api_keys=[ApiVersionsResponse.ApiVersion(k, APIS[k].min_version, APIS[k].max_version)
                                         for k in sorted(APIS)])
    rpayload = encode_response(3, 18, 3, body)
    parsed = kp[(18, "response")].decode(rpayload, version=3, header=True)
    assert parsed.header.correlation_id == 3
    assert len(parsed.api_keys) == len(APIS)

"""The Kafka error-code table: complete, consistent, and in line with kafka-python's names."""

from __future__ import annotations

import inspect

import pytest

from wire.kafka.error_codes import ERRORS, ErrorCode, error_info, is_retriable


def test_table_is_complete_and_consistent() -> None:
    assert sorted(ERRORS) == list(range(-1, 130))
    assert [int(c) for c in ErrorCode] == sorted(ERRORS)
    for code, info in ERRORS.items():
        assert info.code == code and ErrorCode(code).name == info.name
        assert (info.message is None) == (code == 0)
        assert (info.exception is None) == (code == 0)
    assert ERRORS[128].since == ERRORS[129].since == "4.0"


@pytest.mark.parametrize(
    ("code", "name", "retriable"),
    [
        (-1, "UNKNOWN_SERVER_ERROR", False),
        (0, "NONE", False),
        (2, "CORRUPT_MESSAGE", True),  # CorruptRecordException extends RetriableException in Java
        (3, "UNKNOWN_TOPIC_OR_PARTITION", True),
        (6, "NOT_LEADER_OR_FOLLOWER", True),
        (7, "REQUEST_TIMED_OUT", True),
        (10, "MESSAGE_TOO_LARGE", False),
        (15, "COORDINATOR_NOT_AVAILABLE", True),
        (16, "NOT_COORDINATOR", True),
        (22, "ILLEGAL_GENERATION", False),
        (25, "UNKNOWN_MEMBER_ID", False),
        (27, "REBALANCE_IN_PROGRESS", False),
        (35, "UNSUPPORTED_VERSION", False),
        (45, "OUT_OF_ORDER_SEQUENCE_NUMBER", False),
        (47, "INVALID_PRODUCER_EPOCH", False),
        (51, "CONCURRENT_TRANSACTIONS", True),
        (76, "UNSUPPORTED_COMPRESSION_TYPE", False),
        (79, "MEMBER_ID_REQUIRED", False),
        (87, "INVALID_RECORD", False),
        (99, "POSITION_OUT_OF_RANGE", False),
        (100, "UNKNOWN_TOPIC_ID", True),
        (110, "FENCED_MEMBER_EPOCH", False),
        (129, "REBOOTSTRAP_REQUIRED", False),
    ],
)
def test_known_rows(code: int, name: str, retriable: bool) -> None:
    assert ErrorCode[name] == code
    assert ErrorCode(code).retriable is retriable
    assert is_retriable(code) is retriable


def test_lookups() -> None:
    assert ErrorCode.for_code(3) is ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert ErrorCode.for_code(4242) is ErrorCode.UNKNOWN_SERVER_ERROR
    assert error_info(4242) is None and not is_retriable(4242)
    assert ErrorCode.NONE.message is None
    assert ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.exception == "UnknownTopicOrPartitionException"
    assert "CRC" in (ErrorCode.CORRUPT_MESSAGE.message or "")


# kafka-python spells a few names differently (its own historic names) and calls CORRUPT_MESSAGE
# not retriable; everything else must agree.
KP_NAMES = {-1: "UNKNOWN", 0: "NO_ERROR", 6: "NOT_LEADER_FOR_PARTITION", 10: "MESSAGE_SIZE_TOO_LARGE",
            17: "INVALID_TOPIC", 39: "INVALID_REPLICATION_ASSIGNMENT"}


def test_agrees_with_kafka_python() -> None:
    errors = pytest.importorskip("kafka.errors")
    checked = 0
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if not issubclass(cls, errors.BrokerResponseError) or getattr(cls, "errno", None) is None:
            continue
        info = ERRORS[cls.errno]
        assert KP_NAMES.get(info.code, info.name) == cls.message
        if info.code != 2:
            assert info.retriable == bool(cls.retriable), info.name
        checked += 1
    assert checked >= 125

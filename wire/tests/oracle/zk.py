"""ZooKeeper's jute records, declared in construct from ``zookeeper.jute``.

Jute binary encoding (``../shared/zookeeper-protocol/opcodes.md`` §1), all big-endian:
``int`` 4 bytes, ``long`` 8 bytes, ``boolean`` 1 byte, ``buffer`` and ``ustring`` an
int length then the bytes (-1 is null), ``vector<T>`` an int count then the items
(-1 is null); a record is its fields in order, nothing else.

Field names are the jute names in snake_case.
"""

from __future__ import annotations

from construct import Construct, Struct

from wire.tests.oracle.kafka_types import BOOL, INT32, INT64, KArray, KBytes, KString

INT = INT32
LONG = INT64
BOOLEAN = BOOL
BUFFER = KBytes(compact=False, nullable=True, length=INT32)
USTRING = KString(compact=False, nullable=True, length=INT32)
#: A ustring inside a vector (watch paths). Jute itself allows null here too (-1, as
#: ``BinaryOutputArchive.writeString(null)`` writes it); a separate object so tests can
#: tell element strings from top-level ones (``wire.zk`` refuses null elements).
USTRING_ITEM = KString(compact=False, nullable=True, length=INT32)


def vector(element: Construct) -> KArray:
    return KArray(element, compact=False, nullable=True, count=INT32)


ID = Struct("scheme" / USTRING, "id" / USTRING)
ACL = Struct("perms" / INT, "id" / ID)

STAT = Struct(
    "czxid" / LONG,
    "mzxid" / LONG,
    "ctime" / LONG,
    "mtime" / LONG,
    "version" / INT,
    "cversion" / INT,
    "aversion" / INT,
    "ephemeral_owner" / LONG,
    "data_length" / INT,
    "num_children" / INT,
    "pzxid" / LONG,
)


def connect_request(read_only: bool) -> Struct:
    """ConnectRequest; the trailing readOnly boolean is optional on the wire."""
    fields: list[Construct] = [
        "protocol_version" / INT,
        "last_zxid_seen" / LONG,
        "time_out" / INT,
        "session_id" / LONG,
        "passwd" / BUFFER,
    ]
    if read_only:
        fields.append("read_only" / BOOLEAN)
    return Struct(*fields)


def connect_response(read_only: bool) -> Struct:
    """ConnectResponse; readOnly is present only when the request carried it."""
    fields: list[Construct] = [
        "protocol_version" / INT,
        "time_out" / INT,
        "session_id" / LONG,
        "passwd" / BUFFER,
    ]
    if read_only:
        fields.append("read_only" / BOOLEAN)
    return Struct(*fields)


REQUEST_HEADER = Struct("xid" / INT, "type" / INT)
REPLY_HEADER = Struct("xid" / INT, "zxid" / LONG, "err" / INT)

CREATE_REQUEST = Struct("path" / USTRING, "data" / BUFFER, "acl" / vector(ACL), "flags" / INT)
GET_DATA_REQUEST = Struct("path" / USTRING, "watch" / BOOLEAN)
GET_DATA_RESPONSE = Struct("data" / BUFFER, "stat" / STAT)
WATCHER_EVENT = Struct("type" / INT, "state" / INT, "path" / USTRING)
SET_WATCHES = Struct(
    "relative_zxid" / LONG,
    "data_watches" / vector(USTRING_ITEM),
    "exist_watches" / vector(USTRING_ITEM),
    "child_watches" / vector(USTRING_ITEM),
)
SET_WATCHES2 = Struct(
    "relative_zxid" / LONG,
    "data_watches" / vector(USTRING_ITEM),
    "exist_watches" / vector(USTRING_ITEM),
    "child_watches" / vector(USTRING_ITEM),
    "persistent_watches" / vector(USTRING_ITEM),
    "persistent_recursive_watches" / vector(USTRING_ITEM),
)

#: The records the parity tests check, by jute name.
RECORDS: dict[str, Construct] = {
    "ConnectRequest": connect_request(True),
    "ConnectRequest/noReadOnly": connect_request(False),
    "ConnectResponse": connect_response(True),
    "ConnectResponse/noReadOnly": connect_response(False),
    "RequestHeader": REQUEST_HEADER,
    "ReplyHeader": REPLY_HEADER,
    "Stat": STAT,
    "Id": ID,
    "ACL": ACL,
    "CreateRequest": CREATE_REQUEST,
    "GetDataRequest": GET_DATA_REQUEST,
    "GetDataResponse": GET_DATA_RESPONSE,
    "WatcherEvent": WATCHER_EVENT,
    "SetWatches": SET_WATCHES,
    "SetWatches2": SET_WATCHES2,
}

__all__ = ["ACL", "BOOLEAN", "BUFFER", "ID", "INT", "LONG", "RECORDS", "STAT", "USTRING", "USTRING_ITEM", "vector"]

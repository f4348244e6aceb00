"""Kafka's ZooKeeper layout (2.8 - 3.9): every znode path ZooKeeper mode touches, and the JSON of each.

This module owns the *bytes*: paths relative to the chroot (kazoo applies the
chroot of the connection string itself; ``split_connect`` separates it so the
bridge can create it first, as Kafka does) and pure encode/decode functions
mapping znode data to and from the plain values of ``broker.zk.model``. No I/O.

Byte compatibility with Kafka 3.9 (``kafka.zk.ZkData``): Kafka serialises with
Jackson over the ``java.util.Map`` views of Scala maps, so the key order of its
JSON is the iteration order of those maps, which depends on the map kind:

* a Scala immutable ``Map`` of at most 4 entries keeps insertion order; with 5
  or more it is a CHAMP ``HashMap`` iterated by the bits of Scala's improved
  hash (``_champ_order``; this reproduces the partition-state order Kafka is
  documented to write: ``controller_epoch, leader, version, leader_epoch, isr``);
* a Scala ``mutable.Map`` is a ``mutable.HashMap`` iterated by bucket of
  ``h ^ (h >>> 16)`` and, inside a bucket, by that hash (``_scala_mutable_order``);
  broker registrations and topic assignments are written this way;
* ``java.util.Properties`` (topic configs) iterates its ``ConcurrentHashMap`` by
  bucket (``_java_hash_order``); ``HashMap`` (broker features) the same way.

Compact separators, UTF-8 without escaping non-ASCII, as Jackson writes.
Decoders accept every version Kafka's readers accept (v1-v5 registrations,
v1-v3 assignments) and raise ``LayoutError`` on anything else malformed.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from broker.zk.model import BrokerRegistration, FeatureZNode, PartitionState, TopicAssignment

# -- paths ------------------------------------------------------------------------------------------

PRODUCER_ID_BLOCK_SIZE = 1000  # ids a broker claims at a time in /latest_producer_id_block (ProducerIdsBlock)

CLUSTER = "/cluster"
CLUSTER_ID = "/cluster/id"
CONTROLLER = "/controller"
CONTROLLER_EPOCH = "/controller_epoch"
BROKERS = "/brokers"
BROKER_IDS = "/brokers/ids"
TOPICS = "/brokers/topics"
BROKER_SEQID = "/brokers/seqid"
CONFIG = "/config"
CONFIG_CHANGES = "/config/changes"
CONFIG_TOPICS = "/config/topics"
CONFIG_BROKERS = "/config/brokers"
DEFAULT_ENTITY = "<default>"  # ZooKeeperInternals.DEFAULT_STRING: the default user / client-id / ip / broker
QUOTA_TYPES = ("users", "clients", "ips")  # /config/<type>/... that hold client quotas
CONFIG_CHANGE_PREFIX = "/config/changes/config_change_"
ADMIN = "/admin"
DELETE_TOPICS = "/admin/delete_topics"
PREFERRED_REPLICA_ELECTION = "/admin/preferred_replica_election"
REASSIGN_PARTITIONS = "/admin/reassign_partitions"  # legacy (deprecated since 2.4) reassignment requests
ISR_CHANGES = "/isr_change_notification"
ISR_CHANGE_PREFIX = "/isr_change_notification/isr_change_"
PRODUCER_ID_BLOCK = "/latest_producer_id_block"
LOG_DIR_EVENTS = "/log_dir_event_notification"
CONSUMERS = "/consumers"
FEATURE = "/feature"  # KIP-584's finalized features, written by the controller
CONFIG_TYPES = ("topics", "clients", "users", "brokers", "ips")  # ConfigType.ALL

# ZkData.PersistentZkPaths: what every broker makes sure exists at start-up.
PERSISTENT_PATHS: tuple[str, ...] = (
    CONSUMERS, BROKER_IDS, TOPICS, CONFIG_CHANGES, DELETE_TOPICS, BROKER_SEQID, ISR_CHANGES, PRODUCER_ID_BLOCK,
    LOG_DIR_EVENTS, *(f"{CONFIG}/{kind}" for kind in CONFIG_TYPES),
)

NO_TOPIC_ID = uuid.UUID(int=0)  # Kafka's Uuid.ZERO_UUID: an assignment written without "topic_id" (v1/v2)


def broker_path(broker_id: int) -> str:
    return f"{BROKER_IDS}/{broker_id}"


def topic_path(topic: str) -> str:
    return f"{TOPICS}/{topic}"


def partitions_path(topic: str) -> str:
    return f"{TOPICS}/{topic}/partitions"


def partition_path(topic: str, partition: int) -> str:
    return f"{TOPICS}/{topic}/partitions/{partition}"


def partition_state_path(topic: str, partition: int) -> str:
    return f"{TOPICS}/{topic}/partitions/{partition}/state"


def config_path(entity_type: str, entity_name: str) -> str:
    return f"{CONFIG}/{entity_type}/{entity_name}"


def topic_config_path(topic: str) -> str:
    return config_path("topics", topic)


def broker_config_path(broker_id: int | None) -> str:
    """``/config/brokers/<id>``, or ``/config/brokers/<default>`` for the cluster-wide default (None)."""
    return config_path("brokers", DEFAULT_ENTITY if broker_id is None else str(broker_id))


def delete_topic_path(topic: str) -> str:
    return f"{DELETE_TOPICS}/{topic}"


def split_connect(connect: str) -> tuple[str, str]:
    """``zookeeper.connect`` -> (hosts, chroot); the chroot is "" when absent or "/". Kafka's rule: the
    chroot starts at the first "/" and applies to the whole host list."""
    slash = connect.find("/")
    if slash < 0:
        return connect, ""
    hosts, chroot = connect[:slash], connect[slash:].rstrip("/")
    return hosts, chroot


# -- Kafka's Uuid text form -------------------------------------------------------------------------

def uuid_to_kafka(value: uuid.UUID) -> str:
    """``Uuid.toString``: the 16 bytes (most significant first) in URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode("ascii")


def uuid_from_kafka(text: str) -> uuid.UUID:
    """``Uuid.fromString``: 22 characters of URL-safe base64."""
    if len(text) != 22:
        raise LayoutError(f"not a Kafka Uuid (22 base64url characters): {text!r}")
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except (ValueError, TypeError) as exc:
        raise LayoutError(f"not a Kafka Uuid: {text!r}") from exc
    if len(raw) != 16:
        raise LayoutError(f"not a Kafka Uuid: {text!r}")
    return uuid.UUID(bytes=raw)


def new_kafka_uuid() -> uuid.UUID:
    """``Uuid.randomUuid``: random, never zero and never one whose text starts with "-" (Kafka avoids those
    because command-line tools would read them as options)."""
    while True:
        value = uuid.uuid4()
        if value.int != 0 and not uuid_to_kafka(value).startswith("-"):
            return value


# -- the iteration orders of the maps Kafka serialises -------------------------------------------------

def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _urs(value: int, bits: int) -> int:
    """Java's ``>>>`` on an int."""
    return (value & 0xFFFFFFFF) >> bits


def java_string_hash(text: str) -> int:
    """``String.hashCode`` (over UTF-16 code units), as a signed 32-bit int."""
    raw = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(raw), 2):
        h = (31 * h + ((raw[i] << 8) | raw[i + 1])) & 0xFFFFFFFF
    return _s32(h)


def _scala_improve(hcode: int) -> int:
    """``scala.collection.Hashing.improve`` (the hash a CHAMP ``immutable.HashMap`` indexes by)."""
    h = _s32(hcode + _s32(~_s32(hcode << 9)))
    h = _s32(h ^ _urs(h, 14))
    h = _s32(h + _s32(h << 4))
    return _s32(h ^ _urs(h, 10))


def _champ_order(keys: list[str], shift: int = 0) -> list[str]:
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(_urs(_scala_improve(java_string_hash(key)), shift) & 0x1F, []).append(key)
    ordered = [group[0] for _, group in sorted(groups.items()) if len(group) == 1]  # payload first
    for _, group in sorted(groups.items()):
        if len(group) > 1:  # then sub-nodes, depth first (a full collision cannot happen for distinct names here)
            ordered += _champ_order(group, shift + 5) if shift < 30 else group
    return ordered


def _scala_immutable_order(keys: list[str]) -> list[str]:
    """Iteration order of ``Map(k1 -> v1, ...)`` (Scala 2.13): Map1..Map4 keep insertion order."""
    return list(keys) if len(keys) <= 4 else _champ_order(keys)


def _table_size(count: int, grows_at: float) -> int:
    size = 16
    while count >= size * grows_at:
        size *= 2
    return size


def _scala_mutable_order(keys: list[str]) -> list[str]:
    """Iteration order of a Scala 2.13 ``mutable.HashMap`` (16 buckets, grown before the insert that reaches
    0.75 of the table): by bucket of ``h ^ (h >>> 16)``, inside a bucket by that hash (kept sorted)."""
    size = _table_size(len(keys), 0.75)

    def position(key: str) -> tuple[int, int]:
        h = java_string_hash(key)
        improved = _s32(h ^ _urs(h, 16))
        return improved & (size - 1), improved

    return sorted(keys, key=position)


def _java_hash_order(keys: list[str]) -> list[str]:
    """Iteration order of a ``java.util.HashMap``/``ConcurrentHashMap`` of default size filled in this order: by
    bucket of the spread hash, insertion order inside a bucket (resizes of big maps may differ)."""
    size = _table_size(len(keys), 0.75)

    def bucket(key: str) -> int:
        h = java_string_hash(key)
        return (h ^ _urs(h, 16)) & (size - 1)

    return sorted(keys, key=bucket)  # stable: insertion order within a bucket


def _ordered(mapping: Mapping[str, Any], order: list[str]) -> dict[str, Any]:
    return {key: mapping[key] for key in order}


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- decoding helpers ------------------------------------------------------------------------------

class LayoutError(ValueError):
    """Znode data that is not what Kafka writes there."""


def _load(data: bytes | None, what: str) -> dict[str, Any]:
    if data is None:
        raise LayoutError(f"{what}: no data")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayoutError(f"{what}: not JSON: {data[:200]!r}") from exc
    if not isinstance(value, dict):
        raise LayoutError(f"{what}: not a JSON object: {data[:200]!r}")
    return value


def _int(obj: Mapping[str, Any], key: str, what: str, default: int | None = None) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise LayoutError(f"{what}: {key!r} is not an integer: {value!r}")
    return value


def _int_list(value: Any, what: str) -> list[int]:
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise LayoutError(f"{what}: not a list of integers: {value!r}")
    return list(value)


# -- /cluster/id --------------------------------------------------------------------------------------

def encode_cluster_id(cluster_id: str) -> bytes:
    """``{"version":"1","id":"..."}`` (the version is a string here)."""
    return _dump({"version": "1", "id": cluster_id})


def decode_cluster_id(data: bytes | None) -> str:
    obj = _load(data, CLUSTER_ID)
    cluster_id = obj.get("id")
    if not isinstance(cluster_id, str):
        raise LayoutError(f"{CLUSTER_ID}: no string id: {obj!r}")
    return cluster_id


# -- /controller and /controller_epoch --------------------------------------------------------------------

def encode_controller(broker_id: int, timestamp_ms: int, kraft_controller_epoch: int = -1) -> bytes:
    """v2 (3.4+): ``{"version":2,"brokerid":N,"timestamp":"<ms>","kraftControllerEpoch":-1}``."""
    return _dump({"version": 2, "brokerid": broker_id, "timestamp": str(timestamp_ms),
                  "kraftControllerEpoch": kraft_controller_epoch})


def decode_controller(data: bytes | None) -> int:
    """The controller's broker id (v1 and v2; readers need only ``brokerid``)."""
    return _int(_load(data, CONTROLLER), "brokerid", CONTROLLER)


def encode_controller_epoch(epoch: int) -> bytes:
    return str(epoch).encode("ascii")


def decode_controller_epoch(data: bytes | None) -> int:
    try:
        return int((data or b"").decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LayoutError(f"{CONTROLLER_EPOCH}: not an integer: {data!r}") from exc


# -- /brokers/ids/<id> ----------------------------------------------------------------------------------

_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def _format_address(host: str, port: int) -> str:
    """``Utils.formatAddress``: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def encode_broker(registration: BrokerRegistration, *, version: int = 5, jmx_port: int = -1) -> bytes:
    """``BrokerIdZNode.encode``: v5 (IBP >= 2.7) by default; v4 drops ``features``, v2 also drops the listener
    map and ``rack``. Our listener is plaintext: its security protocol is PLAINTEXT unless its name is
    another protocol's, and the top-level host/port repeat it for old clients."""
    listener = registration.listener
    protocol = listener if listener in _SECURITY_PROTOCOLS else "PLAINTEXT"
    if protocol == "PLAINTEXT":
        host: str | None = registration.host
        port = registration.port
    else:
        host, port = None, -1
    endpoint = f"{listener}://{_format_address(registration.host, registration.port)}"
    fields: dict[str, Any] = {
        "version": version, "host": host, "port": port, "endpoints": [endpoint], "jmx_port": jmx_port,
        "timestamp": str(registration.timestamp_ms),
    }
    if registration.rack is not None and version >= 3:
        fields["rack"] = registration.rack
    if version >= 4:
        fields["listener_security_protocol_map"] = {listener: protocol}
    if version >= 5:
        names = _java_hash_order(list(registration.features))
        fields["features"] = {name: {"min_version": registration.features[name][0],
                                     "max_version": registration.features[name][1]} for name in names}
    return _dump(_ordered(fields, _scala_mutable_order(list(fields))))


def _parse_endpoint(text: str, what: str) -> tuple[str, str, int]:
    """``NAME://host:port`` (IPv6 in brackets) -> (listener, host, port)."""
    name, sep, rest = text.partition("://")
    host, colon, port_text = rest.rpartition(":")
    if not sep or not colon or not name:
        raise LayoutError(f"{what}: bad endpoint {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError as exc:
        raise LayoutError(f"{what}: bad endpoint port {text!r}") from exc
    return name, host, port


def decode_broker(broker_id: int, data: bytes | None) -> BrokerRegistration:
    """v1..v5. The first endpoint is the one we record; v1 (no endpoints) is ``host``/``port``, PLAINTEXT."""
    what = broker_path(broker_id)
    obj = _load(data, what)
    version = _int(obj, "version", what)
    if version < 1:
        raise LayoutError(f"{what}: unsupported version {version}")
    endpoints = obj.get("endpoints")
    if version >= 2 and isinstance(endpoints, list) and endpoints:
        if not isinstance(endpoints[0], str):
            raise LayoutError(f"{what}: bad endpoints {endpoints!r}")
        listener, host, port = _parse_endpoint(endpoints[0], what)
    else:
        host_value = obj.get("host")
        if not isinstance(host_value, str):
            raise LayoutError(f"{what}: no endpoints and no host")
        listener, host, port = "PLAINTEXT", host_value, _int(obj, "port", what)
    rack = obj.get("rack")
    if rack is not None and not isinstance(rack, str):
        raise LayoutError(f"{what}: rack is not a string: {rack!r}")
    timestamp = obj.get("timestamp", "0")
    try:
        timestamp_ms = int(timestamp)
    except (TypeError, ValueError) as exc:
        raise LayoutError(f"{what}: bad timestamp {timestamp!r}") from exc
    features: dict[str, tuple[int, int]] = {}
    raw_features = obj.get("features") or {}
    if not isinstance(raw_features, dict):
        raise LayoutError(f"{what}: bad features {raw_features!r}")
    for name, bounds in raw_features.items():
        if not isinstance(bounds, dict):
            raise LayoutError(f"{what}: bad feature {name!r}: {bounds!r}")
        features[name] = (_int(bounds, "min_version", what), _int(bounds, "max_version", what))
    return BrokerRegistration(broker_id, host, port, rack, timestamp_ms, listener, features)


# -- /brokers/topics/<topic> ----------------------------------------------------------------------------

def encode_topic(assignment: TopicAssignment) -> bytes:
    """``TopicZNode.encode``: v3; ``topic_id`` unless the id is the zero Uuid (no id); the reassignment maps
    name only the partitions being reassigned (``adding_replicas`` / ``removing_replicas``)."""
    partitions = {str(p): list(replicas) for p, replicas in assignment.partitions.items()}
    adding = {str(p): list(r) for p, r in assignment.adding.items() if r}
    removing = {str(p): list(r) for p, r in assignment.removing.items() if r}
    fields: dict[str, Any] = {
        "version": 3,
        "partitions": _ordered(partitions, _scala_mutable_order(list(partitions))),
        "adding_replicas": _ordered(adding, _scala_mutable_order(list(adding))),
        "removing_replicas": _ordered(removing, _scala_mutable_order(list(removing))),
    }
    if assignment.topic_id != NO_TOPIC_ID:
        fields["topic_id"] = uuid_to_kafka(assignment.topic_id)
    return _dump(_ordered(fields, _scala_mutable_order(list(fields))))


def encode_topic_v1(partitions: Mapping[int, list[int]]) -> bytes:
    """What pre-2.4 tools wrote: ``{"version":1,"partitions":{"0":[1,2]}}`` (for tests and old-tool imitation)."""
    return _dump({"version": 1, "partitions": {str(p): list(r) for p, r in sorted(partitions.items())}})


def decode_topic(topic: str, data: bytes | None, zk_version: int = -1) -> TopicAssignment:
    """v1..v3; a missing ``topic_id`` gives ``NO_TOPIC_ID`` (the controller then assigns one, as Kafka's does).
    ``zk_version`` is the znode's version as read (kept in the assignment for conditional rewrites)."""
    what = topic_path(topic)
    obj = _load(data, what)
    raw_id = obj.get("topic_id")
    if raw_id is None:
        topic_id = NO_TOPIC_ID
    elif isinstance(raw_id, str):
        topic_id = uuid_from_kafka(raw_id)
    else:
        raise LayoutError(f"{what}: topic_id is not a string: {raw_id!r}")
    raw = obj.get("partitions") or {}
    if not isinstance(raw, dict):
        raise LayoutError(f"{what}: partitions is not an object: {raw!r}")
    partitions: dict[int, list[int]] = {}
    for key, replicas in raw.items():
        try:
            index = int(key)
        except ValueError as exc:
            raise LayoutError(f"{what}: bad partition id {key!r}") from exc
        partitions[index] = _int_list(replicas, what)
    moving: list[dict[int, list[int]]] = []
    for key in ("adding_replicas", "removing_replicas"):
        raw_moving = obj.get(key) or {}
        if not isinstance(raw_moving, dict):
            raise LayoutError(f"{what}: {key} is not an object: {raw_moving!r}")
        try:
            # entries of partitions the assignment does not have are ignored, as Kafka builds one
            # ReplicaAssignment per partition of "partitions"
            moving.append({int(p): _int_list(r, what) for p, r in sorted(raw_moving.items(), key=lambda i: int(i[0]))
                           if r and int(p) in partitions})
        except ValueError as exc:
            raise LayoutError(f"{what}: bad partition id in {key}") from exc
    return TopicAssignment(topic, topic_id, dict(sorted(partitions.items())), moving[0], moving[1], zk_version)


# -- /brokers/topics/<topic>/partitions/<p>/state ----------------------------------------------------------

def encode_partition_state(state: PartitionState, leader_recovery_state: int = 0) -> bytes:
    """``TopicPartitionStateZNode.encode``: v1; ``leader_recovery_state`` only when not RECOVERED (0)."""
    fields: dict[str, Any] = {"version": 1, "leader": state.leader, "leader_epoch": state.leader_epoch,
                              "controller_epoch": state.controller_epoch, "isr": list(state.isr)}
    if leader_recovery_state != 0:
        fields["leader_recovery_state"] = leader_recovery_state
    return _dump(_ordered(fields, _scala_immutable_order(list(fields))))


def decode_partition_state(data: bytes | None, zk_version: int = -1, what: str = "partition state") -> PartitionState:
    obj = _load(data, what)
    return PartitionState(
        leader=_int(obj, "leader", what), leader_epoch=_int(obj, "leader_epoch", what),
        isr=_int_list(obj.get("isr"), what), controller_epoch=_int(obj, "controller_epoch", what),
        zk_version=zk_version,
    )


# -- /config/<type>/<name> and /config/changes ---------------------------------------------------------------

def encode_config(configs: Mapping[str, str]) -> bytes:
    """``ConfigEntityZNode.encode``: ``{"version":1,"config":{...}}``, values as strings, in the order a
    ``Properties`` filled in this order iterates."""
    values = {key: str(value) for key, value in configs.items()}
    return _dump({"version": 1, "config": _ordered(values, _java_hash_order(list(values)))})


def decode_config(data: bytes | None) -> dict[str, str]:
    """Kafka's reader: null or unparsable data, or no ``config`` object, is an empty config; values to strings."""
    if not data:
        return {}
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayoutError(f"config: not JSON: {data[:200]!r}") from exc
    config = obj.get("config") if isinstance(obj, dict) else None
    if not isinstance(config, dict):
        return {}
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}


def config_change_sequence(name: str) -> int | None:
    """The sequence number of a ``config_change_<10 digits>`` child of ``/config/changes`` (None: not one)."""
    prefix = CONFIG_CHANGE_PREFIX.rsplit("/", 1)[1]
    if not name.startswith(prefix) or not name[len(prefix):].isdigit():
        return None
    return int(name[len(prefix):])


def encode_config_change(entity_path: str) -> bytes:
    """``/config/changes/config_change_<seq>`` v2: ``{"version":2,"entity_path":"topics/<t>"}``."""
    return _dump({"version": 2, "entity_path": entity_path})


def decode_config_change(data: bytes | None) -> str:
    """The entity path of a v2 notification (v1's entity_type/entity_name are joined into one)."""
    obj = _load(data, "config change")
    if obj.get("version") == 1:
        kind, name = obj.get("entity_type"), obj.get("entity_name")
        if isinstance(kind, str) and isinstance(name, str):
            return f"{kind}/{name}"
    path = obj.get("entity_path")
    if not isinstance(path, str):
        raise LayoutError(f"config change: no entity_path: {obj!r}")
    return path


# -- quota entities: names in znode paths (Sanitizer) and entity paths ---------------------------------------

_URL_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


def sanitize(name: str | None) -> str:
    """Kafka's ``Sanitizer.sanitize`` of a user principal or client id for a znode name: ``URLEncoder`` (UTF-8;
    ``.-_`` and alphanumerics kept) with ``*`` and space as ``%2A`` and ``%20``; None (the default entity) is
    ``<default>``."""
    if name is None:
        return DEFAULT_ENTITY
    return "".join(c if c in _URL_SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in name)


def desanitize(name: str) -> str | None:
    """``Sanitizer.desanitize`` (``URLDecoder``: ``+`` is a space); ``<default>`` is None."""
    if name == DEFAULT_ENTITY:
        return None
    from urllib.parse import unquote_plus

    return unquote_plus(name, encoding="utf-8")


QuotaEntity = tuple[tuple[str, str | None], ...]
"""A client quota entity: (entity type, name) pairs sorted by type, ``user``/``client-id``/``ip`` (the
protocol's names); a None name is the default entity of that type."""


def quota_entity_path(entity: QuotaEntity) -> str:
    """The entity path of a quota entity (``users/alice``, ``clients/c1``, ``users/alice/clients/c1``,
    ``ips/1.2.3.4``, with ``<default>`` names), as ``/config/<path>`` and change notifications name it.
    Raises ValueError for a combination Kafka has no place for."""
    kinds = dict(entity)
    if set(kinds) == {"user", "client-id"}:
        return f"users/{sanitize(kinds['user'])}/clients/{sanitize(kinds['client-id'])}"
    if set(kinds) == {"user"}:
        return f"users/{sanitize(kinds['user'])}"
    if set(kinds) == {"client-id"}:
        return f"clients/{sanitize(kinds['client-id'])}"
    if set(kinds) == {"ip"}:
        return f"ips/{sanitize(kinds['ip'])}"
    raise ValueError(f"no quota entity path for {entity!r}")


def parse_quota_entity_path(path: str) -> QuotaEntity:
    """The inverse of ``quota_entity_path``; raises ValueError for anything else."""
    parts = path.split("/")
    if len(parts) == 4 and parts[0] == "users" and parts[2] == "clients":
        return (("client-id", desanitize(parts[3])), ("user", desanitize(parts[1])))
    if len(parts) == 2 and parts[1]:
        kind = {"users": "user", "clients": "client-id", "ips": "ip"}.get(parts[0])
        if kind is not None:
            return ((kind, desanitize(parts[1])),)
    raise ValueError(f"not a quota entity path: {path!r}")


# -- notifications and the producer id block --------------------------------------------------------------------

def encode_preferred_election(partitions: Iterable[tuple[str, int]]) -> bytes:
    """``/admin/preferred_replica_election``: ``{"version":1,"partitions":[{"topic":..,"partition":..}]}``."""
    return _dump({"version": 1, "partitions": [{"topic": t, "partition": p} for t, p in partitions]})


def decode_preferred_election(data: bytes | None) -> frozenset[tuple[str, int]]:
    """The partitions named (Kafka's ``PreferredReplicaElectionZNode.decode``); unreadable data names none."""
    obj = _load(data, "preferred replica election")
    entries = obj.get("partitions") if isinstance(obj, dict) else None
    if not isinstance(entries, list):
        raise LayoutError(f"preferred replica election: no partitions: {obj!r}")
    out: set[tuple[str, int]] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("topic"), str) \
                or not isinstance(entry.get("partition"), int):
            raise LayoutError(f"preferred replica election: bad partition {entry!r}")
        out.add((entry["topic"], entry["partition"]))
    return frozenset(out)


def encode_isr_change(partitions: Iterable[tuple[str, int]]) -> bytes:
    """``/isr_change_notification/isr_change_<seq>``: ``{"version":1,"partitions":[{"topic":..,"partition":..}]}``."""
    return _dump({"version": 1, "partitions": [{"topic": t, "partition": p} for t, p in partitions]})


def decode_isr_change(data: bytes | None) -> list[tuple[str, int]]:
    obj = _load(data, "isr change")
    entries = obj.get("partitions")
    if not isinstance(entries, list):
        raise LayoutError(f"isr change: no partitions: {obj!r}")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("topic"), str):
            raise LayoutError(f"isr change: bad entry {entry!r}")
        out.append((entry["topic"], _int(entry, "partition", "isr change")))
    return out


def encode_producer_id_block(broker_id: int, block_start: int, block_end: int) -> bytes:
    """``/latest_producer_id_block`` v1; start and end are strings."""
    return _dump({"version": 1, "broker": broker_id, "block_start": str(block_start), "block_end": str(block_end)})


def decode_producer_id_block(data: bytes | None) -> tuple[int, int, int]:
    """(broker, first id, last id)."""
    obj = _load(data, PRODUCER_ID_BLOCK)
    try:
        return _int(obj, "broker", PRODUCER_ID_BLOCK), int(obj["block_start"]), int(obj["block_end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise LayoutError(f"{PRODUCER_ID_BLOCK}: bad block {obj!r}") from exc



# -- /feature ------------------------------------------------------------------------------------------------

def encode_feature(node: FeatureZNode) -> bytes:
    """``FeatureZNode.encode``: a ``mutable.Map`` of ``version``, ``status`` and ``features`` (Scala 2.13's
    ``mutable.HashMap`` order: features, version, status); each feature ``{"max_version_level":N}`` in v2,
    ``{"max_version_level":N,"min_version_level":N}`` in v1. A fresh Kafka 3.9 ZooKeeper-mode cluster holds
    ``{"features":{},"version":2,"status":1}``."""
    def levels(level: int) -> dict[str, int]:
        return {"max_version_level": level} if node.version != 1 else {"max_version_level": level,
                                                                        "min_version_level": level}
    features = {name: levels(node.features[name]) for name in _java_hash_order(list(node.features))}
    fields: dict[str, Any] = {"version": node.version, "status": node.status, "features": features}
    return _dump(_ordered(fields, _scala_mutable_order(list(fields))))


def decode_feature(data: bytes | None) -> FeatureZNode:
    """``FeatureZNode.decode``: version 1 or 2, a status of 0 or 1, a ``features`` object (v1 entries must
    carry ``min_version_level``); the level is ``max_version_level``."""
    obj = _load(data, FEATURE)
    version = _int(obj, "version", FEATURE)
    if version not in (1, 2):
        raise LayoutError(f"Unsupported version: {version} of feature information")
    status = obj.get("status")
    if status not in (0, 1) or isinstance(status, bool):
        raise LayoutError(f"{FEATURE}: bad status {status!r}")
    raw = obj.get("features")
    if not isinstance(raw, dict):
        raise LayoutError(f"Features map can not be absent in: {obj!r}")
    features: dict[str, int] = {}
    for name, info in raw.items():
        if not isinstance(info, dict):
            raise LayoutError(f"{FEATURE}: bad feature {name!r}: {info!r}")
        if version == 1 and "min_version_level" not in info:
            raise LayoutError(f"min_version_level absent in [{info!r}]")
        level = _int(info, "max_version_level", FEATURE)
        if version == 1 and not 1 <= _int(info, "min_version_level", FEATURE) <= level:
            raise LayoutError(f"Expected minValue >= 1, maxValue >= 1 and maxValue >= minValue: {info!r}")
        if level < 1:
            raise LayoutError(f"Expected maxValue >= 1, but received maxValue: {level}")
        features[name] = level
    return FeatureZNode(version, status, features)


# -- /admin/reassign_partitions (legacy) -----------------------------------------------------------------------

def encode_reassign_partitions(partitions: Mapping[tuple[str, int], list[int]]) -> bytes:
    """``ReassignPartitionsZNode.encode``: ``{"version":1,"partitions":[{"topic":..,"partition":..,"replicas":[..]}]}``."""
    return _dump({"version": 1, "partitions": [{"topic": t, "partition": p, "replicas": list(r)}
                                               for (t, p), r in partitions.items()]})


def decode_reassign_partitions(data: bytes | None) -> dict[tuple[str, int], list[int]]:
    """``ReassignPartitionsZNode.decode``: partition -> target replicas."""
    obj = _load(data, REASSIGN_PARTITIONS)
    entries = obj.get("partitions")
    if not isinstance(entries, list):
        raise LayoutError(f"{REASSIGN_PARTITIONS}: no partitions: {obj!r}")
    out: dict[tuple[str, int], list[int]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("topic"), str):
            raise LayoutError(f"{REASSIGN_PARTITIONS}: bad entry {entry!r}")
        out[(entry["topic"], _int(entry, "partition", REASSIGN_PARTITIONS))] = \
            _int_list(entry.get("replicas"), REASSIGN_PARTITIONS)
    return out

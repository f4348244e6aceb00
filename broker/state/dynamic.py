"""Dynamic configuration other than a topic's: dynamic broker configs and client quotas, as Kafka 3.9 keeps them.

``DynamicConfigs`` holds the cluster-wide dynamic broker default (Kafka's
``/config/brokers/<default>``), per-broker entries (``/config/brokers/<id>``) and
the client quota entities (``/config/users|clients|ips/...``), each as the string
properties Kafka stores. This module is pure: it owns the rules of
``ZkAdminManager`` / ``DynamicBrokerConfig`` for what may be set and how it is
described; where the values live (ZooKeeper through ``broker.zk``, the
``--data-dir`` metadata file, or memory) is the core's business.

Broker keys: Kafka can change the ``DYNAMIC_BROKER_KEYS`` at runtime. wiretwin
honours the topic-config synonyms among them (``log.retention.ms``,
``message.max.bytes``, ``log.cleanup.policy``, ...: ``HONOURED_BROKER_KEYS``), which
become the defaults of topics without an override, exactly as a static setting
of the same key would, and ``transaction.partition.verification.enable``
(``HONOURED_OTHER_KEYS``: a boolean, read where the verification is decided,
``broker.state.txn_verification``); the other dynamic keys (thread pools, listeners,
replication throttles, ...) are refused with a message saying so.

Client quotas are stored and described as Kafka does; they are not enforced
(no throttling).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from broker.state.configs import TOPIC_CONFIGS, topic_config_error
from broker.zk.layout import DEFAULT_ENTITY, QuotaEntity, parse_quota_entity_path, quota_entity_path
from wire.kafka.error_codes import ErrorCode

# -- dynamic broker configs ---------------------------------------------------------------------------------

BROKER_TO_TOPIC = {spec.broker_key: name for name, spec in TOPIC_CONFIGS.items() if spec.broker_key is not None}
HONOURED_BROKER_KEYS = frozenset(BROKER_TO_TOPIC)

# broker keys Kafka 3.9 can change at runtime (DynamicBrokerConfig.AllDynamicConfigs, the parts a plain-text
# broker has): the topic synonyms, and these, which wiretwin cannot honour
UNHONOURED_DYNAMIC_KEYS = frozenset({
    "log.cleaner.threads", "log.cleaner.io.max.bytes.per.second", "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size", "log.cleaner.io.buffer.load.factor", "log.cleaner.backoff.ms",
    "num.io.threads", "num.network.threads", "num.replica.fetchers", "num.recovery.threads.per.data.dir",
    "background.threads", "max.connections", "max.connections.per.ip", "max.connections.per.ip.overrides",
    "max.connection.creation.rate", "metric.reporters", "listeners", "advertised.listeners",
    "listener.security.protocol.map", "producer.id.expiration.ms",
    "leader.replication.throttled.rate", "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second", "remote.log.manager.task.interval.ms",
})
# other dynamic keys wiretwin honours, with their type (Kafka's ConfigDef type)
HONOURED_OTHER_KEYS = {"transaction.partition.verification.enable": "BOOLEAN"}
DYNAMIC_BROKER_KEYS = HONOURED_BROKER_KEYS | UNHONOURED_DYNAMIC_KEYS | frozenset(HONOURED_OTHER_KEYS)


class Refusal(Exception):
    """A refused alteration: the error code and message Kafka answers with (None for UNKNOWN_SERVER_ERROR,
    whose message ``ApiError.fromThrowable`` leaves out)."""

    def __init__(self, code: ErrorCode, message: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def scala_set(names: list[str]) -> str:
    return f"Set({', '.join(names)})"


def broker_config_problem(props: dict[str, str]) -> str | None:
    """Why ``DynamicBrokerConfig.validate`` rejects these props (a ConfigException message), or None."""
    static = sorted(k for k in props if k not in DYNAMIC_BROKER_KEYS)
    if static:
        return f"Cannot update these configs dynamically: {scala_set(static)}"
    for key in sorted(props):
        if HONOURED_OTHER_KEYS.get(key) == "BOOLEAN" and props[key].strip().lower() not in ("true", "false"):
            return f"Invalid value {props[key]} for configuration {key}: Expected value to be either true or false"
        topic_key = BROKER_TO_TOPIC.get(key)
        if topic_key is not None:
            problem = topic_config_error(topic_key, props[key], label=key)
            if problem is not None:
                return problem
    return None


def unhonoured(props: dict[str, str]) -> list[str]:
    """Keys Kafka would take dynamically but wiretwin cannot act on."""
    return sorted(k for k in props if k in UNHONOURED_DYNAMIC_KEYS)


# -- client quotas -------------------------------------------------------------------------------------------

class QuotaType(Enum):
    LONG = "LONG"
    INT = "INT"
    DOUBLE = "DOUBLE"
    STRING = "STRING"


# DynamicConfig.Client / User (QuotaConfigs.userAndClientQuotaConfigs; users also take the SCRAM mechanisms) / Ip
CLIENT_QUOTA_KEYS = {"producer_byte_rate": QuotaType.LONG, "consumer_byte_rate": QuotaType.LONG,
                     "request_percentage": QuotaType.DOUBLE, "controller_mutation_rate": QuotaType.DOUBLE}
USER_CONFIG_KEYS = {**CLIENT_QUOTA_KEYS, "SCRAM-SHA-256": QuotaType.STRING, "SCRAM-SHA-512": QuotaType.STRING}
IP_QUOTA_KEYS = {"connection_creation_rate": QuotaType.INT}

ENTITY_TYPES = ("user", "client-id", "ip")
MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED = 0, 1, 2


def java_double(value: float) -> str:
    """Java's ``Double.toString`` (how Kafka stores a DOUBLE quota): plain between 1e-3 and 1e7, else
    ``d.dddE±n``."""
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    exp10 = len("".join(map(str, digits))) - 1 + exponent
    return f"{'-' if sign else ''}{ds[0]}.{ds[1:] or '0'}E{exp10}"


def quota_entity(pairs: list[tuple[str, str | None]]) -> QuotaEntity:
    """``ZkAdminManager.parseAndSanitizeQuotaEntity`` plus the combination check of ``alterEntityQuotas``:
    raises Refusal (INVALID_REQUEST) for what Kafka refuses."""
    if not pairs:
        raise Refusal(ErrorCode.INVALID_REQUEST, "Invalid empty client quota entity")
    kinds: dict[str, str | None] = {}
    for kind, name in pairs:
        if kind not in ENTITY_TYPES:
            raise Refusal(ErrorCode.INVALID_REQUEST, f"Unhandled client quota entity type: {kind}")
        if name is not None and name == "":
            raise Refusal(ErrorCode.INVALID_REQUEST, f"Empty {kind} not supported")
        kinds[kind] = name
    if "ip" in kinds:
        if len(kinds) > 1:
            raise Refusal(ErrorCode.INVALID_REQUEST,
                          "Invalid quota entity combination, IP entity should not be used with user/client ID entity.")
        ip = kinds["ip"]
        if ip is not None:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise Refusal(ErrorCode.INVALID_REQUEST, f"{ip} is not a valid IP or resolvable host.") from None
    return tuple(sorted(kinds.items()))


def alter_quota(current: dict[str, str], entity: QuotaEntity,
                ops: list[tuple[str, float | None]]) -> dict[str, str]:
    """The entity's new properties after ``ops`` (key, value; None removes), as ``alterEntityQuotas`` computes
    them: LONG/INT values must be whole (within 1e-6) and are stored as integers, DOUBLE ones as Java prints
    them. Raises Refusal."""
    keys = IP_QUOTA_KEYS if dict(entity).keys() == {"ip"} else (
        USER_CONFIG_KEYS if "user" in dict(entity) else CLIENT_QUOTA_KEYS)
    props = dict(current)
    for key, value in ops:
        if value is None:
            props.pop(key, None)
            continue
        kind = keys.get(key)
        if kind is None:
            raise Refusal(ErrorCode.INVALID_REQUEST, f"Invalid configuration key {key}")
        if kind == QuotaType.DOUBLE:
            props[key] = java_double(value)
        elif kind in (QuotaType.LONG, QuotaType.INT):
            whole = int(value + 1e-6)
            if abs(float(whole) - value) > 1e-6:
                raise Refusal(ErrorCode.INVALID_REQUEST, f"Configuration {key} must be a {kind.value} value")
            props[key] = str(whole)
        else:
            raise Refusal(ErrorCode.UNKNOWN_SERVER_ERROR, None)  # Kafka: IllegalStateException, a STRING key
    return props


@dataclass(frozen=True)
class FilterComponent:
    entity_type: str
    match_type: int  # MATCH_EXACT / MATCH_DEFAULT / MATCH_SPECIFIED
    match: str | None = None


def _matches(component: FilterComponent | None, present: bool, name: str | None, strict: bool) -> bool:
    if component is None:
        return not present or not strict
    if not present:
        return False
    if component.match_type == MATCH_SPECIFIED:
        return True
    if component.match_type == MATCH_DEFAULT:
        return name is None
    return name == component.match


def describe_quotas(quotas: dict[QuotaEntity, dict[str, str]], components: list[FilterComponent],
                    strict: bool) -> dict[QuotaEntity, dict[str, float]]:
    """``ZkAdminManager.describeClientQuotas``: the entities matching the filter with the quota keys they set
    (entities setting none are left out). Raises Refusal for a filter Kafka refuses."""
    by_type: dict[str, FilterComponent] = {}
    if any(c.match_type not in (MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED) for c in components):
        raise Refusal(ErrorCode.UNKNOWN_SERVER_ERROR, None)  # Kafka's request.filter(): IllegalArgumentException
    for component in components:
        kind = component.entity_type
        if kind == "":
            raise Refusal(ErrorCode.INVALID_REQUEST, "Unexpected empty filter component entity type")
        if kind not in ENTITY_TYPES:
            raise Refusal(ErrorCode.UNSUPPORTED_VERSION, f"Custom entity type '{kind}' not supported")
        if kind in by_type:
            word = {"user": "user", "client-id": "client", "ip": "ip"}[kind]
            raise Refusal(ErrorCode.INVALID_REQUEST, f"Duplicate {word} filter component entity type")
        by_type[kind] = component
    user, client, ip = by_type.get("user"), by_type.get("client-id"), by_type.get("ip")
    if (user is not None or client is not None) and ip is not None:
        raise Refusal(ErrorCode.INVALID_REQUEST, "Invalid entity filter component combination, IP filter component "
                                                 "should not be used with user or clientId filter component.")
    out: dict[QuotaEntity, dict[str, float]] = {}
    for entity, props in quotas.items():
        kinds = dict(entity)
        if "ip" in kinds:
            if user is not None or client is not None:
                continue
            if not _matches(ip, True, kinds["ip"], strict):
                continue
            keys = IP_QUOTA_KEYS
        else:
            if ip is not None:
                continue
            if not (_matches(user, "user" in kinds, kinds.get("user"), strict)
                    and _matches(client, "client-id" in kinds, kinds.get("client-id"), strict)):
                continue
            keys = CLIENT_QUOTA_KEYS
        values: dict[str, float] = {}
        for key, text in props.items():
            if key in keys:
                try:
                    values[key] = float(text)
                except ValueError:
                    continue
        if values:
            out[entity] = values
    return out


# -- the state -------------------------------------------------------------------------------------------------

@dataclass
class DynamicConfigs:
    """Dynamic broker configs (cluster default and per broker) and client quota entities, as string props."""

    default: dict[str, str] = field(default_factory=dict)
    brokers: dict[int, dict[str, str]] = field(default_factory=dict)
    quotas: dict[QuotaEntity, dict[str, str]] = field(default_factory=dict)

    def broker_props(self, broker_id: int | None) -> dict[str, str]:
        """The stored props of one broker's entry, or of the default (None)."""
        return dict(self.default if broker_id is None else self.brokers.get(broker_id, {}))

    def set_broker_props(self, broker_id: int | None, props: dict[str, str]) -> None:
        if broker_id is None:
            self.default = dict(props)
        elif props:
            self.brokers[broker_id] = dict(props)
        else:
            self.brokers.pop(broker_id, None)

    def set_quota_entities(self, by_path: dict[str, dict[str, str]]) -> None:
        """Replace every quota entity from entity paths (as ZooKeeper holds them); bad paths are skipped."""
        quotas: dict[QuotaEntity, dict[str, str]] = {}
        for path, props in by_path.items():
            try:
                quotas[parse_quota_entity_path(path)] = dict(props)
            except ValueError:
                continue
        self.quotas = quotas

    def to_json(self) -> dict[str, object]:
        """For the ``--data-dir`` metadata file: ZooKeeper's entity paths as keys."""
        brokers = {DEFAULT_ENTITY: self.default} if self.default else {}
        brokers.update({str(i): p for i, p in sorted(self.brokers.items())})
        return {"brokers": brokers, "quotas": {quota_entity_path(e): p for e, p in self.quotas.items()}}

    @classmethod
    def from_json(cls, data: object) -> DynamicConfigs:
        out = cls()
        if not isinstance(data, dict):
            return out
        brokers = data.get("brokers")
        if isinstance(brokers, dict):
            for name, props in brokers.items():
                if isinstance(props, dict):
                    out.set_broker_props(None if name == DEFAULT_ENTITY else int(name),
                                         {str(k): str(v) for k, v in props.items()})
        quotas = data.get("quotas")
        if isinstance(quotas, dict):
            out.set_quota_entities({str(k): {str(a): str(b) for a, b in v.items()}
                                    for k, v in quotas.items() if isinstance(v, dict)})
        return out


__all__ = ["DynamicConfigs", "FilterComponent", "Refusal", "alter_quota", "broker_config_problem",
           "describe_quotas", "java_double", "quota_entity"]

"""Topic and broker configuration as Kafka describes it: defaults, types, broker synonyms and sources.

Values are strings, as on the wire. A topic's effective value is its override
(source DYNAMIC_TOPIC_CONFIG) or the broker's value for the synonym key: a dynamic
per-broker config (DYNAMIC_BROKER_CONFIG), the dynamic cluster-wide default
(DYNAMIC_DEFAULT_BROKER_CONFIG), the static setting (STATIC_BROKER_CONFIG when the
broker was configured with it), else Kafka's default (DEFAULT_CONFIG), in that
order, as Kafka's ``ConfigHelper`` lists the synonyms. Defaults are Kafka 3.9's.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class ConfigType(IntEnum):
    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class ConfigSource(IntEnum):
    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5


class TopicConfigDef(NamedTuple):
    default: str
    type: ConfigType
    broker_key: str | None  # the broker-level synonym


LONG_MAX = "9223372036854775807"

TOPIC_CONFIGS: dict[str, TopicConfigDef] = {
    "cleanup.policy": TopicConfigDef("delete", ConfigType.LIST, "log.cleanup.policy"),
    "compression.type": TopicConfigDef("producer", ConfigType.STRING, "compression.type"),
    "delete.retention.ms": TopicConfigDef("86400000", ConfigType.LONG, "log.cleaner.delete.retention.ms"),
    "file.delete.delay.ms": TopicConfigDef("60000", ConfigType.LONG, "log.segment.delete.delay.ms"),
    "flush.messages": TopicConfigDef(LONG_MAX, ConfigType.LONG, "log.flush.interval.messages"),
    "flush.ms": TopicConfigDef(LONG_MAX, ConfigType.LONG, "log.flush.interval.ms"),
    "follower.replication.throttled.replicas": TopicConfigDef("", ConfigType.LIST, None),
    "index.interval.bytes": TopicConfigDef("4096", ConfigType.INT, "log.index.interval.bytes"),
    "leader.replication.throttled.replicas": TopicConfigDef("", ConfigType.LIST, None),
    "local.retention.bytes": TopicConfigDef("-2", ConfigType.LONG, "log.local.retention.bytes"),
    "local.retention.ms": TopicConfigDef("-2", ConfigType.LONG, "log.local.retention.ms"),
    "max.compaction.lag.ms": TopicConfigDef(LONG_MAX, ConfigType.LONG, "log.cleaner.max.compaction.lag.ms"),
    "max.message.bytes": TopicConfigDef("1048588", ConfigType.INT, "message.max.bytes"),
    "message.downconversion.enable": TopicConfigDef("true", ConfigType.BOOLEAN, "log.message.downconversion.enable"),
    "message.timestamp.after.max.ms": TopicConfigDef(LONG_MAX, ConfigType.LONG,
                                                     "log.message.timestamp.after.max.ms"),
    "message.timestamp.before.max.ms": TopicConfigDef(LONG_MAX, ConfigType.LONG,
                                                      "log.message.timestamp.before.max.ms"),
    "message.timestamp.type": TopicConfigDef("CreateTime", ConfigType.STRING, "log.message.timestamp.type"),
    "min.cleanable.dirty.ratio": TopicConfigDef("0.5", ConfigType.DOUBLE, "log.cleaner.min.cleanable.ratio"),
    "min.compaction.lag.ms": TopicConfigDef("0", ConfigType.LONG, "log.cleaner.min.compaction.lag.ms"),
    "min.insync.replicas": TopicConfigDef("1", ConfigType.INT, "min.insync.replicas"),
    "preallocate": TopicConfigDef("false", ConfigType.BOOLEAN, "log.preallocate"),
    "remote.storage.enable": TopicConfigDef("false", ConfigType.BOOLEAN, None),
    "retention.bytes": TopicConfigDef("-1", ConfigType.LONG, "log.retention.bytes"),
    "retention.ms": TopicConfigDef("604800000", ConfigType.LONG, "log.retention.ms"),
    "segment.bytes": TopicConfigDef("1073741824", ConfigType.INT, "log.segment.bytes"),
    "segment.index.bytes": TopicConfigDef("10485760", ConfigType.INT, "log.index.size.max.bytes"),
    "segment.jitter.ms": TopicConfigDef("0", ConfigType.LONG, "log.roll.jitter.ms"),
    "segment.ms": TopicConfigDef("604800000", ConfigType.LONG, "log.roll.ms"),
    "unclean.leader.election.enable": TopicConfigDef("false", ConfigType.BOOLEAN, "unclean.leader.election.enable"),
}


class Effective(NamedTuple):
    name: str
    value: str
    type: ConfigType
    source: ConfigSource
    synonyms: list[tuple[str, str, ConfigSource]]  # (name, value, source), most specific first


def topic_config(name: str, overrides: dict[str, str], broker_settings: dict[str, str],
                 dynamic_default: dict[str, str] | None = None, dynamic_broker: dict[str, str] | None = None
                 ) -> Effective:
    spec = TOPIC_CONFIGS[name]
    synonyms: list[tuple[str, str, ConfigSource]] = []
    if name in overrides:
        synonyms.append((name, overrides[name], ConfigSource.DYNAMIC_TOPIC_CONFIG))
    if spec.broker_key is not None and dynamic_broker and spec.broker_key in dynamic_broker:
        synonyms.append((spec.broker_key, dynamic_broker[spec.broker_key], ConfigSource.DYNAMIC_BROKER_CONFIG))
    if spec.broker_key is not None and dynamic_default and spec.broker_key in dynamic_default:
        synonyms.append((spec.broker_key, dynamic_default[spec.broker_key], ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG))
    if spec.broker_key is not None and spec.broker_key in broker_settings:
        synonyms.append((spec.broker_key, broker_settings[spec.broker_key], ConfigSource.STATIC_BROKER_CONFIG))
    if spec.broker_key is not None:
        synonyms.append((spec.broker_key, spec.default, ConfigSource.DEFAULT_CONFIG))
    else:
        synonyms.append((name, spec.default, ConfigSource.DEFAULT_CONFIG))
    _, value, source = synonyms[0]
    return Effective(name, value, spec.type, source, synonyms)


# the values Kafka's validators accept for the enumerated topic configs
_TOPIC_CHOICES: dict[str, tuple[str, ...]] = {
    "cleanup.policy": ("delete", "compact"),
    "compression.type": ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
    "message.timestamp.type": ("CreateTime", "LogAppendTime"),
}
_INT_RANGE = {ConfigType.SHORT: (-(1 << 15), (1 << 15) - 1), ConfigType.INT: (-(1 << 31), (1 << 31) - 1),
              ConfigType.LONG: (-(1 << 63), (1 << 63) - 1)}
_TYPE_NAMES = {ConfigType.SHORT: "SHORT", ConfigType.INT: "INT", ConfigType.LONG: "LONG", ConfigType.DOUBLE: "DOUBLE"}


def topic_config_error(name: str, value: str | None, label: str | None = None) -> str | None:
    """Why Kafka's LogConfig.validate rejects ``name=value`` (INVALID_CONFIG), or None when it is accepted.
    ``label`` names the config in the message instead of ``name`` (a broker synonym being validated)."""
    spec = TOPIC_CONFIGS.get(name)
    if spec is None:
        return f"Unknown topic config name: {name}"
    topic_key, name = name, label or name
    if value is None:
        return f"Null value not supported for topic configs: {name}"
    text = value.strip()
    if spec.type in _INT_RANGE:
        lo, hi = _INT_RANGE[spec.type]
        try:
            number = int(text)
        except ValueError:
            return f"Invalid value {value} for configuration {name}: Not a number of type {_TYPE_NAMES[spec.type]}"
        if not lo <= number <= hi:
            return f"Invalid value {value} for configuration {name}: Not a number of type {_TYPE_NAMES[spec.type]}"
    elif spec.type == ConfigType.DOUBLE:
        try:
            float(text)
        except ValueError:
            return f"Invalid value {value} for configuration {name}: Not a number of type DOUBLE"
    elif spec.type == ConfigType.BOOLEAN:
        if text.lower() not in ("true", "false"):
            return f"Invalid value {value} for configuration {name}: Expected value to be either true or false"
    choices = _TOPIC_CHOICES.get(topic_key)
    if choices is not None:
        items = [v.strip() for v in text.split(",") if v.strip()] if spec.type == ConfigType.LIST else [text]
        if any(v not in choices for v in items):
            return f"Invalid value {value} for configuration {name}: String must be one of: {', '.join(choices)}"
    return None

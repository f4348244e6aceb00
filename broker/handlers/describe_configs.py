"""DescribeConfigs (32): topic configs with Kafka's defaults, sources and synonyms; broker configs.

A topic config's value is its override, else the broker's value of the synonym: dynamic per-broker
(DYNAMIC_BROKER_CONFIG), dynamic cluster default (DYNAMIC_DEFAULT_BROKER_CONFIG), static
(STATIC_BROKER_CONFIG) or Kafka's default (DEFAULT_CONFIG), listed in that order as synonyms.

A BROKER resource, as Kafka 3.9's ``ConfigHelper``: "" describes the dynamic cluster-wide defaults only
(each DYNAMIC_DEFAULT_BROKER_CONFIG); this broker's id describes every setting it has (the static ones,
``broker.id``, and every dynamically changeable key wiretwin honours) with the value in effect, its
source and synonyms; ``read_only`` is false exactly for the keys Kafka can change dynamically. Another
id is INVALID_REQUEST "Unexpected broker id, expected <id> or empty string, but received <name>", a name
that is not a number "Broker id must be an integer, but it is: <name>".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from broker.config import INT_KEYS, BrokerConfig
from broker.handlers import handles
from broker.state.configs import TOPIC_CONFIGS, ConfigSource, ConfigType, topic_config
from broker.state.dynamic import BROKER_TO_TOPIC, DYNAMIC_BROKER_KEYS, HONOURED_BROKER_KEYS, HONOURED_OTHER_KEYS
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.describe_configs import (
    DescribeConfigsRequest, DescribeConfigsResponse, DescribeConfigsResponse_DescribeConfigsResourceResult,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

DResp = DescribeConfigsResponse
TOPIC, BROKER = 2, 4


# Kafka's defaults for the broker keys below: a setting equal to its default is reported as DEFAULT_CONFIG
BROKER_DEFAULTS = {
    "num.partitions": "1", "default.replication.factor": "1", "auto.create.topics.enable": "true",
    "message.max.bytes": "1048588", "log.retention.ms": "604800000", "log.retention.bytes": "-1",
    "log.segment.bytes": "1073741824", "log.cleanup.policy": "delete",
    # the coordinators' settings (group.*, offsets.*, transaction.*): Kafka's defaults are BrokerConfig's
    **{key: str(getattr(BrokerConfig(), attr)) for key, attr in INT_KEYS.items()},
    "group.consumer.assignors": BrokerConfig().group_consumer_assignors,
    "transaction.partition.verification.enable": "true",
}


def configured(settings: dict[str, str]) -> dict[str, str]:
    """The settings that differ from Kafka's defaults, i.e. that someone set."""
    return {k: v for k, v in settings.items() if BROKER_DEFAULTS.get(k) != v}


def _int_getter(attr: str) -> Callable[[BrokerConfig], str]:
    return lambda cfg: str(getattr(cfg, attr))


_STATIC: dict[str, Callable[[BrokerConfig], str]] = {
    "num.partitions": lambda cfg: str(cfg.num_partitions),
    "default.replication.factor": lambda cfg: str(cfg.default_replication_factor),
    "auto.create.topics.enable": lambda cfg: str(cfg.auto_create_topics).lower(),
    "message.max.bytes": lambda cfg: str(cfg.message_max_bytes),
    "log.retention.ms": lambda cfg: str(cfg.log_retention_ms),
    "log.retention.bytes": lambda cfg: str(cfg.log_retention_bytes),
    "log.segment.bytes": lambda cfg: str(cfg.log_segment_bytes),
    "log.cleanup.policy": lambda cfg: cfg.log_cleanup_policy,
    **{key: _int_getter(attr) for key, attr in INT_KEYS.items()},
    "group.consumer.assignors": lambda cfg: cfg.group_consumer_assignors,
}


def broker_settings(core: BrokerCore) -> dict[str, str]:
    """The broker-level keys of this broker (server.properties, flags, or defaults)."""
    cfg = core.config
    return {**{key: get(cfg) for key, get in _STATIC.items()}, **cfg.extra}


def broker_setting(core: BrokerCore, key: str) -> str | None:
    """One key of ``broker_settings`` (None: not set), without building them all (Produce asks per batch)."""
    get = _STATIC.get(key)
    return get(core.config) if get is not None else core.config.extra.get(key)


def _entry(name: str, value: str, ctype: ConfigType, source: ConfigSource,
           synonyms: list[tuple[str, str, ConfigSource]], req: DescribeConfigsRequest,
           read_only: bool, version: int) -> DescribeConfigsResponse_DescribeConfigsResourceResult:
    return DResp.DescribeConfigsResourceResult(
        name=name, value=value, read_only=read_only,
        is_default=version == 0 and source == ConfigSource.DEFAULT_CONFIG,  # v0 only; v1+ has config_source
        config_source=source, is_sensitive=False, config_type=ctype, documentation=None,
        synonyms=[DResp.DescribeConfigsSynonym(n, v, s) for n, v, s in synonyms] if req.include_synonyms else [],
    )


@handles(32)
def describe_configs(core: BrokerCore, ctx: RequestContext, req: DescribeConfigsRequest,
                     version: int) -> DescribeConfigsResponse:
    resp = DResp()
    settings = broker_settings(core)
    default, broker = core.dynamic_layers(ctx.node_id)
    for res in req.resources:
        out = DResp.DescribeConfigsResult(error_code=0, error_message=None, resource_type=res.resource_type,
                                          resource_name=res.resource_name)
        resp.results.append(out)
        wanted = res.configuration_keys
        if res.resource_type == TOPIC:
            topic = core.cluster.topics.get(res.resource_name)
            if topic is None:
                out.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                out.error_message = f"The topic '{res.resource_name}' does not exist."
                continue
            for name in sorted(TOPIC_CONFIGS):
                if wanted is not None and name not in wanted:
                    continue
                eff = topic_config(name, topic.configs, configured(settings), default, broker)
                out.configs.append(_entry(name, eff.value, eff.type, eff.source, eff.synonyms, req, False, version))
        elif res.resource_type == BROKER:
            if res.resource_name == "":
                entries = _broker_entries(default, {}, {}, per_broker=False)
            elif not res.resource_name.lstrip("-").isdigit():
                out.error_code = ErrorCode.INVALID_REQUEST
                out.error_message = f"Broker id must be an integer, but it is: {res.resource_name}"
                continue
            elif int(res.resource_name) == ctx.node_id:
                entries = _broker_entries(default, broker, {"broker.id": str(ctx.node_id), **settings},
                                          per_broker=True)
            else:
                out.error_code = ErrorCode.INVALID_REQUEST
                out.error_message = (f"Unexpected broker id, expected {ctx.node_id} or empty string, but received "
                                     f"{res.resource_name}")
                continue
            for name, (value, ctype, synonyms) in sorted(entries.items()):
                if wanted is not None and name not in wanted:
                    continue
                out.configs.append(_entry(name, value, ctype, synonyms[0][2], synonyms, req,
                                          name not in DYNAMIC_BROKER_KEYS, version))
        else:
            out.error_code = ErrorCode.INVALID_REQUEST
            out.error_message = f"Unsupported resource type {res.resource_type}"
    return resp


def _broker_entries(default: dict[str, str], broker: dict[str, str], static: dict[str, str], per_broker: bool
                    ) -> dict[str, tuple[str, ConfigType, list[tuple[str, str, ConfigSource]]]]:
    """name -> (value in effect, type, synonyms most specific first) of a broker resource. Kafka's
    ``createBrokerConfigEntry``: the synonyms are the per-broker dynamic value, the dynamic default, the static
    setting and Kafka's default; describing the default resource keeps only the dynamic-default ones."""
    names = set(default) | set(broker) if not per_broker else (
        set(default) | set(broker) | set(static) | HONOURED_BROKER_KEYS)
    out: dict[str, tuple[str, ConfigType, list[tuple[str, str, ConfigSource]]]] = {}
    for name in names:
        topic_key = BROKER_TO_TOPIC.get(name)
        ctype = TOPIC_CONFIGS[topic_key].type if topic_key is not None else (
            ConfigType.BOOLEAN if HONOURED_OTHER_KEYS.get(name) == "BOOLEAN" else ConfigType.STRING)
        kafka_default = BROKER_DEFAULTS.get(name, TOPIC_CONFIGS[topic_key].default if topic_key else None)
        synonyms: list[tuple[str, str, ConfigSource]] = []
        if per_broker and name in broker:
            synonyms.append((name, broker[name], ConfigSource.DYNAMIC_BROKER_CONFIG))
        if name in default:
            synonyms.append((name, default[name], ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG))
        if per_broker and name in static and static[name] != kafka_default:
            synonyms.append((name, static[name], ConfigSource.STATIC_BROKER_CONFIG))
        if per_broker and kafka_default is not None:
            synonyms.append((name, kafka_default, ConfigSource.DEFAULT_CONFIG))
        if not synonyms:  # a static setting Kafka has no default for (broker.id, extra keys)
            synonyms.append((name, static[name], ConfigSource.STATIC_BROKER_CONFIG))
        out[name] = (synonyms[0][1], ctype, synonyms)
    return out

"""DescribeConfigs (32): topic configs with Kafka's defaults, sources and synonyms; the broker's own settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.config import INT_KEYS, BrokerConfig
from broker.handlers import handles
from broker.state.configs import TOPIC_CONFIGS, ConfigSource, ConfigType, topic_config
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
}


def configured(settings: dict[str, str]) -> dict[str, str]:
    """The settings that differ from Kafka's defaults, i.e. that someone set."""
    return {k: v for k, v in settings.items() if BROKER_DEFAULTS.get(k) != v}


def broker_settings(core: BrokerCore) -> dict[str, str]:
    """The broker-level keys of this broker (server.properties, flags, or defaults)."""
    cfg = core.config
    return {
        "num.partitions": str(cfg.num_partitions),
        "default.replication.factor": str(cfg.default_replication_factor),
        "auto.create.topics.enable": str(cfg.auto_create_topics).lower(),
        "message.max.bytes": str(cfg.message_max_bytes),
        "log.retention.ms": str(cfg.log_retention_ms),
        "log.retention.bytes": str(cfg.log_retention_bytes),
        "log.segment.bytes": str(cfg.log_segment_bytes),
        "log.cleanup.policy": cfg.log_cleanup_policy,
        **{key: str(getattr(cfg, attr)) for key, attr in INT_KEYS.items()},
        "group.consumer.assignors": cfg.group_consumer_assignors,
        **{k: v for k, v in cfg.extra.items()},
    }


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
                eff = topic_config(name, topic.configs, configured(settings))
                out.configs.append(_entry(name, eff.value, eff.type, eff.source, eff.synonyms, req, False, version))
        elif res.resource_type == BROKER:
            if res.resource_name not in ("", *(str(n) for n in core.cluster.brokers)):
                out.error_code = ErrorCode.INVALID_REQUEST
                out.error_message = f"Unexpected broker id, expected one of {sorted(core.cluster.brokers)}"
                continue
            all_settings = {"broker.id": res.resource_name or str(ctx.node_id), **settings}
            for name in sorted(all_settings):
                if wanted is not None and name not in wanted:
                    continue
                value = all_settings[name]
                source = (ConfigSource.DEFAULT_CONFIG if BROKER_DEFAULTS.get(name) == value
                          else ConfigSource.STATIC_BROKER_CONFIG)
                out.configs.append(_entry(name, value, ConfigType.STRING, source, [(name, value, source)], req, True,
                                          version))
        else:
            out.error_code = ErrorCode.INVALID_REQUEST
            out.error_message = f"Unsupported resource type {res.resource_type}"
    return resp

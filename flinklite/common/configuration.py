"""Owns configuration as Flink users know it:

- `Configuration`: pyflink.common.Configuration's API (set_string / get_string, set_integer,
  set_boolean, set_float, contains_key, key_set, add_all, remove_config, to_dict ...).
- Reading a configuration directory (`FLINK_CONF_DIR` or `--conf-dir`): Flink 2's `config.yaml`
  (standard YAML; nested maps are flattened to dotted keys, so `execution: {checkpointing:
  {interval: 10 s}}` and `execution.checkpointing.interval: 10 s` are the same key; lists become
  Flink's `a;b;c`) or, when there is no `config.yaml`, a 1.x `flink-conf.yaml` (flat `key: value`
  lines, `#` comments, Flink's legacy line parser).
- `-D key=value` dynamic properties.
- `layered_configuration`: the layers a job sees, lowest precedence first: the file, then `-D`,
  then the job's own Configuration (`get_execution_environment(configuration)` / `configure`),
  as Flink merges a program's configuration over the one it was submitted with.
- The typed settings read from them that the runtime does not own elsewhere:
  `SavepointSettings` (savepoint directory, the path to restore from) and
  `HighAvailabilitySettings` (the `high-availability.*` keys: their only parser, used by the
  environment and by flinklite/runtime/ha.py; which HA types flinklite runs; the stable job id
  rule). Checkpoint and restart keys are parsed by flinklite/runtime/checkpoint.py's
  `CheckpointSettings` and `RestartSettings`."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flinklite.errors import InvalidProgramError

CONFIG_FILE = "config.yaml"
LEGACY_CONFIG_FILE = "flink-conf.yaml"
CONF_DIR_ENV = "FLINK_CONF_DIR"

# Keys with an older name Flink still accepts (the newer name wins when both are set in one layer).
ALIASES: dict[str, tuple[str, ...]] = {
    "execution.checkpointing.dir": ("state.checkpoints.dir",),
    "execution.checkpointing.savepoint-dir": ("state.savepoints.dir",),
    "execution.checkpointing.num-retained": ("state.checkpoints.num-retained",),
    "execution.state-recovery.path": ("execution.savepoint.path",),
    "execution.state-recovery.ignore-unclaimed-state": ("execution.savepoint.ignore-unclaimed-state",),
    "restart-strategy.type": ("restart-strategy",),
    # HighAvailabilityOptions' deprecated keys (Flink 1.x names still accepted)
    "high-availability.type": ("high-availability", "recovery.mode"),
    "high-availability.cluster-id": ("high-availability.zookeeper.path.namespace",
                                     "recovery.zookeeper.path.namespace"),
    "high-availability.zookeeper.path.root": ("recovery.zookeeper.path.root",),
    "high-availability.zookeeper.quorum": ("recovery.zookeeper.quorum",),
    "high-availability.storageDir": ("high-availability.zookeeper.storageDir", "recovery.zookeeper.storageDir"),
    "high-availability.zookeeper.client.session-timeout": ("recovery.zookeeper.client.session-timeout",),
    "high-availability.zookeeper.client.connection-timeout": ("recovery.zookeeper.client.connection-timeout",),
    "high-availability.zookeeper.client.retry-wait": ("recovery.zookeeper.client.retry-wait",),
    "high-availability.zookeeper.client.max-retry-attempts": ("recovery.zookeeper.client.max-retry-attempts",),
    "high-availability.zookeeper.path.execution-plans": ("high-availability.zookeeper.path.jobgraphs",
                                                         "recovery.zookeeper.path.jobgraphs"),
}


_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$")
_UNITS = {"": 1, "ms": 1, "milli": 1, "millis": 1, "millisecond": 1, "milliseconds": 1,
          "s": 1000, "sec": 1000, "secs": 1000, "second": 1000, "seconds": 1000,
          "min": 60_000, "m": 60_000, "minute": 60_000, "minutes": 60_000,
          "h": 3_600_000, "hour": 3_600_000, "hours": 3_600_000, "d": 86_400_000, "day": 86_400_000, "days": 86_400_000}


def local_path(value: str) -> str:
    """A local path from Flink's URI forms: `file:///x`, `file:/x` or `/x`."""
    if value.startswith("file://"):
        return value[len("file://"):]
    if value.startswith("file:"):
        return value[len("file:"):]
    return value


def parse_duration_ms(value: Any) -> int:
    """Flink's duration forms: `500 ms`, `10 s`, `1 min`, `2h`; a bare number is milliseconds."""
    if isinstance(value, int):
        return value
    match = _DURATION.match(str(value).lower())
    if not match or match.group(2) not in _UNITS:
        raise InvalidProgramError(f"cannot parse duration {value!r} (e.g. '500 ms', '10 s', '1 min')")
    return int(match.group(1)) * _UNITS[match.group(2)]


def lookup(conf: Mapping[str, str], key: str) -> str | None:
    """`key`'s value in one layer, or its older alias's."""
    if key in conf:
        return conf[key]
    for alias in ALIASES.get(key, ()):
        if alias in conf:
            return conf[alias]
    return None


def _to_string(value: Any) -> str:
    """A YAML value as the string Flink's configuration would hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(_to_string(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{k}:{_to_string(v)}" for k, v in value.items())
    return str(value)


class Configuration:
    """pyflink.common.Configuration: string keys and values, typed getters and setters."""

    def __init__(self, other: Configuration | None = None, j_configuration: Any = None) -> None:
        self._data: dict[str, str] = dict(other._data) if other is not None else {}
        self._bytes: dict[str, bytes] = dict(other._bytes) if other is not None else {}

    @staticmethod
    def from_dict(values: Mapping[str, Any]) -> Configuration:
        conf = Configuration()
        for key, value in values.items():
            conf._data[key] = _to_string(value)
        return conf

    def get_string(self, key: str, default_value: str) -> str:
        return self._data.get(key, default_value)

    def set_string(self, key: str, value: str) -> Configuration:
        self._data[key] = str(value)
        return self

    def get_integer(self, key: str, default_value: int) -> int:
        value = self._data.get(key)
        return default_value if value is None else int(value.strip())

    def set_integer(self, key: str, value: int) -> Configuration:
        self._data[key] = str(int(value))
        return self

    def get_boolean(self, key: str, default_value: bool) -> bool:
        value = self._data.get(key)
        if value is None:
            return default_value
        normal = value.strip().lower()
        if normal not in ("true", "false"):
            raise InvalidProgramError(f"{key}: {value!r} is not a boolean (true or false)")
        return normal == "true"

    def set_boolean(self, key: str, value: bool) -> Configuration:
        self._data[key] = "true" if value else "false"
        return self

    def get_float(self, key: str, default_value: float) -> float:
        value = self._data.get(key)
        return default_value if value is None else float(value.strip())

    def set_float(self, key: str, value: float) -> Configuration:
        self._data[key] = str(float(value))
        return self

    def get_bytearray(self, key: str, default_value: bytearray) -> bytearray:
        value = self._bytes.get(key)
        return default_value if value is None else bytearray(value)

    def set_bytearray(self, key: str, value: bytearray) -> Configuration:
        self._bytes[key] = bytes(value)
        return self

    def key_set(self) -> set[str]:
        return set(self._data) | set(self._bytes)

    def keys_set(self) -> set[str]:
        return self.key_set()

    def add_all_to_properties(self, properties: dict[str, Any]) -> None:
        properties.update(self._data)

    def add_all(self, other: Configuration, prefix: str | None = None) -> Configuration:
        for key, value in other._data.items():
            self._data[(prefix or "") + key] = value
        for key, raw in other._bytes.items():
            self._bytes[(prefix or "") + key] = raw
        return self

    def contains_key(self, key: str) -> bool:
        return key in self._data or key in self._bytes

    def remove_config(self, key: str) -> bool:
        found = self.contains_key(key)
        self._data.pop(key, None)
        self._bytes.pop(key, None)
        return found

    def to_dict(self) -> dict[str, str]:
        return dict(self._data)

    def __deepcopy__(self, memo: dict[int, Any]) -> Configuration:
        return Configuration(self)

    def __copy__(self) -> Configuration:
        return Configuration(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Configuration) and self._data == other._data and self._bytes == other._bytes

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data.items())))

    def __repr__(self) -> str:
        return f"Configuration({self._data!r})"


# -- files and the command line ---------------------------------------------------------------
def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = _to_string(value)


def parse_yaml_config(text: str, source: str = CONFIG_FILE) -> dict[str, str]:
    """Flink 2's `config.yaml`: standard YAML, nested maps flattened into dotted keys (flat
    dotted keys are accepted as they are, and both forms may be mixed)."""
    import yaml  # PyYAML: imported here so the runtime does not need it without a config file

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidProgramError(f"{source} is not valid YAML: {exc}") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InvalidProgramError(f"{source} must hold a YAML map of configuration keys")
    out: dict[str, str] = {}
    _flatten("", document, out)
    return out


def parse_legacy_config(text: str) -> dict[str, str]:
    """Flink 1.x's `flink-conf.yaml` line parser: `key: value` per line, everything after `#`
    is a comment, lines that are not `key: value` are skipped (Flink logs a warning)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        conf = line.split("#", 1)[0].strip()
        if not conf:
            continue
        parts = conf.split(": ", 1)
        if len(parts) != 2:
            continue
        key, value = parts[0].strip(), parts[1].strip()
        if key and value:
            out[key] = value
    return out


def load_configuration_dir(directory: str) -> dict[str, str]:
    """The configuration in `directory`: `config.yaml`, else `flink-conf.yaml`, else nothing."""
    path = os.path.join(directory, CONFIG_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return parse_yaml_config(f.read(), path)
    legacy = os.path.join(directory, LEGACY_CONFIG_FILE)
    if os.path.isfile(legacy):
        with open(legacy, encoding="utf-8") as f:
            return parse_legacy_config(f.read())
    if not os.path.isdir(directory):
        raise InvalidProgramError(f"the configuration directory {directory} does not exist")
    return {}


def parse_dynamic_properties(items: Iterable[str]) -> dict[str, str]:
    """`-D key=value` arguments (split at the first `=`)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidProgramError(f"-D takes key=value, not {item!r}")
        out[key.strip()] = value.strip()
    return out


def layered_configuration(conf_dir: str | None = None, dynamic: Mapping[str, str] | None = None,
                          environ: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The layers below a job's own Configuration, lowest precedence first: the configuration
    directory (`conf_dir`, else `$FLINK_CONF_DIR` when set), then `-D` properties."""
    environ = os.environ if environ is None else environ
    directory = conf_dir or environ.get(CONF_DIR_ENV)
    layers = [load_configuration_dir(directory) if directory else {}]
    layers.append(dict(dynamic or {}))
    return layers


def merge_layers(layers: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """One map of the effective values; a later layer's key replaces an earlier layer's alias."""
    merged: dict[str, str] = {}
    for layer in layers:
        for key, value in layer.items():
            for primary, aliases in ALIASES.items():
                if key == primary:
                    for alias in aliases:
                        merged.pop(alias, None)
                elif key in aliases:
                    merged.pop(primary, None)
            merged[key] = value
    return merged


# -- typed settings -------------------------------------------------------------------------
def _boolean(key: str, value: str) -> bool:
    normal = value.strip().lower()
    if normal not in ("true", "false"):
        raise InvalidProgramError(f"{key}: {value!r} is not a boolean (true or false)")
    return normal == "true"


@dataclass
class SavepointSettings:
    """`execution.checkpointing.savepoint-dir` (alias `state.savepoints.dir`): the default target
    of `savepoint` / `stop` without a directory. `execution.state-recovery.path` (alias
    `execution.savepoint.path`; what `run -s PATH` sets) and
    `execution.state-recovery.ignore-unclaimed-state` (what `run -n` sets)."""

    directory: str | None = None
    restore_path: str | None = None
    allow_non_restored_state: bool = False

    def update_from(self, conf: Mapping[str, str]) -> None:
        directory = lookup(conf, "execution.checkpointing.savepoint-dir")
        if directory:
            self.directory = local_path(directory)
        restore = lookup(conf, "execution.state-recovery.path")
        if restore is not None:
            self.restore_path = local_path(restore) or None
        ignore = lookup(conf, "execution.state-recovery.ignore-unclaimed-state")
        if ignore is not None:
            self.allow_non_restored_state = _boolean("execution.state-recovery.ignore-unclaimed-state", ignore)


def java_string_hash(text: str) -> int:
    """Java's String.hashCode() (UTF-16 code units), as a signed 32-bit int."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i:i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


# `high-availability.type` values, as Flink's HighAvailabilityMode.fromConfig reads them: NONE,
# ZOOKEEPER and KUBERNETES in any case, the 1.x default "standalone" meaning NONE, anything else the
# class name of a HighAvailabilityServicesFactory (kept as given).
HA_NONE = "none"
HA_ZOOKEEPER = "zookeeper"
HA_KUBERNETES = "kubernetes"
_HA_TYPES = {"none": HA_NONE, "standalone": HA_NONE, "zookeeper": HA_ZOOKEEPER, "kubernetes": HA_KUBERNETES}


def _ha_value(conf: Mapping[str, str], key: str) -> str | None:
    """`key` (or an alias) in one layer, stripped; a blank value counts as unset."""
    value = lookup(conf, key)
    if value is None or not str(value).strip():
        return None
    return str(value).strip()


@dataclass
class HighAvailabilitySettings:
    """The `high-availability.*` keys: the one parser of them (flinklite/runtime/ha.py acts on
    these settings and parses nothing itself). Deprecated key names are in `ALIASES`.

    type: "none", "zookeeper", "kubernetes", or a factory class name as given
      (`high-availability.type`, alias `high-availability`, `recovery.mode`; Flink's NONE /
      ZOOKEEPER / KUBERNETES in any case; "standalone" is NONE). flinklite runs NONE and
      zookeeper only: `validate()`, `enabled` and `zookeeper` raise InvalidProgramError for
      the others, so a job never silently runs without the HA it was configured with.
    quorum: `high-availability.zookeeper.quorum` ("host:port,host:port"), None if unset.
    path_root: `high-availability.zookeeper.path.root`, default "/flink".
    cluster_id: `high-availability.cluster-id`, default "/default" (Flink's); `cluster_id_set`
      tells whether it was configured.
    storage_dir: `high-availability.storageDir`, a local path (file: prefix removed), or None.
    session_timeout_ms / connection_timeout_ms / retry_wait_ms / max_retry_attempts:
      `high-availability.zookeeper.client.session-timeout` (60 s), `.connection-timeout` (15 s),
      `.retry-wait` (5 s), `.max-retry-attempts` (3); durations as `2 s` or bare milliseconds.
    acl: `high-availability.zookeeper.client.acl` ("open"; "creator" needs SASL, not supported).
    tolerate_suspended: `high-availability.zookeeper.client.tolerate-suspended-connections`
      (false: a suspended connection revokes the leadership at once).
    execution_plans_path: `high-availability.zookeeper.path.execution-plans` (Flink 2.x,
      default "/execution-plans"; 1.x `.path.jobgraphs`).
    job_result_store_path / job_result_delete_on_commit: `job-result-store.storage-path`
      (default `<storageDir>/job-result-store/<cluster-id>`) and `.delete-on-commit` (true).
    """

    type: str = HA_NONE
    quorum: str | None = None
    path_root: str = "/flink"
    cluster_id: str = "/default"
    cluster_id_set: bool = False
    storage_dir: str | None = None
    session_timeout_ms: int = 60_000
    connection_timeout_ms: int = 15_000
    retry_wait_ms: int = 5_000
    max_retry_attempts: int = 3
    acl: str = "open"
    tolerate_suspended: bool = False
    execution_plans_path: str = "/execution-plans"
    job_result_store_path: str | None = None
    job_result_delete_on_commit: bool = True

    @staticmethod
    def from_configuration(conf: Mapping[str, str] | Configuration) -> HighAvailabilitySettings:
        """The settings of one map of keys (not validated: see `validate()`)."""
        settings = HighAvailabilitySettings()
        settings.update_from(conf.to_dict() if isinstance(conf, Configuration) else conf)
        return settings

    def update_from(self, conf: Mapping[str, str]) -> None:
        """Applies the keys one layer sets over the current values."""
        kind = _ha_value(conf, "high-availability.type")
        if kind is not None:
            self.type = _HA_TYPES.get(kind.lower(), kind)
        quorum = lookup(conf, "high-availability.zookeeper.quorum")
        if quorum is not None:
            self.quorum = quorum.strip() or None
        root = _ha_value(conf, "high-availability.zookeeper.path.root")
        if root is not None:
            self.path_root = root
        cluster_id = _ha_value(conf, "high-availability.cluster-id")
        if cluster_id is not None:
            self.cluster_id = cluster_id
            self.cluster_id_set = True
        storage = lookup(conf, "high-availability.storageDir")
        if storage is not None:
            self.storage_dir = local_path(storage.strip()) or None
        prefix = "high-availability.zookeeper.client."
        for option, attribute in (("session-timeout", "session_timeout_ms"),
                                  ("connection-timeout", "connection_timeout_ms"), ("retry-wait", "retry_wait_ms")):
            value = _ha_value(conf, prefix + option)
            if value is not None:
                setattr(self, attribute, parse_duration_ms(value))
        attempts = _ha_value(conf, prefix + "max-retry-attempts")
        if attempts is not None:
            try:
                self.max_retry_attempts = int(attempts)
            except ValueError:
                raise InvalidProgramError(f"{prefix}max-retry-attempts: {attempts!r} is not an integer") from None
        acl = _ha_value(conf, prefix + "acl")
        if acl is not None:
            self.acl = acl
        tolerate = _ha_value(conf, prefix + "tolerate-suspended-connections")
        if tolerate is not None:
            self.tolerate_suspended = _boolean(prefix + "tolerate-suspended-connections", tolerate)
        plans = _ha_value(conf, "high-availability.zookeeper.path.execution-plans")
        if plans is not None:
            self.execution_plans_path = plans
        results = _ha_value(conf, "job-result-store.storage-path")
        if results is not None:
            self.job_result_store_path = local_path(results)
        delete = _ha_value(conf, "job-result-store.delete-on-commit")
        if delete is not None:
            self.job_result_delete_on_commit = _boolean("job-result-store.delete-on-commit", delete)

    def check_type(self) -> None:
        """Raises InvalidProgramError unless the type is one flinklite runs (NONE, zookeeper)."""
        if self.type in (HA_NONE, HA_ZOOKEEPER):
            return
        what = ("Kubernetes high availability" if self.type == HA_KUBERNETES
                else "a HighAvailabilityServicesFactory class")
        raise InvalidProgramError(
            f"high-availability.type: {self.type!r} ({what}) is not supported by flinklite: only ZooKeeper "
            "high availability is (high-availability.type: zookeeper, or NONE for none); the job does not run "
            "without the high availability it was configured with")

    def validate(self) -> None:
        """Raises InvalidProgramError when these settings cannot run: an unsupported type, or
        ZooKeeper HA without a quorum or storage directory, or with an ACL other than open."""
        self.check_type()
        if self.type != HA_ZOOKEEPER:
            return
        if not self.quorum:
            raise InvalidProgramError("high-availability.type zookeeper needs high-availability.zookeeper.quorum")
        if not self.storage_dir:
            raise InvalidProgramError("high-availability.type zookeeper needs high-availability.storageDir")
        if self.acl.lower() != "open":
            raise InvalidProgramError(f"high-availability.zookeeper.client.acl {self.acl!r} is not supported (open)")

    @property
    def enabled(self) -> bool:
        """Whether HA services run (raises for a type flinklite does not run, see `check_type`)."""
        self.check_type()
        return self.type != HA_NONE

    @property
    def zookeeper(self) -> bool:
        """Whether ZooKeeper HA runs (raises for a type flinklite does not run, see `check_type`)."""
        self.check_type()
        return self.type == HA_ZOOKEEPER

    @property
    def cluster_path(self) -> str:
        """The cluster's znode, Flink's `<path.root>/<cluster-id>` with single slashes: `/flink/default`."""
        parts = [p for p in (self.path_root + "/" + self.cluster_id).split("/") if p]
        return "/" + "/".join(parts)

    def _cluster_segments(self) -> list[str]:
        return [segment for segment in self.cluster_id.split("/") if segment]

    @property
    def cluster_storage_dir(self) -> str | None:
        """`<storageDir>/<cluster-id>`: where the HA pointer files go."""
        if self.storage_dir is None:
            return None
        return os.path.join(self.storage_dir, *self._cluster_segments())

    @property
    def job_result_dir(self) -> str | None:
        """`job-result-store.storage-path`, else `<storageDir>/job-result-store/<cluster-id>`."""
        if self.job_result_store_path:
            return self.job_result_store_path
        if self.storage_dir is None:
            return None
        return os.path.join(self.storage_dir, "job-result-store", *self._cluster_segments())

    def job_id_for(self, job_name: str) -> str | None:
        """The stable job id when `high-availability.cluster-id` is configured, else None (a
        random id is used). Rule: 32 hex digits; the first 16 are Flink's own derivation in
        application mode, `new JobID(clusterId.hashCode(), 0)`'s lower part (the cluster id's Java
        String.hashCode as a signed 64-bit big-endian number); the last 16 are the first 8 bytes
        of SHA-256 over the job name in UTF-8, so two jobs of one cluster get different ids."""
        if not self.cluster_id_set:
            return None
        lower = java_string_hash(self.cluster_id) & 0xFFFFFFFFFFFFFFFF
        upper = hashlib.sha256(job_name.encode("utf-8")).digest()[:8]
        return f"{lower:016x}{upper.hex()}"


_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def is_job_id(text: str) -> bool:
    return bool(_JOB_ID.match(text))

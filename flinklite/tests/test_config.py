"""Configuration as Flink users know it: pyflink's Configuration API, config.yaml (nested and
flat keys), the legacy flink-conf.yaml, -D properties, FLINK_CONF_DIR, aliases, the precedence
file < -D < -p < the job's own Configuration, the high-availability settings and the stable job
id rule."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from flinklite.__main__ import main
from flinklite.common import Configuration
from flinklite.common.configuration import (
    HighAvailabilitySettings,
    SavepointSettings,
    java_string_hash,
    load_configuration_dir,
    merge_layers,
    parse_dynamic_properties,
    parse_legacy_config,
    parse_yaml_config,
)
from flinklite.datastream import StreamExecutionEnvironment
from flinklite.errors import InvalidProgramError
from flinklite.runtime.checkpoint import CheckpointSettings, RestartSettings
from flinklite.testing import TestSource, run_job


pytestmark = pytest.mark.usefixtures("isolated_flinklite")


def test_configuration_api_as_pyflink() -> None:
    conf = Configuration()
    conf.set_string("a.b", "x").set_integer("n", 3).set_boolean("flag", True).set_float("f", 1.5)
    conf.set_bytearray("raw", bytearray(b"\x00\x01"))
    assert conf.get_string("a.b", "d") == "x" and conf.get_string("missing", "d") == "d"
    assert conf.get_integer("n", 0) == 3 and conf.get_integer("missing", 7) == 7
    assert conf.get_boolean("flag", False) is True and conf.get_boolean("missing", False) is False
    assert conf.get_float("f", 0.0) == 1.5
    assert conf.get_bytearray("raw", bytearray()) == bytearray(b"\x00\x01")
    assert conf.contains_key("n") and not conf.contains_key("nope")
    assert conf.key_set() == {"a.b", "n", "flag", "f", "raw"}
    assert conf.to_dict() == {"a.b": "x", "n": "3", "flag": "true", "f": "1.5"}
    other = Configuration().add_all(conf, prefix="p.")
    assert other.get_string("p.a.b", "") == "x"
    copied = copy.deepcopy(conf)
    assert copied == conf and copied is not conf
    assert conf.remove_config("n") and not conf.remove_config("n")
    with pytest.raises(InvalidProgramError):
        Configuration().set_string("b", "maybe").get_boolean("b", False)


def test_config_yaml_nested_flat_and_mixed() -> None:
    text = """
execution:
  checkpointing:
    interval: 10 s
    dir: file:///tmp/ckpt
state.savepoints.dir: /tmp/sp
restart-strategy:
  type: fixed-delay
  fixed-delay.attempts: 3
high-availability:
  type: zookeeper
  zookeeper:
    quorum: localhost:2181
env.java.opts: [-Xmx1g, -Dx=1]
pipeline.object-reuse: true
"""
    conf = parse_yaml_config(text)
    assert conf == {
        "execution.checkpointing.interval": "10 s",
        "execution.checkpointing.dir": "file:///tmp/ckpt",
        "state.savepoints.dir": "/tmp/sp",
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": "3",
        "high-availability.type": "zookeeper",
        "high-availability.zookeeper.quorum": "localhost:2181",
        "env.java.opts": "-Xmx1g;-Dx=1",
        "pipeline.object-reuse": "true",
    }
    assert parse_yaml_config("") == {}
    with pytest.raises(InvalidProgramError):
        parse_yaml_config("- a list\n- not a map\n")
    with pytest.raises(InvalidProgramError):
        parse_yaml_config("a: [unclosed\n")


def test_legacy_flink_conf_lines() -> None:
    text = """# comment
execution.checkpointing.interval: 500 ms   # trailing comment
state.checkpoints.dir: file:///tmp/x
not a key value line
empty.value:
  parallelism.default: 4
"""
    assert parse_legacy_config(text) == {"execution.checkpointing.interval": "500 ms",
                                         "state.checkpoints.dir": "file:///tmp/x", "parallelism.default": "4"}


def test_configuration_directory_prefers_config_yaml(tmp_path: Path) -> None:
    (tmp_path / "flink-conf.yaml").write_text("parallelism.default: 2\n")
    assert load_configuration_dir(str(tmp_path)) == {"parallelism.default": "2"}
    (tmp_path / "config.yaml").write_text("parallelism:\n  default: 5\n")
    assert load_configuration_dir(str(tmp_path)) == {"parallelism.default": "5"}
    (tmp_path / "empty").mkdir()
    assert load_configuration_dir(str(tmp_path / "empty")) == {}
    with pytest.raises(InvalidProgramError):
        load_configuration_dir(str(tmp_path / "nope"))


def test_dynamic_properties() -> None:
    assert parse_dynamic_properties(["a=1", "b.c = x=y", "d="]) == {"a": "1", "b.c": "x=y", "d": ""}
    with pytest.raises(InvalidProgramError):
        parse_dynamic_properties(["novalue"])


def test_aliases_within_and_across_layers() -> None:
    settings = CheckpointSettings()
    settings.update_from({"state.checkpoints.dir": "file:/old", "execution.checkpointing.dir": "file:///new"})
    assert settings.directory == "/new"  # the current key wins within a layer
    settings.update_from({"state.checkpoints.dir": "/later"})
    assert settings.directory == "/later"  # a later layer's alias still overrides
    savepoints = SavepointSettings()
    savepoints.update_from({"state.savepoints.dir": "file:/sp", "execution.savepoint.path": "/a/savepoint-1"})
    assert savepoints.directory == "/sp" and savepoints.restore_path == "/a/savepoint-1"
    savepoints.update_from({"execution.checkpointing.savepoint-dir": "/sp2",
                            "execution.state-recovery.ignore-unclaimed-state": "true"})
    assert savepoints.directory == "/sp2" and savepoints.allow_non_restored_state
    assert merge_layers([{"state.checkpoints.dir": "/a", "x": "1"}, {"execution.checkpointing.dir": "/b"}]) == \
        {"x": "1", "execution.checkpointing.dir": "/b"}
    restart = RestartSettings()
    restart.update_from({"restart-strategy": "failurerate"})
    assert restart.type == "failure-rate"


def write_conf(directory: Path, text: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(text)
    return str(directory)


def test_precedence_file_then_dynamic_then_p_then_job_configuration(tmp_path: Path) -> None:
    conf_dir = write_conf(tmp_path / "conf", """
parallelism.default: 2
execution.checkpointing:
  interval: 1 min
  dir: /from-file
  num-retained: 4
  savepoint-dir: /sp-file
restart-strategy.type: none
""")
    StreamExecutionEnvironment._defaults = {"conf_dir": conf_dir}
    env = StreamExecutionEnvironment.get_execution_environment()
    settings = env.get_checkpoint_config().settings
    assert env.get_parallelism() == 2
    assert (settings.interval_ms, settings.directory, settings.num_retained) == (60_000, "/from-file", 4)
    assert env.savepoint_settings.directory == "/sp-file"
    assert env._restart.type == "none"

    StreamExecutionEnvironment._defaults = {
        "conf_dir": conf_dir, "parallelism": 3,
        "dynamic": {"parallelism.default": "7", "state.checkpoints.dir": "/from-D", "restart-strategy": "fixeddelay"}}
    env = StreamExecutionEnvironment.get_execution_environment()
    assert env.get_parallelism() == 3  # -p over -D over the file
    assert env.get_checkpoint_config().get_checkpoint_storage_dir() == "/from-D"
    assert env._restart.type == "fixed-delay"

    job = Configuration().set_string("execution.checkpointing.dir", "/from-job").set_integer("parallelism.default", 5)
    job.set_string("execution.checkpointing.interval", "250 ms")
    env = StreamExecutionEnvironment.get_execution_environment(job)
    assert env.get_parallelism() == 5
    assert env.get_checkpoint_config().get_checkpoint_storage_dir() == "/from-job"
    assert env.get_checkpoint_config().get_checkpoint_interval() == 250
    effective = env.get_configuration()
    assert effective.get_string("execution.checkpointing.dir", "") == "/from-job"
    assert effective.get_string("execution.checkpointing.num-retained", "") == "4"
    assert not effective.contains_key("state.checkpoints.dir")
    env.set_parallelism(1)  # a setter in the job is last
    assert env.get_parallelism() == 1


def test_flink_conf_dir_environment_variable_and_legacy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "legacy"
    directory.mkdir()
    (directory / "flink-conf.yaml").write_text("execution.checkpointing.interval: 2 s\nparallelism.default: 3\n")
    monkeypatch.setenv("FLINK_CONF_DIR", str(directory))
    env = StreamExecutionEnvironment.get_execution_environment()
    assert env.get_checkpoint_config().get_checkpoint_interval() == 2000 and env.get_parallelism() == 3
    StreamExecutionEnvironment._defaults = {"conf_dir": write_conf(tmp_path / "cli", "parallelism.default: 4\n")}
    assert StreamExecutionEnvironment.get_execution_environment().get_parallelism() == 4  # --conf-dir wins


def test_pipeline_keys() -> None:
    conf = Configuration().set_string("pipeline.max-parallelism", "64") \
        .set_string("pipeline.auto-watermark-interval", "1 s").set_string("pipeline.name", "named job")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    assert env.get_max_parallelism() == 64 and env.get_config().get_auto_watermark_interval() == 1000
    assert env._job_name == "named job"


def test_high_availability_settings() -> None:
    ha = HighAvailabilitySettings()
    assert not ha.enabled and ha.cluster_path == "/flink/default" and ha.job_id_for("job") is None
    ha = HighAvailabilitySettings.from_configuration({
        "high-availability.type": "ZooKeeper",
        "high-availability.zookeeper.quorum": "127.0.0.1:2181,127.0.0.1:2182",
        "high-availability.zookeeper.path.root": "/flinklite/",
        "high-availability.cluster-id": "/cluster-a",
        "high-availability.storageDir": "file:///tmp/ha",
        "high-availability.zookeeper.client.session-timeout": "4 s",
        "high-availability.zookeeper.client.connection-timeout": "2000",
    })
    assert ha.enabled and ha.zookeeper and ha.type == "zookeeper"
    assert ha.quorum == "127.0.0.1:2181,127.0.0.1:2182"
    assert ha.cluster_path == "/flinklite/cluster-a"
    assert ha.storage_dir == "/tmp/ha"
    assert (ha.session_timeout_ms, ha.connection_timeout_ms) == (4000, 2000)
    legacy = HighAvailabilitySettings.from_configuration(Configuration().set_string("high-availability", "zookeeper"))
    assert legacy.zookeeper and not legacy.cluster_id_set
    # the types flinklite does not run are kept as read, and refused wherever HA is asked for
    for kind, kept in (("KUBERNETES", "kubernetes"), ("com.example.HaFactory", "com.example.HaFactory")):
        other = HighAvailabilitySettings.from_configuration({"high-availability.type": kind})
        assert other.type == kept
        for attribute in ("zookeeper", "enabled"):
            with pytest.raises(InvalidProgramError, match="only ZooKeeper high availability is"):
                getattr(other, attribute)
        with pytest.raises(InvalidProgramError, match="only ZooKeeper high availability is"):
            other.validate()


def test_stable_job_id_rule() -> None:
    # Java's String.hashCode, including the sign: "polygenelubricants".hashCode() == Integer.MIN_VALUE
    assert java_string_hash("abc") == 96354
    assert java_string_hash("polygenelubricants") == -2**31
    ha = HighAvailabilitySettings.from_configuration({"high-availability.cluster-id": "abc"})
    job_id = ha.job_id_for("my job")
    assert job_id is not None and len(job_id) == 32
    assert job_id.startswith("0000000000017862")  # Flink's new JobID("abc".hashCode(), 0) lower part
    assert job_id == ha.job_id_for("my job") and job_id != ha.job_id_for("other job")
    negative = HighAvailabilitySettings.from_configuration({"high-availability.cluster-id": "polygenelubricants"})
    assert (negative.job_id_for("x") or "").startswith("ffffffff80000000")


def test_execute_uses_the_stable_job_id_for_checkpoints(tmp_path: Path) -> None:
    def build(env: StreamExecutionEnvironment) -> Any:
        env.configure({"high-availability.cluster-id": "cluster-1", "execution.checkpointing.interval": "20 ms",
                       "execution.checkpointing.dir": str(tmp_path / "ckpt")})
        from flinklite.common import WatermarkStrategy
        return env.from_source(TestSource(list(range(50)), interval_ms=5), WatermarkStrategy.no_watermarks(), "n")

    first = run_job(build).results[0].get_job_id()
    second = run_job(build).results[0].get_job_id()
    expected = HighAvailabilitySettings.from_configuration({"high-availability.cluster-id": "cluster-1"}) \
        .job_id_for("test job")
    assert first == second == expected
    assert (tmp_path / "ckpt").exists() and [p.name for p in (tmp_path / "ckpt").iterdir()] == [expected]


def test_cli_run_takes_dynamic_properties_and_conf_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "from flinklite.datastream import StreamExecutionEnvironment\n"
        "env = StreamExecutionEnvironment.get_execution_environment()\n"
        "conf = env.get_configuration()\n"
        "print(env.get_parallelism(), env.get_checkpoint_config().get_checkpoint_interval(),\n"
        "      conf.get_string('custom.key', '-'), env.high_availability.cluster_id)\n")
    conf_dir = write_conf(tmp_path / "conf", "parallelism.default: 2\ncustom.key: file\n"
                                             "high-availability.cluster-id: from-file\n")
    assert main(["run", "--progress", "0", "--conf-dir", conf_dir, "-D", "custom.key=dynamic",
                 "-Dexecution.checkpointing.interval=3 s", str(script)]) == 0
    assert capsys.readouterr().out.strip() == "2 3000 dynamic from-file"

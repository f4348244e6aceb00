"""Owns the job-manager stand-in process the HA tests start and kill: `python -m
compat_tests.flinklite.ha_process CONF_JSON contend|checkpoints ...` talks to ZooKeeper only
through flinklite/runtime/ha.py and reports on stdout, one line per fact, flushed:

- `SESSION <hex>`: its ZooKeeper session id (once connected);
- `LEADER <leader session uuid>`: it won the election (connection info published);
- `COMPLETED <id> <chk dir>`: a checkpoint completed through a CheckpointCoordinator whose id
  counter and completed-checkpoint store are the HA ones (`checkpoints` only);
- `RESUMED <id|none> <next id>`: what recovery found before the first checkpoint;
- `DONE`: the work is done; it then holds leadership until killed or stdin closes;
- `REVOKED`: leadership was lost.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading

from flinklite.runtime.checkpoint import CheckpointCoordinator, CheckpointSettings, CheckpointStorage
from flinklite.runtime.ha import (
    DISPATCHER,
    ZooKeeperHaServices,
    job_component,
    services_from_config,
)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("conf", help="the Flink configuration as a JSON object")
    parser.add_argument("command", choices=["contend", "checkpoints"])
    parser.add_argument("--job", default="0" * 32)
    parser.add_argument("--address", default="flinklite://test")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--checkpoint-dir")
    parser.add_argument("--retained", type=int, default=1)
    options = parser.parse_args(argv)
    conf: dict[str, str] = json.loads(options.conf)
    services = services_from_config(conf)
    if isinstance(services, ZooKeeperHaServices):
        say(f"SESSION {services.session_id:x}")
    revoked = threading.Event()
    election = services.leader_election({DISPATCHER: f"{options.address}/dispatcher",
                                         job_component(options.job): f"{options.address}/jobmanager"},
                                        on_revoked=revoked.set)
    election.start()
    election.await_leadership()
    if not election.is_leader:
        say("REVOKED")
        return 1
    say(f"LEADER {election.session_id}")

    if options.command == "checkpoints":
        recovery = services.recover(options.job)
        say(f"RESUMED {recovery.latest_checkpoint_id if recovery.latest_checkpoint_id is not None else 'none'} "
            f"{recovery.next_checkpoint_id}")
        settings = CheckpointSettings(interval_ms=1, directory=options.checkpoint_dir, num_retained=options.retained)
        storage = CheckpointStorage(options.checkpoint_dir, options.job) if options.checkpoint_dir else None
        coordinator = CheckpointCoordinator(
            settings, storage, id_counter=services.checkpoint_id_counter(options.job),
            completed_store=services.completed_checkpoint_store(options.job, options.retained))
        for step in range(options.count):
            checkpoint_id = coordinator.trigger(step, [("task", 0)])
            completed = coordinator.acknowledge(checkpoint_id, "task", 0, {"step": step})
            assert completed is not None
            say(f"COMPLETED {completed.checkpoint_id} {completed.path}")

    say("DONE")
    # Hold leadership until killed, stdin closes or leadership goes.
    def until_stdin_closes() -> None:
        sys.stdin.read()
        revoked.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    revoked.wait()
    if election.revoked.is_set():
        say("REVOKED")
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

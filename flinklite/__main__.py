"""Owns the command line, in the shape of Flink's `flink` CLI:

  python -m flinklite run [-p N] [-s PATH | --fromSavepoint PATH] [-n] [-D key=value]...
                          [--conf-dir DIR] [--progress SECONDS] [--workers N] job.py [args]
  python -m flinklite savepoint JOB_ID [TARGET_DIR]
  python -m flinklite stop [--savepoint-path DIR | -p DIR] [--drain] JOB_ID
  python -m flinklite list [--json]
  python -m flinklite status JOB_ID [--json]
  python -m flinklite worker --connect HOST:PORT [--slots N] [--host ADDR]

`run` runs a PyFlink-style job script in this process, with the configuration directory
(`--conf-dir`, else `$FLINK_CONF_DIR`), `-D` properties, `-s` (sets
`execution.state-recovery.path`) and `-n` (`execution.state-recovery.ignore-unclaimed-state`),
and serves each job's control endpoint; records in/out per operator go to stderr every few
seconds on long jobs (`--progress`, 0 turns it off). The other commands find a running job in
the registry (`$FLINKLITE_HOME/jobs`, default `~/.flinklite/jobs`) and talk to its endpoint
(flinklite/runtime/control.py)."""

from __future__ import annotations

import argparse
import json
import os
import runpy
import signal
import sys
import time
from typing import Any

from flinklite.common.configuration import parse_dynamic_properties
from flinklite.datastream.stream_execution_environment import StreamExecutionEnvironment
from flinklite.errors import InvalidProgramError
from flinklite.runtime.control import ControlClient, ControlError, jobs_directory, registered_jobs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flinklite")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a job script")
    run.add_argument("--progress", type=float, default=5.0, metavar="SECONDS",
                     help="print records in/out per operator every SECONDS (0: never)")
    run.add_argument("--parallelism", "-p", type=int, default=None, help="default parallelism")
    run.add_argument("--fromSavepoint", "-s", dest="from_savepoint", metavar="PATH", default=None,
                     help="resume from this savepoint (or retained checkpoint) directory or _metadata file")
    run.add_argument("--allowNonRestoredState", "-n", dest="allow_non_restored", action="store_true",
                     help="skip savepoint state that cannot be mapped to the new program")
    run.add_argument("-D", dest="dynamic", action="append", default=[], metavar="key=value",
                     help="a configuration property (over the configuration file)")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="run the job's subtasks in N local worker processes (sets flinklite.workers)")
    run.add_argument("--conf-dir", dest="conf_dir", default=None, metavar="DIR",
                     help="the directory with config.yaml or flink-conf.yaml (default: $FLINK_CONF_DIR)")
    run.add_argument("script")
    run.add_argument("args", nargs=argparse.REMAINDER)

    savepoint = commands.add_parser("savepoint", help="trigger a savepoint of a running job")
    savepoint.add_argument("job_id")
    savepoint.add_argument("target_directory", nargs="?", default=None)

    stop = commands.add_parser("stop", help="stop a running job with a savepoint")
    stop.add_argument("--savepoint-path", "--savepointPath", "-p", dest="target_directory", default=None,
                      metavar="DIR", help="where the savepoint goes (default: execution.checkpointing.savepoint-dir)")
    stop.add_argument("--drain", "-d", action="store_true",
                      help="emit MAX_WATERMARK before the savepoint (fires every event-time window and timer)")
    stop.add_argument("job_id")

    listing = commands.add_parser("list", help="list the running jobs")
    listing.add_argument("--json", action="store_true", help="one JSON object per job, one per line")

    worker = commands.add_parser("worker", help="join a job manager as a worker process")
    worker.add_argument("--connect", required=True, metavar="HOST:PORT", help="the job manager's worker address")
    worker.add_argument("--slots", type=int, default=1, help="task slots of this worker (taskmanager.numberOfTaskSlots)")
    worker.add_argument("--host", default=None, help="the address other workers reach this one at "
                        "(default: the local address of its connection to the job manager)")

    status = commands.add_parser("status", help="a running job's operators, records in/out and checkpoints")
    status.add_argument("job_id")
    status.add_argument("--json", action="store_true", help="the job's answer as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        if options.command == "run":
            return _run(options)
        if options.command == "savepoint":
            return _savepoint(options)
        if options.command == "stop":
            return _stop(options)
        if options.command == "worker":
            from flinklite.runtime.workers import worker_main
            return worker_main(options.connect, options.slots, options.host)
        if options.command == "list":
            return _list(options)
        return _status(options)
    except ControlError as exc:
        print(f"\n------------------------------------------------------------\n The program finished with the "
              f"following exception:\n\n{exc}", file=sys.stderr)
        return 1


def _run(options: argparse.Namespace) -> int:
    dynamic = parse_dynamic_properties(options.dynamic)
    if options.from_savepoint:
        dynamic["execution.state-recovery.path"] = os.path.abspath(options.from_savepoint.removeprefix("file:"))
    if options.workers is not None:
        dynamic["flinklite.workers"] = str(options.workers)
    if options.allow_non_restored:
        dynamic["execution.state-recovery.ignore-unclaimed-state"] = "true"
    if options.conf_dir and not os.path.isdir(options.conf_dir):
        raise InvalidProgramError(f"--conf-dir {options.conf_dir} is not a directory")
    defaults: dict[str, Any] = {"dynamic": dynamic, "control_dir": jobs_directory(), "script": options.script}
    if options.conf_dir:
        defaults["conf_dir"] = options.conf_dir
    if options.progress > 0:
        defaults["progress_interval_s"] = options.progress
    if options.parallelism:
        defaults["parallelism"] = options.parallelism
    StreamExecutionEnvironment._defaults = defaults
    # SIGTERM ends the job through the normal exit path, so its registry entry is removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.argv = [options.script, *options.args]
    runpy.run_path(options.script, run_name="__main__")
    return 0


def _savepoint(options: argparse.Namespace) -> int:
    target = os.path.abspath(options.target_directory) if options.target_directory else None
    with ControlClient.for_job(options.job_id) as client:
        print(f"Triggering savepoint for job {options.job_id}.")
        print("Waiting for response...")
        answer = client.request("savepoint", target_directory=target)
    print(f"Savepoint completed. Path: {answer['path']}")
    print("You can resume your program from this savepoint with the run command.")
    return 0


def _stop(options: argparse.Namespace) -> int:
    target = os.path.abspath(options.target_directory) if options.target_directory else None
    with ControlClient.for_job(options.job_id) as client:
        print(f'Suspending job "{options.job_id}" with a savepoint.')
        answer = client.request("stop", target_directory=target, drain=options.drain)
    print(f"Savepoint completed. Path: {answer['path']}")
    return 0


def _format_time(ms: int) -> str:
    return time.strftime("%d.%m.%Y %H:%M:%S", time.localtime(ms / 1000))


def _list(options: argparse.Namespace) -> int:
    jobs = registered_jobs(jobs_directory())
    if options.json:
        for job in jobs:
            print(json.dumps({"job_id": job.job_id, "job_name": job.job_name, "pid": job.pid, "port": job.port,
                              "started_ms": job.started_ms}))
        return 0
    print("Waiting for response...")
    if not jobs:
        print("No running jobs.")
        return 0
    print("------------------ Running/Restarting Jobs -------------------")
    for job in jobs:
        print(f"{_format_time(job.started_ms)} : {job.job_id} : {job.job_name} (RUNNING, pid {job.pid})")
    print("--------------------------------------------------------------")
    return 0


def _status(options: argparse.Namespace) -> int:
    with ControlClient.for_job(options.job_id, timeout_s=60.0) as client:
        answer = client.request("status")
    if options.json:
        print(json.dumps(answer, indent=2))
        return 0
    print(f"Job {answer['job_id']} : {answer['job_name']} ({answer['state']}, pid {answer['pid']}, "
          f"started {_format_time(answer['started_ms'])}, restarts {answer['restarts']})")
    print("Operators:")
    width = max((len(op["name"]) for op in answer["operators"]), default=8)
    for op in answer["operators"]:
        print(f"  {op['name']:<{width}}  x{op['parallelism']:<3} in {op['records_in']:>12,}  "
              f"out {op['records_out']:>12,}")
    for worker in answer.get("workers", []):
        print(f"  worker {worker['id']} (pid {worker['pid']} on {worker['host']}, {worker['slots']} slot(s)): "
              f"{worker.get('buffers_sent', 0):,} buffers sent, {worker.get('queued_buffers', 0)} queued, "
              f"{worker.get('blocked_sends', 0):,} found no credit")
    interval = answer.get("checkpointing_interval_ms")
    print(f"Checkpoints: every {interval} ms" if interval else "Checkpoints: periodic checkpointing is off")
    for checkpoint in answer["checkpoints"]:
        duration = checkpoint.get("duration_ms")
        took = f", {duration:.1f} ms" if duration is not None else ""
        print(f"  {checkpoint['kind']} {checkpoint['id']}: {checkpoint['path'] or '(in memory)'}{took}")
    restored = answer.get("restored_from")
    if restored:
        print(f"Restored from {restored['kind']} {restored['id']}: {restored['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

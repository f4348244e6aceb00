"""Owns the command line: `python -m flinklite run job.py [args]` runs a PyFlink-style job
script in this process, printing records in/out per operator to stderr every few seconds on
long jobs (`--progress SECONDS`, default 5; 0 turns it off)."""

from __future__ import annotations

import argparse
import runpy
import sys

from flinklite.datastream.stream_execution_environment import StreamExecutionEnvironment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flinklite")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a job script")
    run.add_argument("--progress", type=float, default=5.0, metavar="SECONDS",
                     help="print records in/out per operator every SECONDS (0: never)")
    run.add_argument("--parallelism", "-p", type=int, default=None, help="default parallelism")
    run.add_argument("script")
    run.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    defaults: dict[str, object] = {}
    if options.progress > 0:
        defaults["progress_interval_s"] = options.progress
    if options.parallelism:
        defaults["parallelism"] = options.parallelism
    StreamExecutionEnvironment._defaults = defaults
    sys.argv = [options.script, *options.args]
    runpy.run_path(options.script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput scaling of flinklite's parallel workers: the same keyed job at parallelism 2
(bench/flinklite_workers_job.py: records from memory, 1,000 keys, 10 s tumbling event-time window
counts; `--light`: a running count and sum per key in ValueState) run by `python -m flinklite run` as one process, on 1 worker process with 2 slots,
and on 2 worker processes with 1 slot each (records of half the keys cross between the workers
over TCP); records/s over the executor's running time (process start-up excluded), best of the
interleaved rounds, and the ratio 2 workers / 1 worker.
`python -m bench.flinklite_workers [--records N] [--rounds R] [--light] [--quick]`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JOB = str(REPO / "bench" / "flinklite_workers_job.py")
CONFIGS = [("one process (no workers)", []), ("1 worker process, 2 slots", ["--workers", "1", "-D",
                                                                           "taskmanager.numberOfTaskSlots=2"]),
           ("2 worker processes, 1 slot each", ["--workers", "2"])]


def run_once(records: int, extra: list[str], home: str, light: bool) -> tuple[float, int]:
    """(records/s, lines printed) of one run."""
    env = {**os.environ, "FLINKLITE_HOME": home, "PYTHONPATH": str(REPO)}
    env.pop("FLINK_CONF_DIR", None)
    done = subprocess.run([sys.executable, "-m", "flinklite", "run", "--progress", "0", *extra, JOB, str(records),
                           *(["--light"] if light else [])],
                          capture_output=True, text=True, cwd=str(REPO), env=env, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result = [line for line in done.stderr.splitlines() if line.startswith("RESULT ")][-1].split()
    return int(result[1]) / float(result[2]), len(done.stdout.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flinklite_workers")
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--light", action="store_true", help="the ~2.5 us/record running count instead")
    parser.add_argument("--quick", action="store_true", help="20,000 records, one round (a smoke run)")
    options = parser.parse_args(argv)
    records, rounds = (20_000, 1) if options.quick else (options.records, options.rounds)
    best: dict[str, float] = {}
    lines: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as home:
        for _ in range(rounds):
            for name, extra in CONFIGS:
                rate, printed = run_once(records, extra, home, options.light)
                best[name] = max(best.get(name, 0.0), rate)
                lines[name] = printed
    workload = "keyed running count and sum" if options.light else "keyed 10 s tumbling-window count"
    print(f"{workload}, {records:,} records from memory, parallelism 2, "
          f"best of {rounds}, {os.cpu_count()} CPUs")
    print()
    print("| run | records/s | lines printed |")
    print("| --- | ---: | ---: |")
    for name, _ in CONFIGS:
        print(f"| {name} | {best[name]:,.0f} | {lines[name]:,} |")
    ratio = best[CONFIGS[2][0]] / best[CONFIGS[1][0]]
    print()
    print(f"2 workers / 1 worker: {ratio:.2f}; 2 workers / one process: {best[CONFIGS[2][0]] / best[CONFIGS[0][0]]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

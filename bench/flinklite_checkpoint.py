"""flinklite checkpoint cost, measured in one run: a keyed job whose state is about 10 MB and
about 100 MB (one ValueState per key holding a count and its own 1 KiB of bytes), run with
checkpoints every `--interval` ms to a local directory and without; prints the checkpoint
duration (trigger to `_metadata` written and renamed: snapshot, pickle, write, fsync; all of it
blocks the single executor thread), the checkpoint size on disk and the ratio of records/s with
checkpointing to records/s without. `python -m bench.flinklite_checkpoint [--quick]`."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

BLOB = 1024  # bytes of state per key, besides the count


def run(keys: int, records: int, interval_ms: int | None, directory: str) -> tuple[float, list[tuple[float, int]]]:
    """records/s of one run, and (duration ms, size bytes) of each checkpoint it completed."""
    from flinklite.common import Types
    from flinklite.datastream import KeyedProcessFunction, StreamExecutionEnvironment
    from flinklite.datastream.state import ValueStateDescriptor

    class Accumulate(KeyedProcessFunction):
        def open(self, runtime_context: Any) -> None:
            self.state = runtime_context.get_state(ValueStateDescriptor("acc", Types.PICKLED_BYTE_ARRAY()))

        def process_element(self, value: int, ctx: Any) -> Any:
            current = self.state.value()
            if current is None:  # each key its own bytes, so pickling cannot share them
                current = (0, value.to_bytes(8, "big") * (BLOB // 8))
            self.state.update((current[0] + 1, current[1]))
            return iter(())

    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1)
    if interval_ms is not None:
        env.enable_checkpointing(interval_ms)
        env.get_checkpoint_config().set_checkpoint_storage_dir(directory)

    def sink(value: Any) -> None:
        pass

    data = [i % keys for i in range(records)]
    env.from_collection(data).key_by(lambda k: k).process(Accumulate()).add_sink(sink)
    started = time.perf_counter()
    env.execute("checkpoint bench")
    rate = records / (time.perf_counter() - started)
    executor = env.last_executor
    assert executor is not None
    return rate, [(c.duration_ms or 0.0, c.size_bytes or 0) for c in executor.checkpoint_stats]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=int, default=1000, help="checkpoint interval, ms")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small state, one round (a smoke run)")
    options = parser.parse_args()
    sizes = [("~10 MB", 10_000, 3_000_000), ("~100 MB", 100_000, 1_000_000)]  # runs of several seconds
    rounds = options.rounds
    interval = options.interval
    if options.quick:
        sizes, rounds, interval = [("~1 MB", 1_000, 20_000)], 1, 20
    print(f"checkpoint interval {interval} ms; rates best of {rounds} interleaved rounds, checkpoint stats their median; load {os.getloadavg()[0]:.2f}")
    print("| keyed state | keys | records | checkpoints | size on disk | duration mean / max | "
          "rec/s without | rec/s with | with/without |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, keys, records in sizes:
        best_without = best_with = 0.0
        per_round: list[list[tuple[float, int]]] = []
        for _ in range(rounds):
            directory = tempfile.mkdtemp(prefix="flinklite-bench-")
            try:
                rate, _ = run(keys, records, None, directory)
                best_without = max(best_without, rate)
                rate, done = run(keys, records, interval, directory)
                best_with = max(best_with, rate)
                per_round.append(done)
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        count, size, mean_ms, max_ms = checkpoint_stats(per_round)
        took = f"{mean_ms:,.0f} / {max_ms:,.0f} ms" if mean_ms is not None and max_ms is not None else "n/a"
        print(f"| {label} | {keys:,} | {records:,} | {count:g} | {size / 1e6:,.1f} MB | {took} | "
              f"{best_without:,.0f} | {best_with:,.0f} | {best_with / best_without:.2f} |")


def checkpoint_stats(per_round: list[list[tuple[float, int]]]) -> tuple[float, float, float | None, float | None]:
    """Checkpoint count, size on disk, mean and max duration: each the median over the rounds
    (not the fastest round's, which picks the round whose checkpoints happened to be cheap)."""
    counts = [len(r) for r in per_round] or [0]
    sizes = [max((s for _, s in r), default=0) for r in per_round] or [0]
    means = [statistics.mean(d for d, _ in r) for r in per_round if r]
    maxes = [max(d for d, _ in r) for r in per_round if r]
    return (statistics.median(counts), statistics.median(sizes),
            statistics.median(means) if means else None, statistics.median(maxes) if maxes else None)

if __name__ == "__main__":
    main()

"""Measurement helpers shared by the server benchmarks: percentiles, RSS, number formatting, text tables,
and the interpreter start-up floor."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def rss_kib(pid: int) -> int:
    """VmRSS of a live process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def fmt(value: float | None) -> str:
    """A figure with sensible precision: thousands separators from 100 up, 1 or 2 decimals below."""
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(head: Sequence[str], cells: Sequence[Sequence[str]], right: set[int]) -> str:
    """A plain-text table; columns in ``right`` are right-aligned."""
    widths = [max(len(head[i]), *(len(c[i]) for c in cells)) for i in range(len(head))]

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths)))
        return "  ".join(padded).rstrip()

    out = [line(head), "-" * len(line(head))]
    out.extend(line(c) for c in cells)
    return "\n".join(out)


def python_floor_ms(reps: int = 3) -> float:
    """Median spawn-to-exit of a bare ``python -c pass``: the part of start-up no server code can remove."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)

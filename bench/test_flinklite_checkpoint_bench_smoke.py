"""Smoke run of ``python -m bench.flinklite_checkpoint --quick``: the row prints with a checkpoint of about 1 MB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_flinklite_checkpoint_bench_quick() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.flinklite_checkpoint", "--quick"], capture_output=True,
                          text=True, cwd=str(Path(__file__).resolve().parents[1]), timeout=240)
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("| ~1 MB")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert int(cells[3]) >= 1 and cells[4] == "1.0 MB"  # at least one checkpoint, of the whole state


def test_checkpoint_stats_are_the_median_over_rounds() -> None:
    from bench.flinklite_checkpoint import checkpoint_stats
    rounds = [[(10.0, 100), (30.0, 100)], [(100.0, 300)], [(50.0, 200), (70.0, 200), (90.0, 200)]]
    assert checkpoint_stats(rounds) == (2, 200, 70.0, 90.0)
    assert checkpoint_stats([[]]) == (0, 0, None, None)

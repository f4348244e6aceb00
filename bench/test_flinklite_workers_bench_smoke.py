"""Smoke run of ``python -m bench.flinklite_workers --quick``: three rows, the same output from all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_flinklite_workers_bench_quick() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.flinklite_workers", "--quick"], capture_output=True, text=True,
                          cwd=str(Path(__file__).resolve().parents[1]), timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "records/s" not in line
            and "---" not in line]
    assert len(rows) == 3
    assert {row.rsplit("|", 2)[1].strip() for row in rows} == {"2,000"}  # every run printed every window
    assert "2 workers / 1 worker:" in done.stdout

"""Smoke run of ``python -m bench.flinklite --quick``: both rows print, both runtimes agree on the output count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_flinklite_bench_quick() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.flinklite", "--quick"], capture_output=True, text=True,
                          cwd=str(Path(__file__).resolve().parents[1]), timeout=240)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "rec/s" not in line and "---" not in line]
    assert len(rows) == 4  # from memory and from our broker
    for row in rows:
        assert "outputs [(5000, 5000)]" in row

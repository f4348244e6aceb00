"""Smoke run of ``python -m bench.zk_server --quick``: both durability tables, a row per metric, no timing checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

METRICS = [
    *(f"raw pipelined (window 1000) {op}" for op in ("create", "getData", "setData", "exists")),
    *(f"kazoo async (window 1000) {op}" for op in ("create", "getData", "setData", "exists")),
    "sync getData latency p50",
    "sync getData latency p99",
    "sync setData latency p50",
    "sync setData latency p99",
    "start-up: spawn to listening line",
    "start-up: spawn to ruok=imok",
    "start-up: spawn to first session",
    "RSS idle after start-up",
    "RSS after a fixed workload",
]


def _tables(output: str) -> dict[str, list[list[str]]]:
    """Each table's data rows (split on runs of two or more spaces), by the durability heading above it."""
    tables: dict[str, list[list[str]]] = {}
    lines = output.splitlines()
    mode = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("== durability: "):
            mode = line.split(":", 1)[1].split("(")[0].strip()
        elif line.startswith("metric") and mode:
            rows = []
            for row in lines[i + 2:]:
                if not row.strip():
                    break
                rows.append([cell.strip() for cell in row.split("  ") if cell.strip()])
            tables[mode] = rows
            mode = ""
        i += 1
    return tables


@pytest.mark.timeout(300)
def test_quick_run_prints_a_row_per_metric_in_both_modes() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.zk_server", "--quick"], cwd=ROOT, capture_output=True,
                          text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tables = _tables(proc.stdout)
    assert len(tables) == 2, proc.stdout
    assert any(mode.startswith("fsync before every reply") for mode in tables), list(tables)
    assert any(mode.startswith("no fsync") for mode in tables), list(tables)
    for mode, rows in tables.items():
        by_metric = {row[0]: row for row in rows}
        assert sorted(by_metric) == sorted(METRICS), (mode, list(by_metric))
        for metric, row in by_metric.items():
            assert len(row) >= 5, (mode, row)  # metric, unit, ours, real, ours/real[, target]
            assert row[2] != "n/a", (mode, row)  # ours is always measured

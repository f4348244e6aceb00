"""Smoke run of ``python -m bench.kafka_broker --quick``: a row per metric, both columns measured, no timing checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

THROUGHPUT = [f"{way} {client} {size}" for way in ("produce", "consume") for client in ("confluent-kafka", "kcat")
              for size in ("100 B", "1 KiB")]
ROWS = [
    *((metric, unit) for metric in THROUGHPUT for unit in ("msg/s", "MB/s")),
    ("produce latency acks=1 100 B p50", "us"),
    ("produce latency acks=1 100 B p99", "us"),
    ("start-up: spawn to listening line", "ms"),
    ("start-up: spawn to first ApiVersions answer", "ms"),
    ("RSS after start-up", "MiB"),
    ("RSS after the workload", "MiB"),
]


def _rows(output: str) -> list[list[str]]:
    """The table's data rows, split on runs of two or more spaces."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("metric")) + 2
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append([cell.strip() for cell in line.split("  ") if cell.strip()])
    return rows


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (run-tests installs it)")
@pytest.mark.timeout(300)
def test_quick_run_prints_a_row_per_metric() -> None:
    pytest.importorskip("confluent_kafka")
    proc = subprocess.run([sys.executable, "-m", "bench.kafka_broker", "--quick"], cwd=ROOT, capture_output=True,
                          text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows(proc.stdout)
    by_key = {(row[0], row[1]): row for row in rows}
    assert sorted(by_key) == sorted(ROWS), [key for key in by_key]
    for key, row in by_key.items():
        # metric, unit, ours, sink, ours/sink, srv cpu%, srv cpu us/msg, client cpu%, others cpu%
        assert len(row) == 9, (key, row)
        assert row[2] != "n/a" and row[3] != "n/a", (key, row)  # both servers are always measured
        float(row[2].replace(",", "")), float(row[3].replace(",", "")), float(row[4])  # numbers, whatever their values
    for metric in THROUGHPUT:
        assert by_key[(metric, "msg/s")][5] != "-", metric  # the cpu figures are there on the msg/s rows
    assert "verdict per throughput row" in proc.stdout

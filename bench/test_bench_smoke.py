"""Smoke run of ``python -m bench.wire_codecs --quick``: a row per message, no timing assertions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import wire_codecs

MESSAGES = [
    "ProduceRequest v9",
    "FetchResponse v12",
    "FetchResponse v16",
    "MetadataRequest v12",
    "MetadataResponse v12",
    "ZK GetData round",
]


def _rows(output: str) -> list[list[str]]:
    """The table's data rows, split on runs of two or more spaces."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("message")) + 2
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        rows.append([cell.strip() for cell in line.split("  ") if cell.strip()])
    return rows


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_quick_run_prints_a_row_per_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert wire_codecs.main(["--quick"]) == 0  # non-zero only if an implementation disagreed on bytes
    rows = _rows(capsys.readouterr().out)
    seen = {(row[0], row[3]) for row in rows}
    for message in MESSAGES:
        assert (message, "construct") in seen, message
    for message in MESSAGES[:-1]:
        assert (message, "kafka-python") in seen, message
    assert ("ZK GetData round", "kazoo") in seen
    for row in rows:
        assert len(row) == len(wire_codecs.HEADER), row
        assert row[-1] == "yes", row
        float(row[2]), float(row[4]), float(row[5].rstrip("x"))  # numbers, whatever their values


def test_module_runs_as_a_script() -> None:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "bench.wire_codecs", "--quick"], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert {row[0] for row in _rows(proc.stdout)} == set(MESSAGES)

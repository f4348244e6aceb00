"""Differential tests: each job script in jobs/ imports pyflink; it runs once on PyFlink
2.3.0 (its own virtual environment with a JVM, created by ./run-tests) and once on flinklite
with only the import prefix changed, and both must print the same lines. Lines are compared
as sorted lists: with several sources the interleaving of their records differs between the
two runtimes (Flink runs sources in parallel threads), while every line must match exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

JOBS = Path(__file__).parent / "jobs"
REPO = Path(__file__).resolve().parents[3]
PYFLINK_VENV = Path(os.environ.get("FLINKLITE_PYFLINK_VENV", REPO / ".venv-pyflink"))

pytestmark = pytest.mark.pyflink_differential


def run_pyflink(script: Path) -> list[str]:
    python = PYFLINK_VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no PyFlink venv at {PYFLINK_VENV} (./run-tests creates it)")
    env = dict(os.environ, PATH=f"{PYFLINK_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run([str(python), str(script)], capture_output=True, text=True, timeout=240, env=env,
                          cwd=str(script.parent))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def run_flinklite(script: Path, tmp_path: Path) -> list[str]:
    ported = tmp_path / script.name
    ported.write_text(script.read_text().replace("pyflink", "flinklite"))
    done = subprocess.run([sys.executable, str(ported)], capture_output=True, text=True, timeout=60,
                          cwd=str(REPO))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


@pytest.mark.parametrize("job", ["windows", "state_timers", "connected_join", "parallel_keyed", "processing_time_end"])
def test_same_output_as_pyflink(job: str, tmp_path: Path) -> None:
    script = JOBS / f"{job}.py"
    ours = run_flinklite(script, tmp_path)
    theirs = run_pyflink(script)
    assert ours, "the job printed nothing"
    assert sorted(ours) == sorted(theirs)


# PyFlink's own example jobs (shipped in apache-flink 2.3.0) whose output does not depend on
# timing or on a rebalance's random first channel: they run unchanged but for the import. Nine
# more PyFlink runs take about 4 minutes here, so they run with --run-slow only.
EXAMPLES = ["basic_operations.py", "state_access.py", "event_time_timer.py", "word_count.py",
            "windowing/tumbling_time_window.py", "windowing/sliding_time_window.py",
            "windowing/session_with_gap_window.py", "windowing/session_with_dynamic_gap_window.py",
            "windowing/tumbling_count_window.py"]


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_pyflink_shipped_examples_print_the_same(example: str, tmp_path: Path) -> None:
    found = sorted(PYFLINK_VENV.glob(f"lib/python*/site-packages/pyflink/examples/datastream/{example}"))
    if not found:
        pytest.skip(f"no PyFlink venv at {PYFLINK_VENV} (./run-tests creates it)")
    noise = ("PYFLINK_CYTHON_ENABLED", "Using Any for unsupported type", "No module named google")
    theirs = [line for line in run_pyflink(found[0]) if not line.startswith(noise)]
    ours = run_flinklite(found[0], tmp_path)
    assert ours, "the job printed nothing"
    assert sorted(ours) == sorted(theirs)


@pytest.mark.slow
def test_lateness_matches_a_pyflink_run_with_watermarks_between_records(tmp_path: Path) -> None:
    """jobs/lateness.py needs a watermark between every two records. flinklite emits one there
    (records 300 ms apart, interval 10 ms, checked before each record as Flink's mailbox does);
    PyFlink only does when its Python stages pass each record on in time, which it does in some
    runs and not others (measured: 2 runs in 7 here, fewer on a loaded machine). So this test
    gives PyFlink three tries and passes when one run prints exactly our lines in our order; when
    none had its watermarks in time it is skipped as inconclusive. With --run-slow only.""" 
    script = JOBS / "lateness.py"
    ours = run_flinklite(script, tmp_path)
    assert "late> (a,1300)" in ours and "late> (a,3900)" in ours
    attempts = [run_pyflink(script) for _ in range(1)]
    for _ in range(2):
        if ours in attempts:
            break
        attempts.append(run_pyflink(script))
    if ours not in attempts:
        pytest.skip("inconclusive: PyFlink did not put a watermark between every two records in 3 runs; "
                    f"its outputs: {attempts}")

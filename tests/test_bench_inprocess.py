"""The in-process benchmark runs (tiny) and prints a CPU figure for every path; no timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_inprocess.py"


def test_the_in_process_benchmark_runs_tiny():
    run = subprocess.run([sys.executable, str(BENCH), "--seconds", "0.05", "--algs", "ES256"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for path in ("client credentials", "refresh", "its grant lookup", r"its renewal \(one UPDATE\)"):
        assert re.search(rf"ES256 +sqlite +{path} +\d+ µs of CPU", run.stdout), run.stdout

"""The purge benchmark runs (tiny): it fills, serves, purges under load and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_purge.py"


def test_the_purge_benchmark_runs_tiny():
    run = subprocess.run([sys.executable, str(BENCH), "--rows", "2000", "--clients", "2", "--warmup", "1"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert re.search(r"purge: [\d.]+ s, 2,000 rows deleted in \d+ transactions, longest transaction [\d.]+ ms",
                     run.stdout), run.stdout
    assert re.search(r"during the purge: \d+ requests, \d+ failed", run.stdout), run.stdout

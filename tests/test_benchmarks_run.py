"""The registry and signing benchmarks run (tiny settings): figures are shown by them, never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_registry_benchmark_runs(tmp_path):
    out = _run(str(BENCH / "bench_registry.py"), "--users", "40", "--groups", "10", "--repeat", "1")
    for measure in ("load (parse+validate+index)", "edit (gridauth admin user add", "reload after an edit",
                    "cold start, serve --processes 2", "edit to new version served"):
        assert measure in out, out


def test_signing_benchmark_runs():
    out = _run(str(BENCH / "bench_signing.py"), "--seconds", "0.05")
    assert [line.split("|")[1].strip() for line in out.splitlines()[2:]] == ["RS256", "ES256", "EdDSA"]

"""The benchmark suite (benchmarks/run.py) runs end to end with tiny settings and writes its table.

Only the shape of the result is checked — the rows, no errors in the answers, the hand-written text
kept around the generated section — never a timing: speed is shown by the suite, not asserted here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
BEGIN = "<!-- benchmarks/run.py writes from here: edit the text outside the markers only -->"
END = "<!-- benchmarks/run.py writes up to here -->"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUN), *args], capture_output=True, text=True, timeout=240, env=env,
                          cwd=ROOT)


def rows(text: str) -> dict[str, list[str]]:
    """Table rows by "target / database / processes"."""
    found = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 12 and cells[0] != "target":
            found[f"{cells[0]} / {cells[1]} / {cells[2]}"] = cells
    return found


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)")
def test_tiny_run_writes_every_row_and_keeps_the_hand_written_text(tmp_path):
    out = tmp_path / "benchmarks.md"
    out.write_text(f"# Benchmarks\n\nHand-written intro.\n\n{BEGIN}\nold table\n{END}\n\n## Registry\n\nKept too.\n")
    node = shutil.which("node") is not None and shutil.which("npm") is not None
    args = ["--duration", "1", "--warmup", "0", "--connections", "2", "--databases", "sqlite", "--processes", "1",
            "--algs", "RS256", "--targets", "cc,refresh,introspect-revoked,device", "--out", str(out)]
    result = run(*args, *([] if node else ["--no-node"]))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nHand-written intro.\n\n" + BEGIN)
    assert text.endswith(END + "\n\n## Registry\n\nKept too.\n")
    assert "old table" not in text
    assert "python benchmarks/run.py " + " ".join(args[:4]) in text  # the exact command
    table = rows(text)
    expected = ["bare Tornado, fixed token JSON (ceiling) / — / 1", "client credentials, RS256 / SQLite / 1",
                "refresh, RS256 / SQLite / 1", "introspection, revoked token / SQLite / 1",
                "device polling (pending) / SQLite / 1"]
    if node:
        expected.insert(1, "node oidc-provider, client credentials, RS256 JWT / — / 1")
    assert list(table) == expected
    for cells in table.values():
        assert float(cells[3].replace(",", "")) > 0, cells  # req/cpu-s measured
        assert cells[7] == "0", cells  # every answer was the expected one (a token, active false, pending)
    assert table[expected[0]][8] == "1.000"
    assert "the median of the ratios pair by pair" in text  # how a target row is compared
    assert re.fullmatch(r"met|not met: .*", table["refresh, RS256 / SQLite / 1"][11])
    assert table["device polling (pending) / SQLite / 1"][11] == "—"  # issue 12 sets it no target


def test_a_target_row_is_judged_pair_by_pair_against_the_runs_beside_its_own():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import report
        from loadgen import Measure
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))

    def measure(per_cpu_second: int) -> Measure:
        return Measure(requests=per_cpu_second, seconds=1.0, cpu_seconds=1.0, errors=0, p50_ms=5.0, p99_ms=20.0,
                       wrk_cpu_seconds=0.1)

    # The machine ran at half speed during the first pair: the row's median against the ceiling's would
    # say 1,500 / 5,000 = 0.30; pair by pair it is 0.40, 0.30 and 0.40.
    beside = [measure(2500), measure(5000), measure(5000)]
    ceiling = report.Row("ceiling", "bare Tornado", measures=[measure(5000), *beside])
    refresh = report.Row("refresh", "refresh, ES256", "SQLite", 2, "ES256",
                         measures=[measure(1000), measure(1500), measure(2000)], paired={"ceiling": beside})
    assert refresh.ratio("ceiling", ceiling) == pytest.approx(0.40)
    assert report.verdict(refresh, ceiling, None, 16) == "met"
    refresh.paired = {"ceiling": [measure(0), *beside[1:]]}  # a baseline run that measured no CPU is left out
    assert refresh.ratio("ceiling", ceiling) == pytest.approx(0.35)
    # A row without runs beside its own keeps the runs around its server (or the ceiling's median).
    refresh.paired = {}
    refresh.baselines = {"ceiling": [measure(5000), measure(5000)]}
    assert report.verdict(refresh, ceiling, None, 16) == "not met: 0.30 × ceiling < 0.35"
    assert report.target_kind("refresh", "ES256", "MariaDB", 1) is None  # issue 12 sets this row no target
    assert report.target_kind("cc", "RS256", "MariaDB", 1) == "node"


def test_bad_options_and_a_missing_wrk_are_one_line_errors(tmp_path):
    result = run("--databases", "oracle")
    assert result.returncode == 2 and "choose among sqlite, mariadb" in result.stderr
    result = run("--quick", "--out", str(tmp_path / "b.md"), env={"PATH": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip() == "run.py: error: wrk not found (Debian: apt-get install wrk)"
    assert not (tmp_path / "b.md").exists()


INTERLEAVE = ROOT / "benchmarks" / "interleave.py"


def interleave(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(INTERLEAVE), *args], capture_output=True, text=True, timeout=240,
                          cwd=ROOT)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)")
def test_interleave_measures_a_revision_against_the_checkout_pair_by_pair():
    result = interleave("HEAD", "--rounds", "2", "--duration", "1", "--warmup", "0", "--connections", "2",
                        "--target", "cc", "--alg", "RS256")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    runs = [line.split()[2] for line in lines if line.startswith("round ")]
    assert runs == ["baseline", "candidate", "candidate", "baseline"]  # each round starts with the other one
    assert all("errors 0" in line for line in lines if line.startswith("round "))
    assert re.search(r"^candidate / baseline, req/cpu-s: median \d\.\d{3}, pairs \d\.\d{3}–\d\.\d{3} ", lines[-1])


def test_interleave_refuses_what_it_cannot_compare(tmp_path):
    result = interleave("no-such-revision-anywhere", "--rounds", "1")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("interleave.py: error: 'no-such-revision-anywhere' is neither a directory")
    result = interleave(str(tmp_path), "--rounds", "1")
    assert result.returncode == 2
    assert result.stderr.strip() == f"interleave.py: error: {tmp_path}: no gridauth package in this directory " \
                                    "(give a src tree or a revision)"

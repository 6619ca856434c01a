"""Benchmark: one load on two versions of gridauth, their runs interleaved, each pair reported as a ratio.

Run: python benchmarks/interleave.py BASELINE [--candidate DIR] [--target refresh] [--alg ES256]
         [--database sqlite] [--processes 1] [--rounds 5] [--duration 4] [--connections 16]

Why: a change worth a tenth of a request's CPU is smaller than the drift of a shared machine over the
minutes of a full run (``run.py``), and even than the difference between two of its runs a minute
apart. Here the two versions take turns, one server at a time, each round starting with the one that
went second in the round before; each pair of neighbouring runs gives a ratio of requests per
CPU-second (candidate / baseline), so a drift that lasts longer than a pair cancels out. The summary
is the median ratio and the range of the pairs: a range that straddles 1 says the change is not
shown, however good the median looks.

BASELINE is a revision of this repository (``HEAD``, ``HEAD~1``, a commit), whose ``src`` is exported
with ``git archive``, or a directory holding a ``gridauth`` package tree (like ``src``). The
candidate is this checkout's ``src`` unless ``--candidate`` names another tree. Each server is
started as ``run.py`` starts it (``servers.start_gridauth``: a copy of the example configuration, a
fresh database, ``gridauth serve`` pinned to CPU 1 and ``wrk`` to CPU 0 when the machine has two),
with its version first on ``PYTHONPATH``; the loads and fixtures are this checkout's, so both
versions must accept the same command line and serve the same public endpoints.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import fixtures
import loadgen
import servers
from loadgen import Measure
from run import ALGS, DATABASES, TARGETS, positive

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Version:
    """One side of the comparison: a name for the output and the tree that goes on ``PYTHONPATH``."""

    name: str
    src: Path


class Refused(RuntimeError):
    """The comparison cannot run: the message says why, in one line."""


def exported(revision: str, into: Path) -> Path:
    """This repository's ``src`` at *revision*, written under *into*; the tree's path."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        raise Refused(f"{revision!r} is neither a directory nor a revision of {ROOT}")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit.stdout.strip(), "src"],
                             capture_output=True)
    if archive.returncode != 0:
        raise Refused(f"git archive {revision} src failed: {archive.stderr.decode(errors='replace').strip()}")
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def version(spec: str, scratch: Path) -> Version:
    """*spec* (a directory holding ``gridauth``, or a revision exported under *scratch*) as a :class:`Version`."""
    path = Path(spec)
    if path.is_dir():
        if not (path / "gridauth" / "__init__.py").is_file():
            raise Refused(f"{spec}: no gridauth package in this directory (give a src tree or a revision)")
        return Version(spec, path.resolve())
    return Version(spec, exported(spec, scratch))


def check_imports(side: Version) -> None:
    """Refuse to measure a version whose ``gridauth`` would not be imported from its own tree."""
    env = {**os.environ, "PYTHONPATH": str(side.src)}
    found = subprocess.run([sys.executable, "-c", "import gridauth; print(gridauth.__file__)"], env=env,
                           capture_output=True, text=True)
    where = Path(found.stdout.strip()).resolve() if found.returncode == 0 else None
    if where is None or side.src not in where.parents:
        raise Refused(f"{side.name}: gridauth is imported from {where or found.stderr.strip()[-200:]}, "
                      f"not from {side.src}")


def measure(side: Version, args: argparse.Namespace, workdir: Path) -> Measure:
    """One server of *side*: fixtures, warm-up, one measured run of the load; the server stopped after."""
    target = next(t for t in TARGETS if t.key == args.target)
    password = secrets.token_urlsafe(16)
    wrk_cpu, server_cpu = loadgen.pinned_cpus(args.no_pin)
    server = servers.start_gridauth(server_cpu, workdir, args.database, args.mysql_url, args.processes,
                                    args.alg, password, side.src)
    try:
        load = target.load(fixtures.make_fixtures(server.url, password, args.connections))
        if args.warmup > 0:
            loadgen.run_wrk(server.url, load, args.warmup, args.connections, server.pid, wrk_cpu)
        return loadgen.run_wrk(server.url, load, args.duration, args.connections, server.pid, wrk_cpu)
    finally:
        server.stop()


def summary(pairs: list[tuple[Measure, Measure]]) -> list[str]:
    """The lines that say what the pairs show: each side's median, and the ratios candidate / baseline."""
    ratios = loadgen.ratios((c, b) for b, c in pairs)
    base = [b for b, _ in pairs]
    cand = [c for _, c in pairs]
    lines = []
    for name, runs in (("baseline", base), ("candidate", cand)):
        lines.append(f"{name:9}  req/cpu-s median {statistics.median(m.per_cpu_second for m in runs):8.0f}  "
                     f"p99 median {statistics.median(m.p99_ms for m in runs):6.1f} ms  "
                     f"errors {sum(m.errors for m in runs)}")
    if ratios:
        lines.append(f"candidate / baseline, req/cpu-s: median {statistics.median(ratios):.3f}, "
                     f"pairs {min(ratios):.3f}–{max(ratios):.3f} ({', '.join(f'{r:.3f}' for r in ratios)})")
    return lines


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", help="a revision of this repository, or a directory holding gridauth")
    parser.add_argument("--candidate", default=str(ROOT / "src"), help="a revision or directory (default: ./src)")
    parser.add_argument("--target", default="refresh", choices=[t.key for t in TARGETS])
    parser.add_argument("--alg", default="ES256", choices=ALGS)
    parser.add_argument("--database", default="sqlite", choices=list(DATABASES))
    parser.add_argument("--processes", type=int, default=1, choices=(1, 2, 3, 4))
    parser.add_argument("--rounds", type=positive(int), default=5, help="pairs of runs (default 5)")
    parser.add_argument("--duration", type=positive(int), default=4, help="whole seconds per measured run (default 4)")
    parser.add_argument("--warmup", type=int, default=1, help="whole seconds of unmeasured load first (default 1)")
    parser.add_argument("--connections", type=positive(int), default=16, help="wrk connections (default 16)")
    parser.add_argument("--mysql-url", default=os.environ.get("GRIDAUTH_TEST_MYSQL", "mysql+mysqldb://root@127.0.0.1"))
    parser.add_argument("--no-pin", action="store_true", help="do not pin wrk and the servers to CPUs")
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the pairs and print them as they come, then the summary; 2 with a one-line error when it cannot run."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if shutil.which("wrk") is None:
        print("interleave.py: error: wrk not found (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    print(f"{args.target}, {args.alg}, {DATABASES[args.database]}, {args.processes} process(es), {args.rounds} "
          f"pairs of {args.duration} s at {args.connections} connections", flush=True)
    with tempfile.TemporaryDirectory(prefix="gridauth-interleave-") as tmp:
        scratch = Path(tmp)
        try:
            sides = [version(spec, scratch / f"side-{i}") for i, spec in enumerate((args.baseline, args.candidate))]
            for side in sides:
                check_imports(side)
            pairs: list[tuple[Measure, Measure]] = []
            for round_ in range(args.rounds):
                got: dict[int, Measure] = {}
                for index in (0, 1) if round_ % 2 == 0 else (1, 0):
                    side = sides[index]
                    workdir = scratch / f"round-{round_}-{index}"
                    workdir.mkdir()
                    got[index] = m = measure(side, args, workdir)
                    role = "candidate" if index else "baseline "
                    print(f"round {round_ + 1}  {role}  {m.per_cpu_second:8.0f} req/cpu-s  {m.per_second:8.0f} req/s"
                          f"  p99 {m.p99_ms:6.1f} ms  errors {m.errors}", flush=True)
                pairs.append((got[0], got[1]))
        except (Refused, servers.SetupError, RuntimeError) as exc:
            print(f"interleave.py: error: {exc}", file=sys.stderr)
            return 2
    print("\n".join(summary(pairs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

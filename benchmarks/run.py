"""gridauth's benchmark suite: one command that measures gridauth beside a bare Tornado ceiling and node
oidc-provider, and writes the table to docs/benchmarks.md.

Run:  python benchmarks/run.py [--duration 10] [--connections 16] [--repeat 3] [--out docs/benchmarks.md]
      python benchmarks/run.py --quick          (seconds, not minutes: SQLite, one process, RS256)

Targets: client credentials (RS256, ES256, EdDSA), refresh (each request refreshes a grant of its own),
introspection of an active and of a revoked access token, discovery, JWKS, device polling (answered
authorization_pending or slow_down); on SQLite and MariaDB (a fresh database per server), with one
process and with ``--processes 2``. The ceiling is a bare Tornado handler returning a fixed token JSON
(benchmarks/ceiling.py), and node oidc-provider 9 issues RS256 JWT access tokens by client credentials
(installed from npm into --node-cache). Load comes from wrk (Debian's package) with lua/load.lua, one
thread per connection, pinned to CPU 0 while the servers are pinned to CPU 1 (taskset) on a machine
with two CPUs or more.

The figure that matters is requests per CPU-second of the server's processes: it survives a busy
machine better than requests per second. The targets of issue 12 are ratios of it to the ceiling (or
to node oidc-provider) measured in the same run, and a p99 under 50 ms at 16 connections. Each run of
a row with a target is paired with a run of its baseline made just before or after it, and the row's
ratio is the median of the pairs' ratios (``Suite.measure``, ``report.Row.ratio``).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import fixtures
import loadgen
import report
import servers
from fixtures import Fixtures
from loadgen import Load, Measure
from report import Row

ROOT = Path(__file__).resolve().parents[1]
ALGS = ("RS256", "ES256", "EdDSA")
DATABASES = {"sqlite": "SQLite", "mariadb": "MariaDB"}
TOKEN_MATCH = '"access_token"'


@dataclass(frozen=True)
class Target:
    """A load on gridauth; *per_alg* ones (those that sign) run on every signing algorithm, the others once."""

    key: str
    label: str
    per_alg: bool
    load: Callable[[Fixtures], Load]


TARGETS = (
    Target("cc", "client credentials", True, lambda f: Load(
        "POST", "/token", "grant_type=client_credentials", basic=fixtures.basic(fixtures.SERVICE), match=TOKEN_MATCH)),
    Target("refresh", "refresh", True, lambda f: Load(
        "POST", "/token", "grant_type=refresh_token&refresh_token={value}", f.refresh_tokens,
        fixtures.basic(fixtures.PORTAL), match=TOKEN_MATCH)),
    Target("introspect-active", "introspection, active token", False, lambda f: Load(
        "POST", "/introspect", "token={value}", (f.active_token,), fixtures.basic(fixtures.SERVICE),
        match='"active":%s*true')),
    Target("introspect-revoked", "introspection, revoked token", False, lambda f: Load(
        "POST", "/introspect", "token={value}", (f.revoked_token,), fixtures.basic(fixtures.SERVICE),
        match='"active":%s*false')),
    Target("discovery", "discovery (openid-configuration)", False, lambda f: Load(
        "GET", "/.well-known/openid-configuration", match='"issuer"')),
    Target("jwks", "JWKS", False, lambda f: Load("GET", "/jwks", match='"keys"')),
    Target("device", "device polling (pending)", False, lambda f: Load(
        "POST", "/token", f"grant_type={fixtures.DEVICE_GRANT.replace(':', '%3A')}&device_code={{value}}"
        f"&client_id={fixtures.CLI}", f.device_codes, status=400, match="authorization_pending|slow_down")),
)
CEILING_LOAD = Load("POST", "/token", "grant_type=client_credentials", basic=fixtures.basic(fixtures.SERVICE),
                    match=TOKEN_MATCH)
NODE_LOAD = Load("POST", "/token", "grant_type=client_credentials", basic=fixtures.basic(servers.NODE_CLIENT),
                 match=TOKEN_MATCH)


def _list(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """argparse type: a comma-separated list of some of *choices* (case as given in *choices*)."""
    lookup = {c.lower(): c for c in choices}

    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [item for item in items if item.lower() not in lookup]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"choose among {', '.join(choices)} (comma separated)")
        return [lookup[item.lower()] for item in items]

    return parse


def positive(kind: type) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
        return value  # type: ignore[no-any-return]

    return parse


QUICK = {"duration": 2, "connections": 4, "repeat": 1, "warmup": 1, "databases": ["sqlite"], "processes": [1],
         "algs": ["RS256"]}
DEFAULTS = {"duration": 10, "connections": 16, "repeat": 1, "warmup": 1, "databases": ["sqlite", "mariadb"],
            "processes": [1, 2], "algs": list(ALGS)}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options; --quick changes the defaults of those not given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=positive(int), help="whole seconds of load per run (default 10)")
    parser.add_argument("--connections", type=positive(int), help="wrk connections, one thread each (default 16)")
    parser.add_argument("--repeat", type=positive(int), help="runs per target; the table shows medians (default 1)")
    parser.add_argument("--warmup", type=int, help="whole seconds of unmeasured load before each target (default 1)")
    parser.add_argument("--databases", type=_list(tuple(DATABASES)), help="sqlite,mariadb (default both)")
    parser.add_argument("--processes", type=lambda t: [int(x) for x in _list(("1", "2", "3", "4"))(t)],
                        help="gridauth serve --processes values, e.g. 1,2 (default)")
    parser.add_argument("--algs", type=_list(ALGS), help="signing algorithms, e.g. RS256,ES256,EdDSA (default all)")
    parser.add_argument("--targets", type=_list(tuple(t.key for t in TARGETS)),
                        default=[t.key for t in TARGETS], help="gridauth targets (default all): "
                        + ",".join(t.key for t in TARGETS))
    parser.add_argument("--no-node", action="store_true", help="leave node oidc-provider out")
    parser.add_argument("--no-pin", action="store_true", help="do not pin wrk and the servers to CPUs")
    parser.add_argument("--node-cache", type=Path, default=Path.home() / ".cache" / "gridauth-bench",
                        help="where oidc-provider is installed from npm (default ~/.cache/gridauth-bench)")
    parser.add_argument("--mysql-url", default=os.environ.get("GRIDAUTH_TEST_MYSQL", "mysql+mysqldb://root@127.0.0.1"),
                        help="MariaDB server (no database) on which a fresh database is made per server")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md",
                        help="the Markdown document whose generated section is replaced")
    parser.add_argument("--quick", action="store_true", help="a short run: "
                        + ", ".join(f"{k} {v}" for k, v in QUICK.items()))
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return args


class Suite:
    """Runs the rows one server at a time and says what it is doing on standard error."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.wrk_cpu, self.server_cpu = loadgen.pinned_cpus(args.no_pin)
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.versions: dict[str, str] = {}
        self.wrk_busy = 0.0
        # The ceiling and node oidc-provider stay up for the whole run (see baselines()); node may not run here.
        self.ceiling_row = Row("ceiling", "bare Tornado, fixed token JSON (ceiling)")
        self.ceiling_server: servers.Server | None = None
        self.node_row: Row | None = None
        self.node_server: servers.Server | None = None

    def measure(self, row: Row, server: servers.Server, load: Load, db_pid: int | None = None) -> None:
        """Warm up, then run the load --repeat times against *server*; the row gets the measures.

        A row with a target of issue 12 gets a run of what it is compared with (the ceiling, or node
        oidc-provider) beside each of its runs, before it and after it in turns (``Row.paired``).
        """
        args = self.args
        beside = self._compared_with(row)
        if args.warmup > 0:
            loadgen.run_wrk(server.url, load, args.warmup, args.connections, server.pid, self.wrk_cpu)
        for repetition in range(args.repeat):
            if beside and repetition % 2:
                self._pair_run(row, *beside)
            m = loadgen.run_wrk(server.url, load, args.duration, args.connections, server.pid, self.wrk_cpu, db_pid)
            row.measures.append(m)
            self.wrk_busy = max(self.wrk_busy, m.wrk_cpu_seconds / m.seconds)
            if m.example:
                self.notes.append(f"{row.label} ({row.database}, {row.processes or 1} process): unexpected answer "
                                  f"`{m.example[:160]}`")
            if beside and not repetition % 2:
                self._pair_run(row, *beside)
        self.rows.append(row)
        print(f"  {row.label:40} {row.database:8} {row.processes or 1}p  {row.median('per_cpu_second'):8.0f} req/cpu-s"
              f"  {row.median('per_second'):7.0f} req/s  p50 {row.median('p50_ms'):6.1f} ms"
              f"  p99 {row.median('p99_ms'):7.1f} ms  errors {row.errors}"
              + "".join(f"  × {kind} {row.ratio(kind, None):.3f} pair by pair" for kind in row.paired),
              file=sys.stderr, flush=True)

    def _compared_with(self, row: Row) -> tuple[str, Row, servers.Server, Load] | None:
        """The baseline of *row*'s target (kind, its row, its server, its load), None without a target or server."""
        kind = report.target_kind(row.key, row.alg, row.database, row.processes)
        if kind == "ceiling" and self.ceiling_server is not None:
            return kind, self.ceiling_row, self.ceiling_server, CEILING_LOAD
        if kind == "node" and self.node_row is not None and self.node_server is not None:
            return kind, self.node_row, self.node_server, NODE_LOAD
        return None

    def _pair_run(self, row: Row, kind: str, baseline_row: Row, server: servers.Server, load: Load) -> None:
        """One run of a baseline beside one of *row*'s runs; it counts in the baseline's own row too."""
        args = self.args
        m = loadgen.run_wrk(server.url, load, args.duration, args.connections, server.pid, self.wrk_cpu)
        row.paired.setdefault(kind, []).append(m)
        baseline_row.measures.append(m)

    def ceiling(self) -> None:
        """The bare Tornado handler; its server stays up for the bracketing runs (:meth:`baselines`)."""
        self.ceiling_server = servers.start_ceiling(self.server_cpu, self.workdir)
        self.measure(self.ceiling_row, self.ceiling_server, CEILING_LOAD)

    def node(self) -> None:
        """node oidc-provider's client credentials with RS256 JWTs, unless it cannot run here; it stays up too."""
        why = "left out (--no-node)" if self.args.no_node else servers.node_unavailable()
        if not why:
            try:
                self.versions["oidc-provider"] = servers.install_node(self.args.node_cache)
                self.versions["node"] = subprocess.run(["node", "--version"], capture_output=True,
                                                       text=True).stdout.strip()
                self.node_server = servers.start_node(self.server_cpu, self.workdir, self.args.node_cache)
            except servers.SetupError as exc:
                why = str(exc)
        if why:
            self.notes.append(f"node oidc-provider not measured: {why}")
            print(f"node oidc-provider not measured: {why}", file=sys.stderr)
            return
        self.node_row = Row("node", "node oidc-provider, client credentials, RS256 JWT", alg="RS256")
        self.measure(self.node_row, self.node_server, NODE_LOAD)

    def baselines(self, with_node: bool) -> dict[str, list[Measure]]:
        """One run of the ceiling (and of node oidc-provider, *with_node*), now: what a server's rows compare with.

        The machine is shared: its speed drifts over the minutes a run takes, so each gridauth server's
        rows without a target are compared with the ceiling (and node) measured just before and just
        after them, not only at the start (a row with a target has runs beside its own, :meth:`measure`).
        These runs count in the ceiling's and node's rows too.
        """
        args = self.args
        found: dict[str, list[Measure]] = {}
        assert self.ceiling_server is not None
        pairs = [("ceiling", self.ceiling_row, self.ceiling_server, CEILING_LOAD)]
        if with_node and self.node_row is not None and self.node_server is not None:
            pairs.append(("node", self.node_row, self.node_server, NODE_LOAD))
        for kind, row, server, load in pairs:
            m = loadgen.run_wrk(server.url, load, args.duration, args.connections, server.pid, self.wrk_cpu)
            row.measures.append(m)
            found[kind] = [m]
        return found

    def gridauth(self, database: str, processes: int, alg: str) -> None:
        """One gridauth server; the targets that sign on every algorithm, the others on the first one."""
        args = self.args
        targets = [t for t in TARGETS if t.key in args.targets and (t.per_alg or alg == args.algs[0])]
        if not targets:
            return
        password = secrets.token_urlsafe(16)
        server = servers.start_gridauth(self.server_cpu, self.workdir, database, args.mysql_url, processes, alg,
                                        password)
        db_pid = loadgen.find_process("mariadbd", "mysqld") if database == "mariadb" else None
        with_node = alg == "RS256" and any(t.key == "cc" for t in targets)
        rows = []
        try:
            made = fixtures.make_fixtures(server.url, password, args.connections)
            before = self.baselines(with_node)
            for target in targets:
                label = f"{target.label}, {alg}" if target.per_alg else target.label
                row = Row(target.key, label, DATABASES[database], processes, alg if target.per_alg else None)
                self.measure(row, server, target.load(made), db_pid)
                rows.append(row)
            after = self.baselines(with_node)
        finally:
            server.stop()
        for row in rows:
            row.baselines = {kind: before[kind] + after[kind] for kind in before}

    def run(self) -> None:
        """Every row, in the order of the table."""
        args = self.args
        self.ceiling()
        try:
            self.node()
            for database in args.databases:
                for processes in args.processes:
                    for alg in args.algs:
                        self.gridauth(database, processes, alg)
        finally:
            for server in (self.ceiling_server, self.node_server):
                if server is not None:
                    server.stop()
        print(f"  {'(ceiling, all its runs)':40} {'':8}     {self.ceiling_row.median('per_cpu_second'):8.0f} req/cpu-s",
              file=sys.stderr)


def machine() -> str:
    """CPUs, their model, memory and kernel."""
    model, memory = "", ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPUs ({model or platform.processor()}){memory}, Linux {platform.release()}"


def versions(suite: Suite) -> dict[str, str]:
    """What was measured, and with what."""
    import authlib
    import cryptography
    import sqlalchemy
    import tornado

    import gridauth

    found = {"gridauth": gridauth.__version__}
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        found["gridauth"] += f" (commit {head.stdout.strip()}{', with uncommitted changes' if dirty else ''})"
    found |= {"Python": platform.python_version(), "Tornado": tornado.version, "authlib": authlib.__version__,
              "SQLAlchemy": sqlalchemy.__version__, "cryptography": cryptography.__version__,
              "SQLite": sqlite3.sqlite_version}
    if "mariadb" in suite.args.databases:
        found["MariaDB"] = _mariadb_version(suite.args.mysql_url)
    found |= suite.versions
    found["wrk"] = loadgen.wrk_version()
    return found


def _mariadb_version(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT VERSION()")).scalar())
    finally:
        engine.dispose()


def section(suite: Suite, started: float, seconds: float, argv: list[str]) -> str:
    """The generated part of the document."""
    args = suite.args
    command = "python benchmarks/run.py" + (" " + shlex.join(argv) if argv else "")
    pinning = (f"wrk pinned to CPU {suite.wrk_cpu}, the servers to CPU {suite.server_cpu} (taskset); MariaDB, "
               "shared with whatever else runs, is not pinned") if suite.wrk_cpu else "nothing pinned to a CPU"
    lines = [
        "## Token service under load — `benchmarks/run.py`",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}; the run took {seconds / 60:.1f} min. "
        f"Command: `{command}`.",
        "",
        f"Machine: {machine()}; {pinning}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions(suite).items()) + ".",
        "",
        report.table(suite.rows, args.connections),
        "",
        f"- Each row: {'the median of ' + str(args.repeat) + ' runs' if args.repeat > 1 else 'one run'} of "
        f"{args.duration:g} s at {args.connections} connections (one wrk thread each), after {args.warmup:g} s of "
        "unmeasured warm-up on the same server. Errors add up every run: socket errors, and answers other than "
        "expected (200 with a token, `\"active\": true/false`, the document; 400 `authorization_pending` or "
        "`slow_down` for device polling).",
        "- req/cpu-s: requests answered per CPU-second (user + system, from /proc) of the server's process and "
        "all its children during the run. A shared machine's speed drifts over the minutes of a run, so "
        "ratios compare runs made close together. A row with a target of issue 12 has a run of what it is "
        "compared with (the ceiling, or node oidc-provider for client credentials RS256) beside each of its "
        "runs, before and after in turns, with the same settings: its × ceiling (or × node) is the median of "
        "the ratios pair by pair. Any other row is compared with the ceiling and node measured just before "
        "and just after its server's runs (one run each side). The ceiling and node rows show the median of "
        "all their runs. "
        "DB CPU ms/req: MariaDB's own CPU per request (not in req/cpu-s; it includes anything else that "
        "server did meanwhile).",
        f"- The load generator used at most {suite.wrk_busy:.0%} of a CPU in any run, so it outran every server.",
        "- Fixtures, made over HTTP before each gridauth server's runs: alice signs in once; one authorization "
        "code grant of the example portal per connection (refresh: each connection refreshes its own grant); "
        "one access token kept active and one revoked by the portal (introspection by the example service); "
        "one pending device flow of the command-line client per connection.",
        f"- Targets (issue 12): client credentials RS256 ≥ {report.NODE_TARGET:g} × node oidc-provider per "
        "CPU-second; ES256 and EdDSA ≥ 0.5 × the ceiling; refresh on SQLite and on MariaDB with 2 processes, "
        "RS256 ≥ 0.2 × and ES256 ≥ 0.35 × the ceiling; p99 < 50 ms at 16 connections; no errors.",
    ]
    lines += [f"- {note}" for note in dict.fromkeys(suite.notes)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the suite and write the document; 2 with a one-line error when it cannot run."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("run.py: error: wrk not found (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    started, clock = time.time(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gridauth-bench-") as tmp:
        suite = Suite(args, Path(tmp))
        try:
            suite.run()
        except (servers.SetupError, RuntimeError) as exc:
            print(f"run.py: error: {exc}", file=sys.stderr)
            return 2
        text = section(suite, started, time.monotonic() - clock, argv)
    report.write_section(args.out, text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

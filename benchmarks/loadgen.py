"""Drive one load with wrk and measure it: requests, latency, errors, and the CPU the server spent.

The CPU is read from /proc (user + system time of the server process and every descendant, plus what
the ones that ended and were waited for left in their parent's counters), before and after the run:
requests per CPU-second of the server survive a busy machine better than requests per second.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua" / "load.lua"
TICKS = os.sysconf("SC_CLK_TCK")
MARK = "GRIDAUTH_BENCH "


@dataclass(frozen=True)
class Load:
    """What wrk sends and what every answer must look like (see lua/load.lua)."""

    method: str
    path: str
    body: str | None = None
    pool: tuple[str, ...] = ()
    basic: str | None = None  # "Basic ..." header value
    status: int = 200
    match: str = ""


@dataclass
class Measure:
    """One wrk run against one server."""

    requests: int
    seconds: float
    cpu_seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    wrk_cpu_seconds: float
    db_cpu_seconds: float | None = None
    example: str = ""
    details: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        """Requests per second of wall time."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Requests per CPU-second of the server's processes."""
        return self.requests / self.cpu_seconds if self.cpu_seconds > 0 else 0.0


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks: utime + stime + cutime + cstime) of every process we may read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        fields = text.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    return table


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by process *root* and all its descendants."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            total += table[pid][1]
            todo.extend(children.get(pid, ()))
    return total / TICKS


def find_process(*names: str) -> int | None:
    """The pid of a running process whose command name is one of *names* (the database server)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() in names:
                    return int(entry)
            except OSError:
                continue
    return None


def pinned_cpus(no_pin: bool) -> tuple[str | None, str | None]:
    """The CPUs of wrk and of the servers ("0", "1"), or (None, None) when not pinned: *no_pin* asked, fewer
    than two CPUs, or no taskset."""
    pin = not no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    return ("0", "1") if pin else (None, None)


def ratios(pairs: Iterable[tuple[Measure, Measure]]) -> list[float]:
    """Each (measure, baseline) pair's ratio of requests per CPU-second; a baseline that measured no CPU is
    left out."""
    return [m.per_cpu_second / b.per_cpu_second for m, b in pairs if b.per_cpu_second > 0]


def wrk_version() -> str:
    """wrk's version line, or "" without wrk."""
    if shutil.which("wrk") is None:
        return ""
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    first = (out.stdout + out.stderr).splitlines()  # "wrk debian/4.1.0-3+b2 [epoll] Copyright ..."
    return first[0].split(" Copyright")[0].removeprefix("wrk ") if first else "?"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(url: str, load: Load, seconds: int, connections: int, server_pid: int,
            cpu: str | None = None, db_pid: int | None = None) -> Measure:
    """Run wrk for *seconds* with *connections* (one thread each) against *url*; the measure.

    *cpu* pins wrk to those CPUs (taskset); *db_pid* is a database server whose CPU is measured too.
    """
    with tempfile.TemporaryDirectory(prefix="gridauth-wrk-") as tmp:
        env = {**os.environ, "BENCH_METHOD": load.method, "BENCH_PATH": load.path, "BENCH_STATUS": str(load.status),
               "BENCH_MATCH": load.match, "BENCH_THREADS": str(connections)}
        if load.body is not None:
            env["BENCH_BODY"] = load.body
        if load.pool:
            pool = Path(tmp) / "pool"
            pool.write_text("\n".join(load.pool) + "\n")
            env["BENCH_POOL"] = str(pool)
        argv = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{seconds}s", "--latency",
                "--timeout", "10s", "-s", str(LUA)]
        if load.basic:
            argv += ["-H", f"Authorization: {load.basic}"]
        argv.append(url.rstrip("/") + load.path)
        if cpu is not None:
            argv = ["taskset", "-c", cpu, *argv]
        wrk_before, cpu_before = _children_cpu(), tree_cpu_seconds(server_pid)
        db_before = tree_cpu_seconds(db_pid) if db_pid else None
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
        cpu_after = tree_cpu_seconds(server_pid)
        db_after = tree_cpu_seconds(db_pid) if db_pid else None
        wrk_cpu = _children_cpu() - wrk_before
    lines = [line for line in out.stdout.splitlines() if line.startswith(MARK)]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed (exit {out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    data = json.loads(lines[-1][len(MARK):])
    sockets = sum(data[k] for k in ("connect", "read", "write", "timeout"))
    return Measure(
        requests=data["requests"], seconds=data["duration_us"] / 1e6, cpu_seconds=cpu_after - cpu_before,
        errors=sockets + data["unexpected"], p50_ms=data["p50_us"] / 1e3, p99_ms=data["p99_us"] / 1e3,
        wrk_cpu_seconds=wrk_cpu,
        db_cpu_seconds=(db_after - db_before) if db_before is not None and db_after is not None else None,
        example=data["example"], details={k: data[k] for k in ("connect", "read", "write", "timeout", "unexpected")})

"""Benchmark: a registry of 10,000 users and 1,000 groups: load, lookups, cold start, edit and reload.

Run: python benchmarks/bench_registry.py [--users N] [--groups N] [--repeat N] [--no-serve]
Prints the load time (parse + validate + index), the mean time of each lookup, the time of an edit
(``gridauth admin user add``, a whole command) and of the reload that follows it, and, unless
--no-serve, the cold start of ``gridauth serve --processes 2`` (from the command to both workers
serving and a 200 from /health) and the time from an edit to the new version served.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from timeit import timeit

from gridauth.config.builder import load_text
from gridauth.config.reload import RELOAD_INTERVAL, RegistryHolder

GRIDAUTH = [sys.executable, "-m", "gridauth.cli.main"]
# Loopback never goes through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def make_cfg(n_users: int, n_groups: int, n_vos: int = 10, per_group: int = 50) -> str:
    """A synthetic but valid CFG: users with DN and ID, groups spread over VOs."""
    rnd = random.Random(42)
    out = ["DIRAC", "{", "}", "Registry", "{", "  VO", "  {"]
    for v in range(n_vos):
        out += [f"    vo{v}", "    {", f"      VOMSName = vo{v}", f"      DefaultGroup = g{v}", "    }"]
    out += ["  }", "  Users", "  {"]
    for u in range(n_users):
        out += [f"    user{u}", "    {", f"      DN = /DC=org/DC=bench/CN=User {u}",
                f"      ID = sub-{u:08d}", f"      Email = user{u}@example.org", "    }"]
    out += ["  }", "  Groups", "  {"]
    for g in range(n_groups):
        members = ", ".join(f"user{m}" for m in rnd.sample(range(n_users), min(per_group, n_users)))
        out += [f"    g{g}", "    {", f"      VO = vo{g % n_vos}", f"      Users = {members}",
                "      Properties = NormalUser", "    }"]
    out += ["  }", "}"]
    return "\n".join(out) + "\n"


def _health(url: str) -> dict | None:
    import json
    try:
        with _OPENER.open(url + "/health", timeout=5) as reply:
            return json.loads(reply.read()) if reply.status == 200 else None
    except OSError:
        return None


def _wait(check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.01)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def edit_and_reload(config: Path, env: dict[str, str], repeat: int) -> tuple[list[float], list[float]]:
    """Time ``gridauth admin user add`` (the whole command) on *config*, and the reload that follows each."""
    holder = RegistryHolder(config)
    edits, reloads = [], []
    for i in range(repeat):
        start = time.perf_counter()
        subprocess.run([*GRIDAUTH, "admin", "user", "add", f"bench{i}-{os.getpid()}", "--config", str(config),
                        "--dn", f"/CN=bench {i}"], check=True, env=env, capture_output=True)
        edits.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert holder.reload()
        reloads.append(time.perf_counter() - start)
    return edits, reloads


def serve(config: Path, env: dict[str, str], repeat: int) -> tuple[list[float], list[float]]:
    """Cold starts of ``gridauth serve --processes 2``, and the time from an edit to the new version served."""
    starts, served = [], []
    for i in range(repeat):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = config.with_name(f"serve-{port}.log")
        begin = time.perf_counter()
        with open(log, "w") as out:
            proc = subprocess.Popen([*GRIDAUTH, "serve", "--config", str(config), "--port", str(port),
                                     "--processes", "2"], stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        try:
            _wait(lambda log=log, url=url: log.read_text().count("gridauth serving") == 2
                  and _health(url) is not None)
            starts.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            subprocess.run([*GRIDAUTH, "admin", "user", "add", f"served{i}-{os.getpid()}", "--config",
                            str(config)], check=True, env=env, capture_output=True)
            version = RegistryHolder(config).current.version
            # Both workers: ask until four answers in a row (the kernel spreads connections) show it.
            _wait(lambda url=url, version=version: all(
                (_health(url) or {}).get("config", {}).get("version") == version for _ in range(4)))
            served.append(time.perf_counter() - begin)
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(30)
    return starts, served


def _summary(values: list[float]) -> str:
    return (f"median {statistics.median(values):.2f} s "
            f"(best {min(values):.2f}, worst {max(values):.2f}, n={len(values)})")


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-serve", action="store_true", help="skip the cold start and edit-to-served measures")
    args = parser.parse_args()
    text = make_cfg(args.users, args.groups)
    loads, cpu = [], []
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        registry = load_text(text)
        loads.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(f"registry: {args.users} users, {args.groups} groups, {len(text) / 1e6:.1f} MB of CFG")
    print(f"load (parse+validate+index): median {statistics.median(loads):.3f} s, best {min(loads):.3f} s "
          f"(CPU: best {min(cpu):.3f} s)")
    n = 100_000
    lookups = {
        "user by name": lambda: registry.user("user4242"),
        "user by subject": lambda: registry.user_by_subject("sub-00004242"),
        "user by DN": lambda: registry.user_by_dn("/DC=org/DC=bench/CN=User 4242"),
        "groups of user": lambda: registry.groups_of("user4242"),
        "default group": lambda: registry.default_group("user4242"),
        "vo of group": lambda: registry.vo_of_group("g42"),
        "client by id": lambda: registry.client("nope"),
    }
    for name, call in lookups.items():
        print(f"lookup {name}: {timeit(call, number=n) / n * 1e6:.2f} µs")
    with tempfile.TemporaryDirectory(prefix="gridauth-bench-") as tmp:
        config = Path(tmp) / "gridauth.cfg"
        config.write_text(text, encoding="utf-8")
        env = {**os.environ, "GRIDAUTH_STATE_DIR": str(Path(tmp) / "state"), "GRIDAUTH_AUTHOR": "bench"}
        edits, reloads = edit_and_reload(config, env, args.repeat)
        print(f"edit (gridauth admin user add, whole command): {_summary(edits)}")
        print(f"reload after an edit (in-process): {_summary(reloads)}")
        if not args.no_serve:
            starts, served = serve(config, env, args.repeat)
            print(f"cold start, serve --processes 2 to both workers serving: {_summary(starts)}")
            print(f"edit to new version served by both workers (reload interval {RELOAD_INTERVAL} s): "
                  f"{_summary(served)}")


if __name__ == "__main__":
    main()

"""Benchmark: load a registry of 10,000 users and 1,000 groups, then time lookups.

Run: python benchmarks/bench_registry.py [--users N] [--groups N]
Prints the load time (parse + validate + index) and the mean time of each lookup.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from timeit import timeit

from gridauth.config.builder import load_text


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
        members = ", ".join(f"user{m}" for m in rnd.sample(range(n_users), per_group))
        out += [f"    g{g}", "    {", f"      VO = vo{g % n_vos}", f"      Users = {members}",
                "      Properties = NormalUser", "    }"]
    out += ["  }", "}"]
    return "\n".join(out) + "\n"


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    text = make_cfg(args.users, args.groups)
    loads = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        registry = load_text(text)
        loads.append(time.perf_counter() - start)
    print(f"registry: {args.users} users, {args.groups} groups, {len(text) / 1e6:.1f} MB of CFG")
    print(f"load (parse+validate+index): median {statistics.median(loads):.3f} s, best {min(loads):.3f} s")
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


if __name__ == "__main__":
    main()

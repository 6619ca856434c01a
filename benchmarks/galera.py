"""Benchmark and demonstration: gridauth on a 3-node MariaDB Galera cluster on loopback.

Starts the cluster of ``tests/galera`` (mariadb-server, galera-4 and rsync are needed), host A
(``gridauth serve``) on node 0 and host B on node 1, both with ``wsrep_sync_wait=1`` in the database
URL as the operator guide recommends, and shows, as a Markdown table:

1. load spread over both hosts (client credentials, refreshes of each client's own grant, and
   refreshes of two grants shared by every client, so that the nodes' write sets conflict): the
   answers by status (no 500), requests/s and latency;
2. parallel refreshes of one grant on both hosts: in how many trials exactly one access token
   stayed active; a revocation on A racing refreshes on B: in how many nothing stayed active;
3. the read lag across nodes: a token revoked through A introspected at once through node 1, by
   host B and by a host C on node 1 *without* ``wsrep_sync_wait``; and the same at the SQL level
   (a value written through node 0, read at once through node 1);
4. node 1 killed under load and started again: each host's answers while it was down, and how
   long host B took to serve again after the node rejoined.

Run: python benchmarks/galera.py [--clients 8] [--seconds 10] [--trials 20]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # before benchmarks/: tests/galera

from galera.cluster import missing  # noqa: E402
from galera.hosts import (  # noqa: E402
    Site,
    active,
    client_credentials,
    make_site,
    outcome,
    refresh,
    revoke,
    safely,
    together,
)
from gridauth.db.engine import Database  # noqa: E402
from oauth.real_serve import Serve  # noqa: E402

Record = tuple[float, float, str, str]  # start, seconds, host, outcome


def load(hosts: dict[str, Serve], calls: Callable[[Serve, int, int], Callable], clients: int,
         until: Callable[[], bool]) -> list[Record]:
    """*clients* threads, each on one host (a stalled host stalls only its own clients), sending
    ``calls(host, client, i)`` until *until*; every answer recorded."""
    records: list[Record] = []
    lock = threading.Lock()
    names = sorted(hosts)

    def client(index: int) -> None:
        i = 0
        name = names[index % len(names)]
        while not until():
            start = time.monotonic()
            reply = safely(calls(hosts[name], index, i))
            with lock:
                records.append((start, time.monotonic() - start, name,
                                reply if isinstance(reply, str) else outcome(reply)))
            i += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return records


def summary(records: list[Record], seconds: float) -> str:
    """Counts by outcome, requests/s, p50 and p99 in ms."""
    counts = collections.Counter(o for *_, o in records)
    times = sorted(r[1] for r in records) or [0.0]
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return (f"{dict(counts)}; {len(records) / seconds:.0f} req/s; p50 {statistics.median(times) * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms")


def spread_load(site: Site, clients: int, seconds: float) -> str:
    """Client credentials, own-grant and shared-grant refreshes over both hosts."""
    own, shared = site.grants(clients), site.grants(2)

    def calls(host: Serve, client: int, n: int) -> Callable:
        kind = n % 3
        if kind == 0:
            return partial(client_credentials, host)
        return partial(refresh, host, own[client] if kind == 1 else shared[n % 2])

    end = time.monotonic() + seconds
    a, b = site.hosts[:2]
    return summary(load({"A": a, "B": b}, calls, clients, lambda: time.monotonic() > end), seconds)


def races(site: Site, trials: int) -> tuple[str, str]:
    """Parallel refreshes of one grant on both hosts, and a revoke on A racing refreshes on B."""
    a, b = site.hosts[:2]
    one_active = nothing_active = 0
    refreshes: collections.Counter[str] = collections.Counter()
    after_revoke: collections.Counter[str] = collections.Counter()
    for _ in range(trials):
        (token,) = site.grants()
        refresh(a, token)
        replies = together([partial(refresh, h, token) for h in (a, b, a, b, a, b)])
        refreshes.update(outcome(r) for r in replies)
        site.cluster.settle()
        issued = [r.body["access_token"] for r in replies if r.status == 200]
        one_active += sum(active(b, t) for t in issued) == 1
        (token,) = site.grants()
        replies = together([partial(revoke, a, token)] + [partial(refresh, b, token)] * 4)
        after_revoke.update(outcome(r) for r in replies[1:])
        site.cluster.settle()
        nothing_active += not any(active(a, r.body["access_token"]) for r in replies[1:] if r.status == 200)
    return (f"{one_active} of {trials} trials (refreshes: {dict(refreshes)})",
            f"{nothing_active} of {trials} trials (refreshes: {dict(after_revoke)})")


def revoked_yet_active(site: Site, host: Serve, rounds: int) -> int:
    """How many tokens revoked through host A were still active at *host* right after."""
    stale = 0
    a = site.hosts[0]
    for token in site.grants(rounds):
        access = refresh(a, token).body["access_token"]
        site.cluster.settle()
        revoke(a, token)
        stale += active(host, access)
    return stale


def sql_lag(site: Site, sync_wait: bool, rounds: int = 300) -> int:
    """How many reads at node 1 right after a write at node 0 saw the old value (gridauth's engine)."""
    writer, reader = Database(site.url(0)), Database(site.url(1, sync_wait))
    stale = 0
    try:
        with writer.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS lag_probe (id INT PRIMARY KEY, v INT NOT NULL)")
            conn.exec_driver_sql("REPLACE INTO lag_probe VALUES (1, 0)")
        for value in range(1, rounds + 1):
            with writer.transaction() as session:
                session.execute(text("UPDATE lag_probe SET v = :v WHERE id = 1"), {"v": value})
            with reader.transaction() as session:
                stale += session.scalar(text("SELECT v FROM lag_probe WHERE id = 1")) != value
    finally:
        writer.close()
        reader.close()
    return stale


def node_failure(site: Site, clients: int) -> list[tuple[str, str]]:
    """Kill node 1 under load, start it again; what each host answered in each phase."""
    a, b = site.hosts[:2]
    grants = site.grants(clients)
    stop = threading.Event()

    def calls(host: Serve, client: int, n: int) -> Callable:
        return partial(client_credentials, host) if n % 2 else partial(refresh, host, grants[client])

    result: list[Record] = []
    began = time.monotonic()
    worker = threading.Thread(target=lambda: result.extend(load({"A": a, "B": b}, calls, clients, stop.is_set)))
    worker.start()
    try:
        time.sleep(3)
        killed = time.monotonic()
        site.cluster.kill(1)
        time.sleep(5)
        restarted = time.monotonic()
        site.cluster.restart(1)
        rejoined = time.monotonic()
        while outcome(refresh(b, grants[0])) != "200" and time.monotonic() < rejoined + 60:
            time.sleep(0.1)
        serving = time.monotonic()
        time.sleep(3)
    finally:
        stop.set()
        worker.join()
    rows = []
    for label, lo, hi in (("before the kill", began, killed), ("node 1 down", killed, restarted),
                          ("node 1 rejoining", restarted, serving), ("after", serving, float("inf"))):
        for name in ("A", "B"):
            phase = [r for r in result if r[2] == name and lo <= r[0] < hi]
            rows.append((f"{label}, host {name}", summary(phase, max(min(hi, time.monotonic()) - lo, 0.001))))
    rows.append(("node 1 rejoin (start to synced)", f"{rejoined - restarted:.1f} s"))
    rows.append(("host B serving again after the node synced", f"{serving - rejoined:.1f} s"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    if lacks := missing():
        print("a Galera cluster needs " + ", ".join(lacks), file=sys.stderr)
        return 2
    started = time.monotonic()
    work = tempfile.TemporaryDirectory(prefix="gridauth-galera-bench-")  # configuration and server logs
    site = make_site(Path(work.name))
    rows = [("cluster start (3 nodes synced)", f"{time.monotonic() - started:.1f} s")]
    try:
        site.start_hosts()
        lagging = site.start_host(1, sync_wait=False)
        rows.append(("load over both hosts", spread_load(site, args.clients, args.seconds)))
        exact, revoked = races(site, args.trials)
        rows.append(("parallel refreshes of one grant on A and B: one active token", exact))
        rows.append(("revoke on A racing refreshes on B: nothing active", revoked))
        rows.append(("revoked via A, active right after at B (wsrep_sync_wait=1)",
                     f"{revoked_yet_active(site, site.hosts[1], args.trials * 5)} of {args.trials * 5}"))
        rows.append(("revoked via A, active right after at C (no wsrep_sync_wait)",
                     f"{revoked_yet_active(site, lagging, args.trials * 5)} of {args.trials * 5}"))
        for sync_wait in (True, False):
            rows.append((f"SQL read at node 1 right after a write at node 0 is stale (wsrep_sync_wait="
                         f"{int(sync_wait)})", f"{sql_lag(site, sync_wait)} of 300"))
        rows.extend(node_failure(site, args.clients))
    finally:
        site.stop()
        work.cleanup()
    print("| what | result |\n|---|---|")
    for what, result in rows:
        print(f"| {what} | {result} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

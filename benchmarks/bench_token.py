"""Benchmark: the token endpoint under load, on a real `gridauth serve` process.

Starts `gridauth serve` on a copy of the example configuration (SQLite by default, or --db URL),
creates grants through the storage API, then C client threads refresh as fast as they can for
D seconds over keep-alive connections, while one more thread times GET /health to show whether
the IOLoop stays responsive. Prints requests/s and latency percentiles.

Run: python benchmarks/bench_token.py [--db URL] [--clients 8] [--seconds 10] [--processes 1]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from gridauth.config.reload import RegistryHolder
from gridauth.db.engine import Database
from gridauth.oauth.issuer import refresh_token_value
from gridauth.oauth.models import GridUser, OAuthClient
from gridauth.oauth.scopes import ScopeRequest, canonical, resolve
from gridauth.service import ServiceContext

ROOT = Path(__file__).resolve().parents[1]
AUTH = "Basic " + base64.b64encode(b"example-portal:portal-secret").decode()


def make_grants(config: Path, db_url: str, count: int) -> list[str]:
    """Create *count* grants for alice through the same storage API the login flows use."""
    context = ServiceContext(RegistryHolder(config), Database(db_url))
    context.prepare_storage()
    registry = context.registry
    asked = ScopeRequest.parse("openid group:dteam_user")
    member = resolve(registry, "alice", asked)
    client = OAuthClient(registry.client("example-portal"))
    tokens = []
    with context.server.bound(registry):
        for _ in range(count):
            token = refresh_token_value()
            context.server.create_grant(client, GridUser(member), canonical(asked.plain, member), token)
            tokens.append(token)
    context.db.close()
    return tokens


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile of *values*."""
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    """Run the load and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    config = tmp / "gridauth.cfg"
    shutil.copy(ROOT / "etc" / "gridauth.cfg", config)
    db_url = args.db or f"sqlite:///{tmp / 'bench.sqlite'}"
    tokens = make_grants(config, db_url, args.clients)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "gridauth.cli.main", "serve", "--config", str(config), "--db",
                               db_url, "--port", str(port), "--processes", str(args.processes), "--log-level",
                               "WARNING"], env={**os.environ, "GRIDAUTH_STATE_DIR": str(tmp)},
                              start_new_session=True)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        stop = time.monotonic() + args.seconds
        latencies: list[float] = []
        health: list[float] = []
        errors = [0]

        def refresher(token: str) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": token})
            headers = {"Authorization": AUTH, "Content-Type": "application/x-www-form-urlencoded"}
            while time.monotonic() < stop:
                start = time.perf_counter()
                conn.request("POST", "/token", body, headers)
                resp = conn.getresponse()
                resp.read()
                latencies.append(time.perf_counter() - start)
                if resp.status != 200:
                    errors[0] += 1

        def prober() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            while time.monotonic() < stop:
                start = time.perf_counter()
                conn.request("GET", "/health")
                conn.getresponse().read()
                health.append(time.perf_counter() - start)
                time.sleep(0.05)

        threads = [threading.Thread(target=refresher, args=(t,)) for t in tokens]
        threads.append(threading.Thread(target=prober))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        backend = db_url.split(":")[0]
        print(f"refresh grant, {backend}, {args.processes} process(es), {args.clients} clients, {args.seconds:g} s")
        print(f"  {len(latencies) / args.seconds:.0f} refreshes/s, {errors[0]} errors")
        print(f"  latency ms: p50 {percentile(latencies, .5) * 1e3:.1f}  p95 {percentile(latencies, .95) * 1e3:.1f}"
              f"  p99 {percentile(latencies, .99) * 1e3:.1f}")
        print(f"  /health during load ms: median {statistics.median(health) * 1e3:.1f}  "
              f"max {max(health) * 1e3:.1f} ({len(health)} probes)")
    finally:
        os.killpg(server.pid, 15)
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

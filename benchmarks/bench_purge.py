"""Benchmark: refreshes on a database of many stored rows, and while a purge deletes them.

Fills --rows expired rows, half of them grants, the rest spread over the five flow tables
(authorization codes, device flows, login states, sessions, rate-limit counters; bulk inserts), and
one live grant per client. Starts `gridauth serve` on a copy of the example configuration, and
lets C client threads refresh their grants (``--load refresh``, the default: each refresh writes
its grant) or ask for client-credentials tokens (``--load cc``) over keep-alive connections: first
for --warmup seconds (the steady state), then while `gridauth db purge`'s code runs in a process of
its own (this script with --purge-only), which times every transaction it commits. The same load
runs first for --warmup seconds against a server on an empty database (the live grants only), so
that the cost of a request with the rows stored is a ratio to the empty database's, measured in the
same run. Prints the purge's total time, its transactions and the longest one, the requests'
latency (p50, p99, max) and failures before and during the purge, and the requests per CPU-second
of the server on both databases. Figures, not verdicts.

Run: python benchmarks/bench_purge.py [--db URL] [--rows 1000000] [--clients 4] [--warmup 5] [--load refresh|cc]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from loadgen import tree_cpu_seconds
from sqlalchemy import event, insert

from gridauth.config.reload import RegistryHolder
from gridauth.db.engine import Database
from gridauth.db.models import (
    AuthorizationCodeRow,
    DeviceFlowRow,
    GrantRow,
    LoginStateRow,
    RateLimitRow,
    SessionRow,
)
from gridauth.db.tokens import NewGrant
from gridauth.service import ServiceContext

ROOT = Path(__file__).resolve().parents[1]
SERVICE_AUTH = "Basic " + base64.b64encode(b"example-service:service-secret").decode()
PORTAL_AUTH = "Basic " + base64.b64encode(b"example-portal:portal-secret").decode()
CHUNK = 20_000
DAY = 86400


def expired_rows(table: Any, i: int, now: int) -> dict[str, Any]:
    """Row *i* of *table*, expired (codes and counters more than a day ago: the purge keeps them a day)."""
    gone = now - 2 * DAY - i % 3600
    if table is AuthorizationCodeRow:
        return {"code_hash": f"{i:064x}", "client_id": "example-portal", "scope": "openid", "username": "alice",
                "group_name": "dteam_user", "vo": "dteam", "properties": "", "auth_time": gone, "expires_at": gone}
    if table is DeviceFlowRow:
        return {"device_code_hash": f"{i:064x}", "user_code": f"B{i:015d}", "client_id": "gridauth-cli",
                "scope": "openid", "status": "pending", "interval": 5, "expires_at": gone}
    if table is LoginStateRow:
        return {"state": f"{i:064x}", "data": "{}", "next_url": "/", "expires_at": gone}
    if table is SessionRow:
        return {"id_hash": f"{i:064x}", "username": "alice", "idp": "local", "auth_time": gone, "expires_at": gone}
    if table is GrantRow:
        return {"id": f"{i:032x}", "refresh_token_hash": f"{i:064x}", "client_id": "example-portal",
                "username": "alice", "group_name": "dteam_user", "vo": "dteam", "scope": "openid",
                "auth_time": gone, "issued_at": gone, "expires_at": gone, "generation": 0, "purge_at": gone}
    return {"key": f"login-user:bench-{i:09d}", "window_start": gone, "count": 1}


def fill(db: Database, rows: int, now: int) -> float:
    """Insert *rows* expired rows, half grants, half spread over the five flow tables, in bulk; the seconds it took."""
    started = time.monotonic()
    flows = (AuthorizationCodeRow, DeviceFlowRow, LoginStateRow, SessionRow, RateLimitRow)
    counts = [(GrantRow, rows - rows // 2)]
    counts += [(table, rows // 2 // len(flows) + (1 if n < rows // 2 % len(flows) else 0))
               for n, table in enumerate(flows)]
    for table, count in counts:
        for start in range(0, count, CHUNK):
            with db.transaction() as session:
                chunk = range(start, min(count, start + CHUNK))
                session.execute(insert(table), [expired_rows(table, i, now) for i in chunk])
    return time.monotonic() - started


def live_grants(context: ServiceContext, clients: int) -> list[str]:
    """One live grant of alice's for the example portal per client; their refresh tokens."""
    now = context.clock.now()
    tokens = [f"bench-refresh-{i}-{now}" for i in range(clients)]
    for token in tokens:
        context.tokens.create_grant(NewGrant(client_id="example-portal", username="alice", group="dteam_user",
                                             vo="dteam", scope="openid offline_access vo:dteam group:dteam_user",
                                             auth_time=now, issued_at=now, expires_at=now + 12 * 3600), token)
    return tokens


def purge_only(config: Path, db_url: str) -> None:
    """Run the operator's purge here, timing each transaction; print one JSON line of figures."""
    context = ServiceContext(RegistryHolder(config), Database(db_url))
    began: dict[int, float] = {}
    spans: list[float] = []
    engine = context.db.engine
    def end(conn: Any) -> None:
        spans.append(time.perf_counter() - began.pop(id(conn), time.perf_counter()))

    event.listen(engine, "begin", lambda conn: began.__setitem__(id(conn), time.perf_counter()))
    event.listen(engine, "commit", end)
    event.listen(engine, "rollback", end)
    started = time.time()
    counts = context.purge()
    ended = time.time()
    print(json.dumps({"started": started, "ended": ended, "transactions": len(spans),
                      "longest": max(spans, default=0.0), "deleted": sum(counts.values()), "counts": counts}))
    context.db.close()


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile of *values* (0 for none)."""
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0.0


def summary(samples: list[tuple[int, float]]) -> str:
    """``n requests, f failed, p50/p99/max ms`` of (status, seconds) samples."""
    latencies = [s for _, s in samples]
    failed = sum(1 for status, _ in samples if status != 200)
    return (f"{len(samples)} requests, {failed} failed; latency ms p50 {percentile(latencies, .5) * 1e3:.1f}  "
            f"p99 {percentile(latencies, .99) * 1e3:.1f}  max {max(latencies, default=0) * 1e3:.1f}")


class Load:
    """C client threads sending one kind of token request over keep-alive connections, timing each answer."""

    def __init__(self, port: int, kind: str, refresh_tokens: list[str]) -> None:
        self.samples: list[tuple[float, int, float]] = []
        self.stop = threading.Event()
        if kind == "refresh":
            forms = [{"grant_type": "refresh_token", "refresh_token": token} for token in refresh_tokens]
            auth = PORTAL_AUTH
        else:
            forms = [{"grant_type": "client_credentials"}] * len(refresh_tokens)
            auth = SERVICE_AUTH
        self.threads = [threading.Thread(target=self._client, args=(port, urllib.parse.urlencode(form), auth))
                        for form in forms]
        for thread in self.threads:
            thread.start()

    def _client(self, port: int, body: str, auth: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
        while not self.stop.is_set():
            start = time.time()
            conn.request("POST", "/token", body, headers)
            resp = conn.getresponse()
            resp.read()
            self.samples.append((start, resp.status, time.time() - start))

    def end(self) -> None:
        """Stop the clients and wait for them."""
        self.stop.set()
        for thread in self.threads:
            thread.join()


def per_cpu_second(server: subprocess.Popen, port: int, kind: str, tokens: list[str], seconds: float) -> float:
    """Requests answered per CPU-second of *server* under the load for *seconds*."""
    load = Load(port, kind, tokens)
    time.sleep(0.5)  # warm
    count, cpu = len(load.samples), tree_cpu_seconds(server.pid)
    time.sleep(seconds)
    answered, used = len(load.samples) - count, tree_cpu_seconds(server.pid) - cpu
    load.end()
    return answered / used if used > 0 else 0.0


def start_server(config: Path, db_url: str, tmp: Path) -> tuple[subprocess.Popen, int]:
    """`gridauth serve` on a free port, once it accepts connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "gridauth.cli.main", "serve", "--config", str(config), "--db",
                               db_url, "--port", str(port), "--log-level", "WARNING"],
                              env={**os.environ, "GRIDAUTH_STATE_DIR": str(tmp)}, start_new_session=True)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gridauth serve did not start")


def main() -> None:
    """Fill, serve, load, purge, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--load", choices=("refresh", "cc"), default="refresh")
    parser.add_argument("--purge-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.purge_only:
        return purge_only(args.config, args.db)
    tmp = Path(tempfile.mkdtemp())
    config = tmp / "gridauth.cfg"
    shutil.copy(ROOT / "etc" / "gridauth.cfg", config)
    db_url = args.db or f"sqlite:///{tmp / 'bench.sqlite'}"
    empty_url = f"sqlite:///{tmp / 'empty.sqlite'}" if db_url.startswith("sqlite") else None
    backend = db_url.split(":")[0]
    baseline = measure_empty(config, empty_url, tmp, args) if empty_url else None
    context = ServiceContext(RegistryHolder(config), Database(db_url))
    context.prepare_storage()
    filled = fill(context.db, args.rows, context.clock.now())
    tokens = live_grants(context, args.clients)
    context.db.close()
    server, port = start_server(config, db_url, tmp)
    try:
        stored = per_cpu_second(server, port, args.load, tokens, args.warmup)
        load = Load(port, args.load, tokens)
        time.sleep(args.warmup)
        purge = subprocess.run([sys.executable, __file__, "--purge-only", "--config", str(config), "--db", db_url],
                               capture_output=True, text=True, check=True)
        load.end()
        figures = json.loads(purge.stdout.strip().splitlines()[-1])
        purge_start, purge_end = figures["started"], figures["ended"]
        samples = load.samples
        print(f"{args.rows:,} expired rows (half grants), {backend}, {args.clients} {args.load} clients")
        print(f"  fill (bulk inserts): {filled:.1f} s")
        if baseline:
            print(f"  {args.load} with the rows stored: {stored:.0f} req/cpu-s, {stored / baseline:.2f} x the empty "
                  f"database's {baseline:.0f}")
        print(f"  purge: {purge_end - purge_start:.1f} s, {figures['deleted']:,} rows deleted in "
              f"{figures['transactions']} transactions, longest transaction {figures['longest'] * 1e3:.1f} ms")
        print(f"  before the purge: {summary([(s, d) for t, s, d in samples if t < purge_start])}")
        print(f"  during the purge: {summary([(s, d) for t, s, d in samples if purge_start <= t < purge_end])}")
    finally:
        os.killpg(server.pid, 15)
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def measure_empty(config: Path, db_url: str, tmp: Path, args: argparse.Namespace) -> float:
    """Requests per CPU-second of the same load on a database holding only the live grants (SQLite)."""
    context = ServiceContext(RegistryHolder(config), Database(db_url))
    context.prepare_storage()
    tokens = live_grants(context, args.clients)
    context.db.close()
    server, port = start_server(config, db_url, tmp)
    try:
        return per_cpu_second(server, port, args.load, tokens, args.warmup)
    finally:
        os.killpg(server.pid, 15)
        server.wait()


if __name__ == "__main__":
    main()

"""Benchmark: purging many expired flow rows while a real `gridauth serve` answers token requests.

Fills --rows expired rows into the five flow tables (authorization codes, device flows, login states,
sessions, rate-limit counters; bulk inserts), starts `gridauth serve` on a copy of the example
configuration, and lets C client threads ask for client-credentials tokens over keep-alive
connections: first for --warmup seconds (the steady state), then while `gridauth db purge`'s code
runs in a process of its own (this script with --purge-only), which times every transaction it
commits. Prints the purge's total time, its transactions and the longest one, and the token
requests' latency (p50, p99, max) and failures before and during the purge. Figures, not verdicts.

Run: python benchmarks/bench_purge.py [--db URL] [--rows 1000000] [--clients 4] [--warmup 5]
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

from sqlalchemy import event, insert

from gridauth.config.reload import RegistryHolder
from gridauth.db.engine import Database
from gridauth.db.models import AuthorizationCodeRow, DeviceFlowRow, LoginStateRow, RateLimitRow, SessionRow
from gridauth.service import ServiceContext

ROOT = Path(__file__).resolve().parents[1]
AUTH = "Basic " + base64.b64encode(b"example-service:service-secret").decode()
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
    return {"key": f"login-user:bench-{i:09d}", "window_start": gone, "count": 1}


def fill(db: Database, rows: int, now: int) -> float:
    """Insert *rows* expired rows, spread over the five flow tables, in bulk; the seconds it took."""
    started = time.monotonic()
    tables = (AuthorizationCodeRow, DeviceFlowRow, LoginStateRow, SessionRow, RateLimitRow)
    for n, table in enumerate(tables):
        count = rows // len(tables) + (1 if n < rows % len(tables) else 0)
        for start in range(0, count, CHUNK):
            with db.transaction() as session:
                chunk = range(start, min(count, start + CHUNK))
                session.execute(insert(table), [expired_rows(table, i, now) for i in chunk])
    return time.monotonic() - started


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
    parser.add_argument("--purge-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.purge_only:
        return purge_only(args.config, args.db)
    tmp = Path(tempfile.mkdtemp())
    config = tmp / "gridauth.cfg"
    shutil.copy(ROOT / "etc" / "gridauth.cfg", config)
    db_url = args.db or f"sqlite:///{tmp / 'bench.sqlite'}"
    context = ServiceContext(RegistryHolder(config), Database(db_url))
    context.prepare_storage()
    filled = fill(context.db, args.rows, context.clock.now())
    context.db.close()
    server, port = start_server(config, db_url, tmp)
    try:
        samples: list[tuple[float, int, float]] = []
        stop = threading.Event()

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            body = urllib.parse.urlencode({"grant_type": "client_credentials"})
            headers = {"Authorization": AUTH, "Content-Type": "application/x-www-form-urlencoded"}
            while not stop.is_set():
                start = time.time()
                conn.request("POST", "/token", body, headers)
                resp = conn.getresponse()
                resp.read()
                samples.append((start, resp.status, time.time() - start))

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(args.warmup)
        purge = subprocess.run([sys.executable, __file__, "--purge-only", "--config", str(config), "--db", db_url],
                               capture_output=True, text=True, check=True)
        stop.set()
        for thread in threads:
            thread.join()
        figures = json.loads(purge.stdout.strip().splitlines()[-1])
        purge_start, purge_end = figures["started"], figures["ended"]
        backend = db_url.split(":")[0]
        print(f"purge of {args.rows:,} expired flow rows, {backend}, {args.clients} client-credentials clients")
        print(f"  fill (bulk inserts): {filled:.1f} s")
        print(f"  purge: {purge_end - purge_start:.1f} s, {figures['deleted']:,} rows deleted in "
              f"{figures['transactions']} transactions, longest transaction {figures['longest'] * 1e3:.1f} ms")
        print(f"  before the purge: {summary([(s, d) for t, s, d in samples if t < purge_start])}")
        print(f"  during the purge: {summary([(s, d) for t, s, d in samples if purge_start <= t < purge_end])}")
    finally:
        os.killpg(server.pid, 15)
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

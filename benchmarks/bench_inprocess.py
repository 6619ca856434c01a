"""Benchmark: gridauth's own CPU per token request, in-process, without HTTP or threads.

Run: python benchmarks/bench_inprocess.py [--seconds 2] [--db URL] [--algs RS256,ES256,EdDSA]
Builds the service on a copy of the example configuration and a scratch database (SQLite, or a fresh
MariaDB database on the server of --db), stores two live grants, and calls the authorization server
as the token endpoint does (``create_token_response``) on the calling thread: client credentials,
then refreshes of that grant (its refresh token carrying the grant, as the server issues them, then
a plain one, as issued before), then each database step of a refresh alone. Prints the CPU time per
request (the median of 5 rounds). CPU time of one thread is far steadier than requests per second
on a shared machine, and it shows what the authorization server costs apart from Tornado and the
database worker threads that ``benchmarks/run.py`` measures with them.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import re
import secrets
import shutil
import tempfile
from pathlib import Path

from bench_signing import per_token
from sqlalchemy import create_engine, text

from gridauth.config.reload import RegistryHolder
from gridauth.db.engine import Database
from gridauth.db.tokens import NewGrant, Renewal, new_grant_id
from gridauth.oauth.carried import carrying_token
from gridauth.service import ServiceContext
from gridauth.web.oauth_request import TornadoOAuth2Request

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "example-service:service-secret"
PORTAL = "example-portal:portal-secret"
SCOPE = "openid offline_access vo:dteam group:dteam_user"


def token_request(form: dict[str, str], client: str) -> TornadoOAuth2Request:
    """authlib's request as the web layer builds it for ``POST /token``."""
    auth = "Basic " + base64.b64encode(client.encode()).decode()
    return TornadoOAuth2Request("POST", "https://localhost/token",
                                {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"},
                                form, {})


def scratch_database(db: str | None, tmp: Path) -> tuple[str, str | None]:
    """(URL, database to drop afterwards): a SQLite file in *tmp*, or a new database on *db*'s server."""
    if not db:
        return f"sqlite:///{tmp / 'bench.sqlite'}", None
    name = f"gridauth_inproc_{secrets.token_hex(4)}"
    with create_engine(db).begin() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    return f"{db.rstrip('/')}/{name}", name


def measure(alg: str, db: str | None, seconds: float) -> None:
    """Print the CPU per request of each path for signing algorithm *alg*."""
    tmp = Path(tempfile.mkdtemp())
    config = tmp / "gridauth.cfg"
    config.write_text(re.sub(r"SigningAlgorithm = \w+", f"SigningAlgorithm = {alg}",
                             (ROOT / "etc" / "gridauth.cfg").read_text()))
    url, dropped = scratch_database(db, tmp)
    context = ServiceContext(RegistryHolder(config), Database(url))
    try:
        context.prepare_storage()
        now = context.clock.now()
        # As the server issues them: a refresh token that carries its grant (oauth/carried.py), and a
        # plain one, as issued before that (decided on the grant read first).
        carried = NewGrant(client_id="example-portal", username="alice", group="dteam_user", vo="dteam", scope=SCOPE,
                           auth_time=now, issued_at=now, expires_at=now + 43200, id=new_grant_id())
        carried_token = carrying_token(carried, "bench-refresh-token-2")
        context.tokens.create_grant(carried, carried_token)
        context.tokens.create_grant(dataclasses.replace(carried, id=None), "bench-refresh-token")
        server, tokens = context.server, context.tokens
        cc = token_request({"grant_type": "client_credentials"}, SERVICE)
        refresh = {"grant_type": "refresh_token", "refresh_token": carried_token}
        plain = {"grant_type": "refresh_token", "refresh_token": "bench-refresh-token"}

        def answer(request: TornadoOAuth2Request) -> None:
            status = server.create_token_response(request)[0]
            if status != 200:
                raise SystemExit(f"the token endpoint answered {status}")

        row = tokens.grant_by_refresh_token("bench-refresh-token")
        assert row is not None
        paths = {
            "client credentials": lambda: answer(cc),
            "refresh": lambda: answer(token_request(refresh, PORTAL)),
            "refresh, plain token": lambda: answer(token_request(plain, PORTAL)),
            "  its grant lookup": lambda: tokens.grant_by_refresh_token("bench-refresh-token"),
            "  its renewal (one UPDATE)": lambda: tokens.refresh(Renewal(row, "bench-refresh-token", now, now + 1200)),
        }
        backend = url.split(":")[0]
        with server.bound(context.registry):
            for name, work in paths.items():
                print(f"{alg:6} {backend:14} {name:28} {per_token(work, seconds) * 1e6:7.0f} µs of CPU")
    finally:
        context.db.close()
        if dropped and db:
            with create_engine(db).begin() as conn:
                conn.execute(text(f"DROP DATABASE {dropped}"))
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per path (default 2)")
    parser.add_argument("--db", help="a MySQL/MariaDB server URL without database (default: SQLite)")
    parser.add_argument("--algs", default="RS256,ES256,EdDSA")
    args = parser.parse_args()
    for alg in args.algs.split(","):
        measure(alg, args.db, args.seconds)


if __name__ == "__main__":
    main()

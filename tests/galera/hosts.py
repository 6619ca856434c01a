"""Two gridauth hosts on a Galera cluster: one ``gridauth serve`` per node, the same configuration file.

This is the set-up the operator guide describes ("A Galera cluster"): host A talks to node 0 only,
host B to node 1 only, node 2 only replicates. The servers are real ``gridauth serve`` processes
(:mod:`oauth.real_serve`); grants are created through the storage API the login flows use
(:func:`oauth.conftest.issue_grant`), on node 0. Shared by the tests and ``benchmarks/galera.py``.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridauth.config.reload import RegistryHolder
from gridauth.db.engine import Database
from gridauth.service import ServiceContext
from harness import EXAMPLE, PORTAL, SERVICE, Reply, http
from oauth.conftest import issue_grant
from oauth.real_serve import Serve, start_serve

from .cluster import GaleraCluster

DATABASE = "gridauth"
# The operator guide's recommendation: every read waits until the node has applied every write set the
# cluster committed before it, so a token revoked through one node is never read as active at another.
SYNC_WAIT = "init_command=SET%20SESSION%20wsrep_sync_wait%3D1"


class _Grants:
    """Just enough of a service to create grants in the cluster's database (see ``issue_grant``)."""

    def __init__(self, config: Path, db_url: str) -> None:
        self.context = ServiceContext(RegistryHolder(config), Database(db_url))
        self.clock = self.context.clock


@dataclass
class Site:
    """A cluster, its database, and host A (node 0) and host B (node 1) serving it."""

    cluster: GaleraCluster
    config: Path
    workdir: Path
    hosts: list[Serve] = field(default_factory=list)

    def url(self, node: int, sync_wait: bool = True) -> str:
        """The database URL gridauth uses on *node*: with ``wsrep_sync_wait=1`` unless *sync_wait* is false."""
        return f"{self.cluster.nodes[node].url}/{DATABASE}" + (f"?{SYNC_WAIT}" if sync_wait else "")

    def start_host(self, node: int, sync_wait: bool = True) -> Serve:
        """Start one more ``gridauth serve`` on *node* (the first one creates the schema)."""
        self.cluster.settle()
        host = start_serve(self.config, self.url(node, sync_wait), self.workdir)
        self.hosts.append(host)
        return host

    def start_hosts(self) -> None:
        """Start host A on node 0, then host B on node 1."""
        for node in (0, 1):
            self.start_host(node)

    def stop(self) -> None:
        """Stop both hosts, then the cluster."""
        for host in self.hosts:
            host.stop()
        self.cluster.stop()

    def grants(self, count: int = 1, username: str = "alice") -> list[str]:
        """*count* new grants of *username* for the example portal; their refresh tokens."""
        maker = _Grants(self.config, self.url(0))
        try:
            return [issue_grant(maker, username) for _ in range(count)]
        finally:
            maker.context.db.close()
            self.cluster.settle()


def make_site(workdir: Path) -> Site:
    """A started 3-node cluster with an empty ``gridauth`` database and a copy of the example configuration."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "gridauth.cfg"
    shutil.copy(EXAMPLE, config)
    cluster = GaleraCluster(3)
    try:
        cluster.start()
        cluster.create_database(DATABASE)
    except BaseException:
        cluster.stop()
        raise
    return Site(cluster, config, workdir)


# -- requests ----------------------------------------------------------------------------------------
def client_credentials(host: Serve) -> Reply:
    """A client-credentials token for the example service."""
    return host.post("/token", {"grant_type": "client_credentials"}, auth=SERVICE)


def refresh(host: Serve, refresh_token: str) -> Reply:
    """A refresh of the example portal's grant."""
    return host.post("/token", {"grant_type": "refresh_token", "refresh_token": refresh_token}, auth=PORTAL)


def revoke(host: Serve, refresh_token: str) -> Reply:
    """RFC 7009 revocation of a grant by its refresh token."""
    return host.post("/revoke", {"token": refresh_token, "token_type_hint": "refresh_token"}, auth=PORTAL)


def active(host: Serve, token: str) -> bool:
    """Whether *host* says *token* is active (RFC 7662)."""
    reply = host.post("/introspect", {"token": token}, auth=SERVICE)
    assert reply.status == 200, (reply.status, reply.body)
    return bool(reply.body["active"])


def outcome(reply: Reply) -> str:
    """A reply in one word for counting: ``200``, ``503 temporarily_unavailable``, ``500 server_error``, ..."""
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    return f"{reply.status} {error}" if error else str(reply.status)


def safely(request: Callable[[], Reply]) -> Reply | str:
    """*request*'s reply, or the name of the connection error it met (a host that went away)."""
    try:
        return request()
    except OSError as exc:
        return f"connection error: {type(exc).__name__}"


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run *calls* at the same moment (one thread each) and return their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


__all__ = ["PORTAL", "SERVICE", "Site", "active", "client_credentials", "http", "make_site", "outcome", "refresh",
           "revoke", "safely", "together"]

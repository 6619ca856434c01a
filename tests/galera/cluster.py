"""A MariaDB Galera cluster on loopback ports, for the Galera tests and ``benchmarks/galera.py``.

Each node is a real ``mariadbd`` with Debian's ``galera-4`` provider, its data directory under one
temporary directory, its own SQL, group-communication, IST and SST ports on 127.0.0.1 (never 3306:
the machine's own MariaDB may run there), and ``--no-defaults`` so that nothing in /etc/mysql
changes it. A node is started in its own session (process group), so that stopping it stops the
SST scripts it spawned too; every node still running when the interpreter exits is killed
(``atexit``, and on SIGTERM), so an interrupted test run leaves no ``mariadbd`` behind. (Only a
SIGKILL of the test run itself escapes: mariadbd changes its user, which clears a parent-death
signal, so nothing can follow it.) The temporary directory goes with the nodes.

What the cluster needs on the machine: ``mariadbd`` and ``mariadb-install-db`` (mariadb-server),
``/usr/lib/galera/libgalera_smm.so`` (galera-4) and ``rsync`` (the state transfer a node that
rejoins may need). :func:`missing` says what is absent.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import MySQLdb

PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
MARIADBD = "/usr/sbin/mariadbd"
START_TIMEOUT = 120.0

_RUNNING: set[int] = set()  # process-group ids of nodes not yet stopped, for the exit handler
_ROOTS: set[Path] = set()  # temporary directories of clusters not yet stopped


def _kill_leftovers() -> None:
    for pgid in list(_RUNNING):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    _RUNNING.clear()
    for root in list(_ROOTS):
        shutil.rmtree(root, ignore_errors=True)
    _ROOTS.clear()


atexit.register(_kill_leftovers)


def _on_sigterm(signum: int, _frame: object) -> None:
    """A terminated run (CI cancelling a job, ``kill``) kills its nodes, then dies of the signal as it would have."""
    _kill_leftovers()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _guard_sigterm() -> None:
    """Install :func:`_on_sigterm` unless someone else handles SIGTERM (or this is not the main thread)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


def missing() -> list[str]:
    """What this machine lacks to run a cluster (empty when it has everything)."""
    lacks = []
    if not (shutil.which("mariadbd") or Path(MARIADBD).exists()) or not shutil.which("mariadb-install-db"):
        lacks.append("mariadb-server (mariadbd, mariadb-install-db)")
    if not PROVIDER.exists():
        lacks.append(f"galera-4 ({PROVIDER})")
    if not shutil.which("rsync"):
        lacks.append("rsync (state transfer)")
    return lacks


def _free_ports(count: int) -> list[int]:
    """*count* distinct ports free on 127.0.0.1 right now (held open together so none repeats)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def terminate_group(proc: subprocess.Popen[bytes], resume: bool = False) -> None:
    """SIGTERM a server's process group (SIGCONT first when it may be paused), SIGKILL after 30 s; forget it."""
    with contextlib.suppress(ProcessLookupError):
        if resume:
            os.killpg(proc.pid, signal.SIGCONT)
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    _RUNNING.discard(proc.pid)


@dataclass
class Node:
    """One cluster member: its ports, data directory and (while it runs) its process."""

    index: int
    port: int
    gcomm: int
    ist: int
    sst: int
    datadir: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)
    tmpdir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.datadir.parent / f"node{self.index}.log"
        # Its own directory for temporary tables: /tmp is shared with whatever else runs on the machine.
        self.tmpdir = self.datadir.parent / f"tmp{self.index}"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the node's server (no database): root over TCP."""
        return f"mysql+mysqldb://root@127.0.0.1:{self.port}"

    def sql(self, statement: str, database: str | None = None) -> list[tuple[object, ...]]:
        """Run *statement* on this node as root over TCP and return its rows."""
        conn = MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=5,
                               **({"database": database} if database else {}))
        try:
            cursor = conn.cursor()
            cursor.execute(statement)
            rows = list(cursor.fetchall())
            conn.commit()
            return rows
        finally:
            conn.close()

    def status(self, name: str) -> str | None:
        """A ``SHOW STATUS`` value of this node, or None when the node does not answer."""
        try:
            rows = self.sql(f"SHOW STATUS LIKE '{name}'")
        except MySQLdb.Error:
            return None
        return str(rows[0][1]) if rows else None

    @property
    def running(self) -> bool:
        """Whether the node's process is alive."""
        return self.proc is not None and self.proc.poll() is None


class GaleraCluster:
    """*size* Galera nodes on loopback under one temporary directory; :meth:`start`, then :meth:`stop`."""

    def __init__(self, size: int = 3, name: str = "gridauth_test", root: Path | None = None) -> None:
        self.name = name
        self.root = Path(root or tempfile.mkdtemp(prefix="gridauth-galera-"))
        self.root.chmod(0o755)  # mariadbd runs as mysql: it must reach its data directory
        _ROOTS.add(self.root)
        ports = _free_ports(4 * size)
        self.nodes = [Node(i, *ports[4 * i:4 * i + 4], datadir=self.root / f"node{i}") for i in range(size)]

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self) -> GaleraCluster:
        """Install each node's system tables, bootstrap the first node, join the others; wait for all."""
        _guard_sigterm()
        for node in self.nodes:
            self._install(node)
        self._launch(self.nodes[0], bootstrap=True)
        self._wait_synced(self.nodes[0], size=1)
        # TCP root (the install only grants root over the socket); replicated to the nodes that join.
        self._socket_sql(self.nodes[0], "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; "
                                        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
        for node in self.nodes[1:]:
            self._launch(node)
        self.wait_ready()
        return self

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 30 s) and delete the data directories."""
        for node in self.nodes:
            self._terminate(node)
        shutil.rmtree(self.root, ignore_errors=True)
        _ROOTS.discard(self.root)

    def __enter__(self) -> GaleraCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill(self, index: int) -> None:
        """SIGKILL node *index* (a crash: no clean leave from the cluster)."""
        node = self.nodes[index]
        if node.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(timeout=30)
            _RUNNING.discard(node.proc.pid)

    def restart(self, index: int) -> None:
        """Start node *index* again and wait until it has rejoined (IST or SST) and the cluster is whole."""
        self._launch(self.nodes[index])
        self.wait_ready()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until every running node is synced, ready and sees a cluster of every running node."""
        size = sum(node.running for node in self.nodes)
        for node in self.nodes:
            if node.running:
                self._wait_synced(node, size, timeout)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every running node has committed every write set (same ``wsrep_last_committed``).

        Galera replication is synchronous up to certification only: a node applies a write set a
        moment after the node that wrote it committed. A check of the end state waits for this first.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seqnos = {node.status("wsrep_last_committed") for node in self.nodes if node.running}
            if len(seqnos) == 1 and None not in seqnos:
                return
            time.sleep(0.05)
        raise RuntimeError(f"the nodes did not converge in {timeout:g} s")

    def create_database(self, name: str) -> str:
        """Create database *name* (replicated to every node); return its URL on the first node."""
        self.nodes[0].sql(f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4")
        return f"{self.nodes[0].url}/{name}"

    # -- one node ------------------------------------------------------------------------------------
    def _user(self) -> list[str]:
        return ["--user=mysql"] if os.geteuid() == 0 else []

    def _install(self, node: Node) -> None:
        for directory in (node.datadir, node.tmpdir):
            directory.mkdir()
            if os.geteuid() == 0:
                mysql = pwd.getpwnam("mysql")
                os.chown(directory, mysql.pw_uid, mysql.pw_gid)
        result = subprocess.run(["mariadb-install-db", "--no-defaults", *self._user(), f"--datadir={node.datadir}",
                                 "--auth-root-authentication-method=socket", "--skip-test-db",
                                 f"--tmpdir={node.tmpdir}"],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed for node {node.index}:\n{result.stdout}{result.stderr}")

    def _launch(self, node: Node, bootstrap: bool = False) -> None:
        members = ",".join(f"127.0.0.1:{n.gcomm}" for n in self.nodes)
        argv = [MARIADBD, "--no-defaults", *self._user(), f"--datadir={node.datadir}", f"--port={node.port}",
                "--bind-address=127.0.0.1", f"--socket={node.datadir}/sock", f"--pid-file={node.datadir}/pid",
                f"--tmpdir={node.tmpdir}",
                "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2", "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M", "--skip-name-resolve",
                "--wsrep-on=ON", f"--wsrep-provider={PROVIDER}", f"--wsrep-cluster-name={self.name}",
                f"--wsrep-cluster-address=gcomm://{members}", f"--wsrep-node-address=127.0.0.1:{node.gcomm}",
                f"--wsrep-node-name=node{node.index}",
                f"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{node.gcomm};"
                f"ist.recv_addr=127.0.0.1:{node.ist};gcache.size=64M",
                "--wsrep-sst-method=rsync", f"--wsrep-sst-receive-address=127.0.0.1:{node.sst}"]
        if bootstrap:
            argv.append("--wsrep-new-cluster")
        with open(node.log, "ab") as log:
            node.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        _RUNNING.add(node.proc.pid)

    def _terminate(self, node: Node) -> None:
        if node.proc is not None and node.proc.poll() is None:
            terminate_group(node.proc)

    def _socket_sql(self, node: Node, statements: str) -> None:
        conn = MySQLdb.connect(unix_socket=str(node.datadir / "sock"), user="root")
        try:
            cursor = conn.cursor()
            for statement in statements.split(";"):
                cursor.execute(statement)
            conn.commit()
        finally:
            conn.close()

    def _wait_synced(self, node: Node, size: int, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not node.running:
                raise RuntimeError(f"node {node.index} exited:\n{self.tail(node)}")
            if self._states(node) == ("ON", str(size), "Synced"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"node {node.index} not synced in a cluster of {size} after {timeout:g} s:\n"
                           f"{self.tail(node)}")

    def _states(self, node: Node) -> tuple[str | None, ...]:
        """(wsrep_ready, wsrep_cluster_size, wsrep_local_state_comment) of *node*, via the socket or TCP."""
        try:
            conn = MySQLdb.connect(unix_socket=str(node.datadir / "sock"), user="root", connect_timeout=2)
        except MySQLdb.Error:
            return (None, None, None)
        try:
            cursor = conn.cursor()
            cursor.execute("SHOW STATUS WHERE Variable_name IN "
                           "('wsrep_ready', 'wsrep_cluster_size', 'wsrep_local_state_comment')")
            values = dict(cursor.fetchall())
        except MySQLdb.Error:
            return (None, None, None)
        finally:
            conn.close()
        return (values.get("wsrep_ready"), values.get("wsrep_cluster_size"), values.get("wsrep_local_state_comment"))

    def tail(self, node: Node, lines: int = 30) -> str:
        """The end of *node*'s log, for error messages."""
        try:
            return "\n".join(node.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

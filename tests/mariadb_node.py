"""A MariaDB server of the test's own: its own data directory and loopback port, started and stopped by the test.

For fault tests that must stop a database server (SIGSTOP, SIGKILL) without touching the machine's
shared MariaDB on 3306. It is started as ``tests/galera/cluster.py`` starts Galera nodes, with the
same safety net (own session, killed at interpreter exit or on SIGTERM), without Galera.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import MySQLdb

from galera.cluster import _ROOTS, _RUNNING, MARIADBD, _free_ports, _guard_sigterm, missing, terminate_group

START_TIMEOUT = 60.0


def available() -> str | None:
    """Why a server cannot be started here (None when it can)."""
    lacks = [what for what in missing() if what.startswith("mariadb-server")]
    return ", ".join(lacks) or None


class MariaDBNode:
    """One plain ``mariadbd`` in a temporary directory, on a free loopback port; :meth:`start`, then :meth:`stop`."""

    def __init__(self) -> None:
        # Under /tmp itself, not pytest's private directory: mariadbd runs as mysql and must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="gridauth-mariadb-"))
        _ROOTS.add(self.root)
        self.datadir = self.root / "data"
        self.port = _free_ports(1)[0]
        self.log = self.root / "mariadbd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the server (no database): root over TCP."""
        return f"mysql+mysqldb://root@127.0.0.1:{self.port}"

    def start(self) -> MariaDBNode:
        """Install the system tables, start the server, grant root over TCP, wait until it answers."""
        _guard_sigterm()
        self.root.chmod(0o755)
        tmpdir = self.root / "tmp"  # its temporary tables away from /tmp, which other runs may clean
        user = ["--user=mysql"] if os.geteuid() == 0 else []
        for directory in (self.datadir, tmpdir):
            directory.mkdir(parents=True)
            if user:
                mysql = pwd.getpwnam("mysql")
                os.chown(directory, mysql.pw_uid, mysql.pw_gid)
        installed = subprocess.run(["mariadb-install-db", "--no-defaults", *user, f"--datadir={self.datadir}",
                                    f"--tmpdir={tmpdir}",
                                    "--auth-root-authentication-method=socket", "--skip-test-db"],
                                   capture_output=True, text=True, timeout=120)
        if installed.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{installed.stdout}{installed.stderr}")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [MARIADBD, "--no-defaults", *user, f"--datadir={self.datadir}", f"--tmpdir={tmpdir}",
                 f"--port={self.port}",
                 "--bind-address=127.0.0.1", f"--socket={self.datadir}/sock", f"--pid-file={self.datadir}/pid",
                 "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--skip-name-resolve"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        _RUNNING.add(self.proc.pid)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                conn = MySQLdb.connect(unix_socket=str(self.datadir / "sock"), user="root", connect_timeout=2)
                break
            except MySQLdb.Error:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mariadbd did not start:\n{self.log.read_text(errors='replace')}") from None
                time.sleep(0.2)
        try:
            cursor = conn.cursor()
            cursor.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'")
            cursor.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
            conn.commit()
        finally:
            conn.close()
        return self

    def create_database(self, name: str) -> str:
        """Create database *name*; its URL."""
        conn = MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=5)
        try:
            conn.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        finally:
            conn.close()
        return f"{self.url}/{name}"

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open, nothing answers (a hung database)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT the server."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server (resumed first if paused), SIGKILL after 30 s; remove its files."""
        if self.proc is not None and self.proc.poll() is None:
            terminate_group(self.proc, resume=True)
        shutil.rmtree(self.root, ignore_errors=True)
        _ROOTS.discard(self.root)

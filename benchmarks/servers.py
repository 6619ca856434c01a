"""Start and stop the servers the suite measures: gridauth, the bare Tornado ceiling, node oidc-provider.

Each runs as its own process group (pinned to the servers' CPU with taskset when asked), on a free
loopback port, and is stopped with SIGTERM to its group. gridauth is prepared only through its command
line (a copy of the example configuration, ``gridauth db init``, ``gridauth admin passwd``) on a fresh
database: SQLite in a temporary directory, or a new MariaDB database dropped afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLE = ROOT / "etc" / "gridauth.cfg"
NODE_DIR = HERE / "node"
NODE_CLIENT = ("bench-service", "bench-service-secret")
GRIDAUTH = [sys.executable, "-m", "gridauth.cli.main"]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SetupError(RuntimeError):
    """A server could not be prepared or did not start: the message says which and why."""


@dataclass
class Server:
    """A running server process (group) and the URL that reaches it."""

    name: str
    proc: subprocess.Popen
    url: str
    cleanup: list = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The server's root process (the CPU of its whole tree is measured)."""
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it lingers, then undo what was prepared for it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
            except ProcessLookupError:
                pass
        for undo in reversed(self.cleanup):
            undo()


def free_port() -> int:
    """A port of 127.0.0.1 free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pinned(argv: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if cpu is not None else argv


def _wait_ready(name: str, proc: subprocess.Popen, url: str, log: Path, timeout: float = 60) -> None:
    """Until *url* answers anything below 500; a clear error with the log's tail if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupError(f"{name} ended at start (exit {proc.returncode}): {log.read_text()[-1500:]}")
        try:
            with _OPENER.open(url, timeout=2):
                return
        except urllib.error.HTTPError as err:
            if err.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SetupError(f"{name} did not answer {url} within {timeout:g} s: {log.read_text()[-1500:]}")


def _start(name: str, argv: list[str], cpu: str | None, workdir: Path, probe: str, port: int,
           env: dict[str, str] | None = None, cwd: Path | None = None) -> Server:
    log = workdir / f"{name.replace(' ', '-')}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(_pinned(argv, cpu), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    server = Server(name, proc, url)
    try:
        _wait_ready(name, proc, url + probe, log)
    except BaseException:
        server.stop()
        raise
    return server


def start_ceiling(cpu: str | None, workdir: Path) -> Server:
    """The bare Tornado handler of benchmarks/ceiling.py."""
    port = free_port()
    return _start("ceiling", [sys.executable, str(HERE / "ceiling.py"), str(port)], cpu, workdir, "/token", port)


def node_unavailable() -> str:
    """Why node oidc-provider cannot run here ("" when node and npm are present)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not found" if missing else ""


def install_node(cache: Path) -> str:
    """oidc-provider installed from npm into *cache* (once) beside our provider script; its version."""
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "provider.js"):
        shutil.copy(NODE_DIR / name, cache / name)
    installed = cache / "node_modules" / "oidc-provider" / "package.json"
    wanted = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["oidc-provider"]
    if not installed.is_file() or json.loads(installed.read_text())["version"] != wanted:
        out = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=cache,
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise SetupError(f"npm install in {cache} failed: {(out.stdout + out.stderr)[-1500:]}")
    return str(json.loads(installed.read_text())["version"])


def start_node(cpu: str | None, workdir: Path, cache: Path) -> Server:
    """node oidc-provider 9 with one client-credentials client and RS256 JWT access tokens."""
    port = free_port()
    return _start("node oidc-provider", ["node", "provider.js", str(port), *NODE_CLIENT], cpu, workdir,
                  "/.well-known/openid-configuration", port, cwd=cache)


def _gridauth(args: list[str], env: dict[str, str], stdin: str | None = None) -> None:
    out = subprocess.run([*GRIDAUTH, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise SetupError(f"gridauth {' '.join(args[:2])} failed: {(out.stdout + out.stderr).strip()[-1500:]}")


def _mariadb_database(base_url: str) -> tuple[str, object]:
    """A new, empty database on the server of *base_url*: its URL, and how to drop it."""
    from sqlalchemy import create_engine, text  # only when MariaDB is measured

    name = f"gridauth_bench_{os.getpid()}_{secrets.token_hex(3)}"
    engine = create_engine(base_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    except Exception as exc:
        engine.dispose()
        raise SetupError(f"cannot create a database on {base_url}: {exc}") from None

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()

    return f"{base_url.rstrip('/')}/{name}", drop


def start_gridauth(cpu: str | None, workdir: Path, database: str, mysql_url: str, processes: int, alg: str,
                   password: str, src: Path | None = None) -> Server:
    """``gridauth serve`` on a copy of the example configuration signing with *alg*, on a fresh database.

    *database* is "sqlite" or "mariadb" (a new database on *mysql_url*); alice's password is *password*.
    """
    home = workdir / f"gridauth-{database}-{processes}-{alg}"
    home.mkdir()
    config = home / "gridauth.cfg"
    text = EXAMPLE.read_text()
    if "SigningAlgorithm = RS256" not in text:
        raise SetupError(f"{EXAMPLE} no longer says 'SigningAlgorithm = RS256': update benchmarks/servers.py")
    config.write_text(text.replace("SigningAlgorithm = RS256", f"SigningAlgorithm = {alg}"))
    cleanup = []
    if database == "sqlite":
        db_url = f"sqlite:///{home / 'gridauth.sqlite'}"
    else:
        db_url, drop = _mariadb_database(mysql_url)
        cleanup.append(drop)
    env = {**os.environ, "GRIDAUTH_STATE_DIR": str(home), "GRIDAUTH_CONFIG": str(config), "GRIDAUTH_DB": db_url}
    if src is not None:  # another version of gridauth (benchmarks/interleave.py): its commands and its server
        env["PYTHONPATH"] = str(src)
    try:
        _gridauth(["db", "init"], env)
        _gridauth(["admin", "passwd", "alice"], env, stdin=password + "\n")
        port = free_port()
        server = _start(f"gridauth {database} {processes}p {alg}",
                        [*GRIDAUTH, "serve", "--port", str(port), "--processes", str(processes), "--log-level",
                         "WARNING"], cpu, home, "/health", port, env=env)
    except BaseException:
        for undo in reversed(cleanup):
            undo()
        raise
    server.cleanup = cleanup
    return server

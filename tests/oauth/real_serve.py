"""A real ``gridauth serve`` process for the operator-signal tests (metrics across workers, JSON logs).

Started as ``python -m gridauth.cli.main serve`` in a new interpreter (so prometheus-client is imported
the way production imports it), in its own session so that the whole process group can be stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness import Reply, http

Sample = tuple[str, frozenset[tuple[str, str]]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Serve:
    """A running ``gridauth serve``; its standard error and output go to :attr:`log`."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def post(self, path: str, data: dict[str, str] | bytes | None, auth: tuple[str, str] | None = None,
             **kw: Any) -> Reply:
        """POST to *path*."""
        return http(self.url + path, data, auth, **kw)

    def get(self, path: str, **kw: Any) -> Reply:
        """GET *path*."""
        return http(self.url + path, **kw)

    def log_text(self) -> str:
        """Everything the server has logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """SIGTERM the parent, as an init system would, and wait for the whole group."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def start_serve(config: Path, db_url: str, tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> Serve:
    """Start ``gridauth serve`` on *config* and *db_url* with *extra* options (and *env* added to the
    environment); return once /health answers."""
    port = _free_port()
    log = tmp_path / f"serve-{port}.log"
    given = env or {}
    env = {**os.environ, "GRIDAUTH_STATE_DIR": str(tmp_path / "state")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(given)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gridauth.cli.main", "serve", "--config", str(config),
                                 "--db", db_url, "--port", str(port), *extra],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Serve(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if http(server.url + "/health").status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"gridauth serve did not start:\n{server.log_text()}")


def serving(config: Path, db_url: str, tmp_path: Path, *extra: str,
            env: dict[str, str] | None = None) -> Iterator[Serve]:
    """:func:`start_serve` for a fixture: yields the server, stops it afterwards."""
    server = start_serve(config, db_url, tmp_path, *extra, env=env)
    try:
        yield server
    finally:
        server.stop()


def parse_metrics(text: str) -> dict[Sample, float]:
    """Every sample of a Prometheus text exposition, keyed by (name, labels)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(server: Any) -> dict[Sample, float]:
    """GET /metrics of *server* (a harness Service or a :class:`Serve`) and parse it."""
    reply = server.get("/metrics")
    log = server.log_text()[-4000:] if hasattr(server, "log_text") else ""
    assert reply.status == 200, f"{reply.body!r}\n{log}"
    assert reply.headers["Content-Type"].startswith("text/plain; version="), reply.headers
    text = reply.body.decode() if isinstance(reply.body, bytes) else str(reply.body)
    return parse_metrics(text)


def value(samples: dict[Sample, float], name: str, **labels: str) -> float:
    """The value of sample *name* with exactly *labels* (0 when absent: a counter not yet touched)."""
    return samples.get((name, frozenset(labels.items())), 0.0)

"""Fixtures of the command-line client tests: a real gridauth server in this process, the real ``gridauth`` command.

The server is the shared one of tests/harness.py, with two differences: its issuer is its real loopback
URL (the client checks that discovery names the issuer it was given), and the device flow polls
every second (``DeviceCodeInterval = 1``) so that a login takes about a second.

``gridauth`` runs as a subprocess with HOME, the XDG directories and ``BEARER_TOKEN_FILE`` in the
test's temporary directory and no display (no browser is ever opened). The test approves the
device flow through the pages, as a person would, with a cookie-keeping :class:`Browser`.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gridauth.config import cfgfile
from harness import Browser, bind
from harness import Service as HarnessService

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "etc" / "gridauth.cfg"
COMMAND_TIMEOUT = 60


# -- the server ----------------------------------------------------------------------------------
def service_config(path: Path, issuer: str, extra_client: str = "") -> Path:
    """The example configuration with *issuer*, a one-second device-flow interval and maybe one more client."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in (("DeviceCodeInterval = 5", f"issuer = {issuer}\n      DeviceCodeInterval = 1"),):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    if extra_client:
        marker = "      Clients\n      {\n"
        assert text.count(marker) == 1
        text = text.replace(marker, marker + extra_client)
    path.write_text(text, encoding="utf-8")
    return path


def Service(directory: Path, extra_client: str = "", users: tuple[str, ...] = ("alice",)) -> HarnessService:  # noqa: N802
    """The shared in-process service (tests/harness.py), its issuer being its own URL, on a fresh SQLite database."""
    sockets, url = bind()
    config = service_config(directory / "gridauth.cfg", url, extra_client)
    return HarnessService(config, f"sqlite:///{directory / 'db.sqlite'}", sockets, url, users)


def without_dpop(service: HarnessService) -> None:
    """Let the server ignore the command line's DPoP proofs, for a test that moves the server's (virtual) clock
    hours ahead of the command's: its proofs would look that old (``invalid_dpop_proof``), which is not what
    such a test is about."""
    path = "/DIRAC/Security/Authorization/Clients/gridauth-cli/DPoP"
    service.edit(lambda cfg: cfgfile.set_option(cfg, path, "off"))


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """A running service (SQLite) on the example configuration; alice has a local password."""
    directory = tmp_path / "server"
    directory.mkdir()
    svc = Service(directory)
    yield svc
    svc.stop()


# -- the person in front of the browser ----------------------------------------------------------
# -- the gridauth command ------------------------------------------------------------------------
class Running:
    """A ``gridauth`` process in the background whose stdout is read line by line as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._threads = [threading.Thread(target=self._pump, args=(proc.stdout, self._queue), daemon=True),
                         threading.Thread(target=lambda: self._stderr.extend(proc.stderr or []), daemon=True)]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream: Any, out: queue.Queue[str | None]) -> None:
        for line in stream:
            out.put(line)
        out.put(None)

    def expect(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """Wait for a stdout line matching *pattern*; its match."""
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s: {self.lines}") from None
            if line is None:
                self.proc.wait(timeout=10)
                raise AssertionError(f"gridauth exited ({self.proc.returncode}) before printing {pattern!r}:\n"
                                     f"{''.join(self.lines)}{''.join(self._stderr)}")
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def finish(self, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Wait for the end; everything it printed."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        for thread in self._threads:
            thread.join(timeout=10)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, "".join(self.lines),
                                           "".join(self._stderr))


@dataclass
class Cli:
    """Runs the real ``gridauth`` command in an isolated user environment (HOME, XDG dirs, bearer token file)."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def bearer(self) -> Path:
        """Where the access token is expected ($BEARER_TOKEN_FILE of this environment)."""
        return Path(self.env["BEARER_TOKEN_FILE"])

    @property
    def client_dir(self) -> Path:
        """The client's state directory ($XDG_STATE_HOME/gridauth/client)."""
        return Path(self.env["XDG_STATE_HOME"]) / "gridauth" / "client"

    @property
    def refresh_file(self) -> Path:
        """The stored refresh token."""
        return self.client_dir / "refresh_token"

    @staticmethod
    def argv(*args: str) -> list[str]:
        """The argv of ``gridauth ARGS``."""
        return [sys.executable, "-m", "gridauth.cli.main", *args]

    def run(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run ``gridauth ARGS`` to the end."""
        return subprocess.run(self.argv(*args), env=env or self.env, cwd=self.root, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def many(self, *commands: tuple[str, ...], env: dict[str, str] | None = None
             ) -> list[subprocess.CompletedProcess[str]]:
        """Run independent commands side by side (each costs about a second of start-up); results in order."""
        running = [self.spawn(*args, env=env) for args in commands]
        return [r.finish() for r in running]

    def spawn(self, *args: str, env: dict[str, str] | None = None, stderr: int = subprocess.PIPE) -> Running:
        """Start ``gridauth ARGS`` in the background (*stderr*: a file descriptor, e.g. a pseudo-terminal)."""
        return Running(subprocess.Popen(self.argv(*args), env=env or self.env, cwd=self.root, text=True,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr))

    def login(self, service: Service, *args: str, user: str = "alice", group: str = "dteam_user",
              button: str = "approve", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``gridauth login --issuer <service> ARGS``, approved (or denied) by *user* through the pages."""
        running = self.spawn("login", "--issuer", service.url, *args, env=env)
        url = running.expect(r"or open directly: (\S+)").group(1)
        page = Browser(service).approve_device(url, user, group, button)
        assert ("Device connected" if button == "approve" else "Request denied") in page, page
        return running.finish()


def user_env(root: Path) -> dict[str, str]:
    """A user's environment inside *root*: no display, no inherited gridauth or token variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GRIDAUTH_", "XDG_", "BEARER_TOKEN")) and k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                                                    "BROWSER")}
    runtime = root / "run"
    for name in ("home", "config", "state", "run"):
        (root / name).mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    env.update({"HOME": str(root / "home"), "XDG_CONFIG_HOME": str(root / "config"),
                "XDG_STATE_HOME": str(root / "state"), "XDG_RUNTIME_DIR": str(runtime),
                "BEARER_TOKEN_FILE": str(root / "bt"), "GRIDAUTH_TIMEOUT": "10", "PYTHONUNBUFFERED": "1"})
    return env


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The gridauth command for one user whose files live in tmp_path/user."""
    root = tmp_path / "user"
    return Cli(root, user_env(root))


def assert_one_line_failure(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """A clean failure: this exit status, one ``gridauth: error:`` line on stderr, no traceback."""
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gridauth: error: "), result.stderr
    return lines[0]


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (unverified; the server introspects it where it matters)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

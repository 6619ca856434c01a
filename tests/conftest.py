"""Shared fixtures of the configuration tests: a private copy of the example, the real command, a real server.

Nothing is mocked: ``gridauth`` commands run in separate processes on files in a temporary directory
(see :class:`Gridauth`), and the server is a real ``gridauth serve`` process answering HTTP on
127.0.0.1. Independent commands run side by side (:meth:`Gridauth.spawn`, :meth:`Gridauth.many`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import stop_process

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
EXAMPLE = REPO / "etc" / "gridauth.cfg"
DATA = TESTS / "data"
COMMAND_TIMEOUT = 60

Args = Sequence[str | os.PathLike[str]]


# -- helpers (exposed to the test modules through the ``helpers`` fixture) ----------------------
def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
             what: str = "condition") -> Any:
    """Poll *predicate* until it returns something truthy; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def hand_edit(path: Path, text: str) -> None:
    """Change the file outside gridauth, in one step (a new file renamed over it, as editors do)."""
    tmp = path.with_name(f"hand-edit-{os.getpid()}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def replace_once(text: str, old: str, new: str) -> str:
    """``text.replace(old, new)`` insisting that *old* occurs exactly once (keeps mutations honest)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def assert_clean_failure(result: subprocess.CompletedProcess[str], exit_code: int | None = None,
                         one_line: bool = False) -> list[str]:
    """A refused command: non-zero exit, no traceback, every stderr line a ``gridauth:`` message."""
    assert result.returncode != 0, f"command unexpectedly succeeded:\n{result.stdout}{result.stderr}"
    if exit_code is not None:
        assert result.returncode == exit_code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "no error message on stderr"
    assert all(line.startswith("gridauth:") for line in lines), result.stderr
    if one_line:
        assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    return lines


class Helpers:
    """Namespace of the helpers above, handed to tests by the ``helpers`` fixture."""

    wait_for = staticmethod(wait_for)
    hand_edit = staticmethod(hand_edit)
    replace_once = staticmethod(replace_once)
    clean_failure = staticmethod(assert_clean_failure)


@pytest.fixture
def helpers() -> type[Helpers]:
    """Polling, hand edits, checked text replacement and the clean-failure check."""
    return Helpers


# -- the gridauth command ------------------------------------------------------------------------
def gridauth_env(state_dir: Path) -> dict[str, str]:
    """Environment for gridauth subprocesses: private state dir, fixed author, no inherited config."""
    state_dir.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ)
    for name in ("GRIDAUTH_CONFIG", "GRIDAUTH_CONFIG_STORE", "GRIDAUTH_DB", "GRIDAUTH_AUTHOR"):
        environment.pop(name, None)
    environment.update({"GRIDAUTH_STATE_DIR": str(state_dir), "GRIDAUTH_AUTHOR": "tester",
                        "PYTHONUNBUFFERED": "1"})
    return environment


# A fork server for gridauth commands. Every fresh interpreter spends most of a second importing what
# gridauth.cli.main imports (sqlalchemy, authlib, tornado, ... for every subcommand); this process
# imports it once, then runs each command in a child forked from it: a separate process with its own
# arguments, environment, working directory, stdout, stderr and exit status, running the same
# ``main()`` that ``python -m gridauth.cli.main`` runs. A "waiter" process between the two records
# the exit status in a file, since only a parent can collect it.
FORK_SERVER = r"""
import json, os, signal, sys, traceback
import gridauth.cli.main
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the waiters are reaped automatically
sys.stdout.write("ready\n")
sys.stdout.flush()
while line := sys.stdin.readline():
    request = json.loads(line)
    if os.fork():
        continue
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid:  # the waiter
        with open(request["pid"], "w") as handle:
            handle.write(str(pid))
        _, status = os.waitpid(pid, 0)
        with open(request["code"] + ".part", "w") as handle:
            handle.write(str(os.waitstatus_to_exitcode(status)))
        os.rename(request["code"] + ".part", request["code"])
        os._exit(0)
    # the command
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path in ((0, os.devnull), (1, request["out"]), (2, request["err"])):
        opened = os.open(path, os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(os.devnull)
    sys.argv = ["gridauth", *request["argv"]]
    try:
        code = gridauth.cli.main.main()
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
        code = 1
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
"""


class ForkServer:
    """The running fork server (see FORK_SERVER) and the directory of its commands' outputs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log = directory / "fork-server.log"
        self.count = 0
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", FORK_SERVER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, text=True, cwd=directory)
        if self.proc.stdout.readline() != "ready\n":
            raise RuntimeError(f"the gridauth fork server did not start:\n{self.log.read_text()}")

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> Forked:
        """Fork a child that runs ``gridauth ARGV``."""
        self.count += 1
        base = self.directory / str(self.count)
        paths = {name: str(base) + "." + name for name in ("out", "err", "code", "pid")}
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "cwd": str(cwd), **paths}) + "\n")
        self.proc.stdin.flush()
        return Forked(argv, {name: Path(path) for name, path in paths.items()})

    def stop(self) -> None:
        """End the fork server (its children end on their own)."""
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@dataclass
class Forked:
    """A command running in a child of the fork server."""

    argv: list[str]
    paths: dict[str, Path]

    def wait(self) -> subprocess.CompletedProcess[str]:
        """Wait for the command to end; its exit status and what it printed."""
        try:
            wait_for(self.paths["code"].exists, timeout=COMMAND_TIMEOUT, interval=0.005,
                     what=f"gridauth {' '.join(self.argv)}")
        except AssertionError:
            if self.paths["pid"].exists():  # our own child: do not leave it running
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(self.paths["pid"].read_text()), signal.SIGKILL)
            raise
        read = {name: self.paths[name].read_text(encoding="utf-8", errors="replace") for name in ("out", "err")}
        return subprocess.CompletedProcess(["gridauth", *self.argv], int(self.paths["code"].read_text()),
                                           read["out"], read["err"])


@dataclass
class Executed:
    """A command running as ``python -m gridauth.cli.main`` in a new interpreter."""

    proc: subprocess.Popen[str]

    def wait(self) -> subprocess.CompletedProcess[str]:
        """Wait for the command to end; its exit status and what it printed."""
        try:
            out, err = self.proc.communicate(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


@pytest.fixture(scope="session")
def fork_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer | None]:
    """The fork server, or None when ``GRIDAUTH_TEST_EXEC=1`` asks for a new interpreter per command."""
    if os.environ.get("GRIDAUTH_TEST_EXEC") == "1":
        yield None
        return
    server = ForkServer(tmp_path_factory.mktemp("commands"))
    yield server
    server.stop()


@dataclass
class Gridauth:
    """Runs the real ``gridauth`` command line in separate processes and collects what they did.

    By default through the fork server; with ``exec_=True`` (or ``GRIDAUTH_TEST_EXEC=1`` for every
    command) as ``python -m gridauth.cli.main ARGS`` in a new interpreter.
    """

    env: dict[str, str]
    cwd: Path
    forks: ForkServer | None = None

    @staticmethod
    def argv(*args: str | os.PathLike[str]) -> list[str]:
        """The argv that runs ``gridauth ARGS`` in a new interpreter."""
        return [sys.executable, "-m", "gridauth.cli.main", *map(str, args)]

    def start(self, args: Args, env: dict[str, str] | None = None, exec_: bool = False) -> Forked | Executed:
        """Start ``gridauth ARGS`` without waiting for it."""
        environment = env or self.env
        if self.forks is None or exec_:
            return Executed(subprocess.Popen(self.argv(*args), env=environment, cwd=self.cwd, text=True,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        return self.forks.start([str(a) for a in args], environment, self.cwd)

    def __call__(self, *args: str | os.PathLike[str], env: dict[str, str] | None = None, ok: bool | None = None,
                 exec_: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``gridauth ARGS`` and wait; with ok=True (False) also assert it succeeded (failed)."""
        result = self.start(args, env, exec_).wait()
        _check(args, result, ok)
        return result

    def spawn(self, commands: Sequence[Args], envs: Sequence[dict[str, str]] | None = None,
              exec_: bool = False) -> Batch:
        """Start independent commands side by side, in the background (*envs*: one environment each)."""
        envs = envs or [self.env] * len(commands)
        return Batch([self.start(args, environment, exec_) for args, environment in zip(commands, envs, strict=True)])

    def many(self, commands: Sequence[Args], ok: bool | None = None, envs: Sequence[dict[str, str]] | None = None,
             exec_: bool = False) -> list[subprocess.CompletedProcess[str]]:
        """Run independent commands side by side and wait for all; results in the order given."""
        results = self.spawn(commands, envs, exec_).results()
        for args, result in zip(commands, results, strict=True):
            _check(args, result, ok)
        return results

    def json(self, *args: str | os.PathLike[str]) -> Any:
        """Run a command with ``--json`` and decode what it printed."""
        return json.loads(self(*args, "--json", ok=True).stdout)


@dataclass
class Batch:
    """Commands running in the background; :meth:`results` waits for them (once)."""

    running: list[Forked | Executed]
    _results: list[subprocess.CompletedProcess[str]] | None = None

    def results(self) -> list[subprocess.CompletedProcess[str]]:
        """Wait for every command; their results in the order they were given."""
        if self._results is None:
            self._results = [command.wait() for command in self.running]
        return self._results


def _check(args: Args, result: subprocess.CompletedProcess[str], ok: bool | None) -> None:
    command = " ".join(map(str, args))
    if ok is True:
        assert result.returncode == 0, f"gridauth {command} failed ({result.returncode}):\n{result.stderr}"
    elif ok is False:
        assert result.returncode != 0, f"gridauth {command} unexpectedly succeeded"


@pytest.fixture
def ga_env(tmp_path: Path) -> dict[str, str]:
    """The environment of this test's gridauth commands."""
    return gridauth_env(tmp_path / "state")


@pytest.fixture
def gridauth(ga_env: dict[str, str], tmp_path: Path, fork_server: ForkServer | None) -> Gridauth:
    """The gridauth command, run in tmp_path with a private state directory."""
    return Gridauth(ga_env, tmp_path, fork_server)


@pytest.fixture(scope="module")
def module_gridauth(tmp_path_factory: pytest.TempPathFactory, fork_server: ForkServer | None) -> Gridauth:
    """The gridauth command for module-scoped fixtures that run many commands at once."""
    base = tmp_path_factory.mktemp("module")
    return Gridauth(gridauth_env(base / "state"), base, fork_server)


# -- configuration files -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def example_text() -> str:
    """The repository's example configuration (read only: never edited in place)."""
    return EXAMPLE.read_text(encoding="utf-8")


def copy_example(directory: Path, name: str = "gridauth.cfg") -> Path:
    """Copy etc/gridauth.cfg into *directory* (created); return the copy."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    shutil.copyfile(EXAMPLE, target)
    return target


@pytest.fixture(scope="session")
def example_copier() -> Callable[..., Path]:
    """:func:`copy_example`, for module-scoped fixtures that need copies of their own."""
    return copy_example


@pytest.fixture
def cfg_copy(tmp_path: Path) -> Path:
    """A private copy of etc/gridauth.cfg, alone in its own directory."""
    return copy_example(tmp_path / "etc")


# -- a real server -------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    return free_port()


@dataclass
class Server:
    """A running ``gridauth serve`` process; its standard error (the log) goes to a file."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def get_json(self, path: str) -> Any:
        """GET *path* on the server; the decoded JSON body of a 200 answer."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
            assert response.status == 200
            return json.loads(response.read().decode("utf-8"))

    def health(self) -> dict[str, Any]:
        """The ``config`` part of ``/health``."""
        body = self.get_json("/health")
        assert body["status"] == "ok"
        return body["config"]

    def log_text(self) -> str:
        """Everything the server wrote to its standard error so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def answers(self) -> bool:
        """Whether /health answers now (fails the test if the process died)."""
        if self.proc.poll() is not None:
            raise AssertionError(f"gridauth serve exited with {self.proc.returncode}:\n{self.log_text()}")
        try:
            self.get_json("/health")
        except (urllib.error.URLError, OSError):
            return False
        return True


@pytest.fixture
def start_server(gridauth: Gridauth, tmp_path: Path) -> Iterator[Callable[[Path], Server]]:
    """Start ``gridauth serve --reload-interval 0.2`` on a file; each server is stopped at teardown."""
    started: list[Server] = []

    def start(config: Path) -> Server:
        for attempt in range(3):
            port = free_port()
            log = tmp_path / f"serve-{port}.stderr"
            with open(log, "wb") as errors, open(tmp_path / f"serve-{port}.stdout", "wb") as output:
                proc = subprocess.Popen(
                    gridauth.argv("serve", "--config", config, "--host", "127.0.0.1", "--port", str(port),
                                  "--reload-interval", "0.2", "--db", f"sqlite:///{tmp_path / 'serve.sqlite'}"),
                    env=gridauth.env, cwd=tmp_path, stdout=output, stderr=errors)
            server = Server(proc, port, log)
            started.append(server)
            try:
                wait_for(server.answers, timeout=30, what="gridauth serve to answer /health")
            except AssertionError:
                if attempt < 2 and "Address already in use" in server.log_text():
                    continue  # another process took the port between free_port() and bind
                raise
            return server
        raise AssertionError("no free port")

    yield start
    for server in started:
        stop_process(server.proc)

"""The command examples in docs/ are run, in order, and must print what the docs say they print.

A fenced block whose lines start with ``$ `` is an example: each ``$`` line is a command (a trailing
``\\`` continues it), the lines after it up to the next ``$`` line are what it prints (stdout, then
stderr), and ``# exit N`` at the end of an output line is the exit status it must end with (else 0).
The examples of one document run one after another in one sandbox: a fresh copy of the example
configuration as ``gridauth.cfg`` in the working directory, ``$GRIDAUTH_CONFIG`` pointing at it, a
private state directory, and ``alice`` as the author of edits. The paths the docs show (``/tmp/gdemo``,
``/tmp/gdoc``) stand for the sandbox.

What changes from run to run is masked on both sides before comparing: times, secrets, salted
hashes, configuration fingerprints, key ids, tokens, ``Etag``; the ``Date`` and ``Server`` headers every
reply has are left out, as the docs leave them out. An output line ``...`` stands for any number of lines.

Directives, in an HTML comment just before the block (invisible when the docs are read):
``<!-- docs-test: skip REASON -->`` for an example that cannot run here (it needs a running server, a
terminal, a lock held by a second editor); ``<!-- docs-test: alone -->`` for one that runs in a
sandbox of its own, so that it neither sees nor changes the state the other examples share;
``<!-- docs-test: setup COMMAND -->`` to run COMMAND, unshown and unchecked, before the block (state
the docs describe in prose); ``<!-- docs-test: server -->`` for requests to a running server: a real
``gridauth serve`` on the sandbox, started once per document, stands for the addresses the docs show
(``127.0.0.1:1843x``); its issuer, unset in the example configuration, is ``http://localhost:18431``
as it would be for ``gridauth serve --port 18431``. Every example is either run or skipped with a reason: a new example
cannot escape the test unnoticed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
EXAMPLE = REPO / "etc" / "gridauth.cfg"
DOC_PATHS = ("/tmp/gdemo", "/tmp/gdoc")
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(skip|alone|setup|server)\b\s*(.*?)\s*-->")
# The addresses the docs show for a running server, and what they stand for in the test.
DOC_SERVER = re.compile(r"(127\.0\.0\.1|localhost):1843\d")
# Files the docs validate without showing them: the test suite's broken configurations.
DOC_FILES = {"syntax.cfg": REPO / "tests" / "data" / "docs" / "syntax.cfg",
             "semantic.cfg": REPO / "tests" / "data" / "docs" / "semantic.cfg"}
EXIT = re.compile(r"\s+# exit (\d+)$")
MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"), "<time>"),
    (re.compile(r"pbkdf2_sha256\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+"), "<hash>"),
    (re.compile(r"\bsha256\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+"), "<hash>"),
    (re.compile(r'(?<=client_secret: )[A-Za-z0-9_-]{43}|(?<="client_secret": ")[A-Za-z0-9_-]{43}'), "<secret>"),
    (re.compile(r"(?<=signing key )[A-Za-z0-9_-]{16}(?![A-Za-z0-9_-])|^[A-Za-z0-9_-]{16}(?=\t)", re.M), "<kid>"),
    (re.compile(r"\b[0-9a-f]{16}\b"), "<fingerprint>"),
    (re.compile(r"^(Date|Server): .*\r?\n", re.M), ""),  # the docs leave out what every reply has
    (re.compile(r"^Etag: .*$", re.M), "Etag: <varies>"),
    (re.compile(r'(?<="kid": ")[A-Za-z0-9_-]{16}|(?<="n": ")[A-Za-z0-9_-]+'), "<key>"),
    (re.compile(r"eyJ[A-Za-z0-9_-]*(\.[A-Za-z0-9_.-]+)?…?"), "<jwt>"),  # the docs may cut a token short with …
    (re.compile(r"(?<=version )\d+|(?<=\"version\": )\d+"), "<n>"),
)


@dataclass
class Command:
    """One ``$`` line of a doc, what it should print, and the status it should end with."""

    line: int
    text: str
    output: list[str] = field(default_factory=list)
    exit_code: int = 0


@dataclass
class Example:
    """One fenced block of commands, with the directive written before it (if any)."""

    doc: str
    line: int
    commands: list[Command]
    directive: str = ""
    reason: str = ""


def parse(doc: Path) -> list[Example]:
    """Every fenced block of *doc* that holds ``$`` commands, in document order."""
    examples: list[Example] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    directive, reason, fence = "", "", None
    for number, line in enumerate(lines, 1):
        if fence is None:
            found = DIRECTIVE.search(line)
            if found:
                directive, reason = found.group(1), found.group(2)
            elif line.startswith("```"):
                fence = (number, [])
            elif line.strip():
                directive, reason = "", ""
            continue
        if not line.startswith("```"):
            fence[1].append((number, line))
            continue
        commands = _commands(fence[1])
        if commands:
            examples.append(Example(doc.name, fence[0], commands, directive, reason))
        directive, reason, fence = "", "", None
    return examples


def _commands(block: list[tuple[int, str]]) -> list[Command]:
    commands: list[Command] = []
    continued = False
    for number, line in block:
        if continued:
            commands[-1].text = commands[-1].text[:-1] + " " + line.strip()
        elif line.startswith("$ "):
            commands.append(Command(number, line[2:]))
        elif commands:
            status = EXIT.search(line)
            if status:
                commands[-1].exit_code = int(status.group(1))
                line = line[:status.start()]
            commands[-1].output.append(line.rstrip())
        continued = bool(commands) and commands[-1].text.endswith("\\") and not commands[-1].output
    return commands


def mask(text: str, sandbox: Path, port: int = 0) -> str:
    """*text* with the sandbox path and server address shown as the docs show them and every
    run-dependent value masked."""
    if port:
        text = text.replace(f"127.0.0.1:{port}", "127.0.0.1:18431").replace(f"localhost:{port}", "localhost:18431")
    text = DOC_SERVER.sub(lambda found: f"{found[1]}:18431", text)
    text = text.replace(str(sandbox), DOC_PATHS[0])
    for path in DOC_PATHS[1:]:
        text = text.replace(path, DOC_PATHS[0])
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def matches(expected: list[str], out: list[str], err: list[str]) -> bool:
    """Whether *expected* is stdout's and stderr's lines interleaved (each in its own order), as a
    terminal shows them; an expected ``...`` stands for any lines of either stream."""

    @functools.cache
    def rest(e: int, o: int, r: int) -> bool:
        if e == len(expected):
            return o == len(out) and r == len(err)
        if expected[e].strip() == "...":
            return any(rest(e + 1, i, j) for i in range(o, len(out) + 1) for j in range(r, len(err) + 1))
        return ((o < len(out) and out[o] == expected[e] and rest(e + 1, o + 1, r))
                or (r < len(err) and err[r] == expected[e] and rest(e + 1, o, r + 1)))

    return rest(0, 0, 0)


def new_sandbox(root: Path) -> tuple[Path, dict[str, str]]:
    """A directory with a fresh copy of the example configuration, and the environment to run in it."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shutil.copy(EXAMPLE, root / "gridauth.cfg")
    for name, source in DOC_FILES.items():
        shutil.copy(source, root / name)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRIDAUTH_")}
    env.update(GRIDAUTH_CONFIG=str(root / "gridauth.cfg"), GRIDAUTH_STATE_DIR=str(root / "state"),
               GRIDAUTH_AUTHOR="alice", PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
               PYTHONUNBUFFERED="1")
    return root, env


def run(command: str, sandbox: Path, env: dict[str, str], port: int = 0) -> subprocess.CompletedProcess[str]:
    """Run one doc command with bash in *sandbox*; the doc's paths stand for the sandbox, and its
    server addresses for the server on *port*."""
    for path in DOC_PATHS:
        command = command.replace(path, str(sandbox))
    if port:
        command = DOC_SERVER.sub(lambda found: f"{found[0].split(':')[0]}:{port}", command)
    return subprocess.run(["bash", "-c", command], cwd=sandbox, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


DOCUMENTS = sorted(path.name for path in DOCS.glob("*.md") if parse(path))


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_example_is_run_or_skipped_with_a_reason(name):
    for example in parse(DOCS / name):
        assert example.directive != "skip" or example.reason, f"{name}:{example.line}: a skip needs its reason"
        runnable = all(_runnable(command.text, example.directive == "server") for command in example.commands)
        assert runnable or example.directive == "skip", (
            f"{name}:{example.line}: this example needs more than the gridauth command; run it here or mark it "
            f"<!-- docs-test: skip REASON -->")


def _runnable(command: str, server: bool) -> bool:
    words = command.split()
    if server and words and words[0] == "curl":
        return "$" not in command  # a token from an earlier step is not at hand
    return bool(words) and words[0] in {"gridauth", "echo", "sed", "grep", "cat", "ls", "stat"}


class Server:
    """A real ``gridauth serve`` on a document's sandbox, started at its first ``server`` example."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self, sandbox: Path, env: dict[str, str]) -> int:
        """Start the server once; return its port."""
        if self.process is None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            self.process = subprocess.Popen(["gridauth", "serve", "--port", str(self.port)], cwd=sandbox, env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
            deadline = time.monotonic() + 30
            while not self._answers():
                assert self.process.poll() is None and time.monotonic() < deadline, "gridauth serve did not start"
                time.sleep(0.1)
        return self.port

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server if it was started."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_examples_print_what_the_docs_say(name, tmp_path):
    shared = new_sandbox(tmp_path / "doc")
    server = Server()
    try:
        failures = [failure for example in parse(DOCS / name) if example.directive != "skip"
                    for failure in _check(example, shared, server, tmp_path)]
    finally:
        server.stop()
    assert not failures, "\n\n".join(failures)


def _check(example: Example, shared: tuple[Path, dict[str, str]], server: Server, tmp_path: Path) -> list[str]:
    """Run one example; return a description of every command whose output or status differs."""
    sandbox, env = new_sandbox(tmp_path / f"alone-{example.line}") if example.directive == "alone" else shared
    port = server.start(sandbox, env) if example.directive == "server" else 0
    if example.directive == "setup":
        prepared = run(example.reason, sandbox, env)
        assert prepared.returncode == 0, f"{example.doc}:{example.line}: setup failed: {prepared.stderr}"
    failures: list[str] = []
    for command in example.commands:
        done = run(command.text, sandbox, env, port)
        expected = mask("\n".join(command.output), sandbox).splitlines()
        out, err = mask(done.stdout, sandbox, port).splitlines(), mask(done.stderr, sandbox, port).splitlines()
        if done.returncode != command.exit_code or not matches(expected, out, err):
            failures.append(f"{example.doc}:{command.line}: $ {command.text}\n  exit {done.returncode} "
                            f"(docs: {command.exit_code})\n  docs say:\n    " + "\n    ".join(expected)
                            + "\n  it printed:\n    " + "\n    ".join(out + err))
    return failures

"""``gridauth serve --processes 2`` reads and validates the configuration once, in the parent, before
forking: the workers serve the snapshot they inherit (a registry of 10,000 users costs about half a
second per read), and still follow later edits of the file on their own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from gridauth.config.cfgfile import set_option
from gridauth.config.store import ConfigStore

from .conftest import http
from .test_multiprocess import _free_port

READ = re.compile(r"^\S+ \S+ (\d+) DEBUG gridauth\.config: configuration \S+ read in ", re.M)
SERVING = re.compile(r"^\S+ \S+ (\d+) INFO gridauth\.serve: gridauth serving ", re.M)


def _wait_for(check, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.1)


def test_workers_inherit_the_registry_read_before_the_fork(config_file, db_url, tmp_path):
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "GRIDAUTH_STATE_DIR": str(tmp_path / "state")}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gridauth.cli.main", "serve", "--config", str(config_file),
                                 "--db", db_url, "--port", str(port), "--processes", "2", "--log-level", "DEBUG",
                                 "--reload-interval", "0.2"], stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        _wait_for(lambda: len(SERVING.findall(log.read_text())) == 2, "two workers serving")
        text = log.read_text()
        reads, workers = READ.findall(text), set(SERVING.findall(text))
        assert len(reads) == 1 and int(reads[0]) == proc.pid, text  # the parent's, before the fork
        assert str(proc.pid) not in workers and len(workers) == 2
        url = f"http://127.0.0.1:{port}"
        assert http(url + "/health").body["config"]["users"] == 3
        ConfigStore(config_file).edit(lambda cfg: set_option(cfg, "/Registry/Users/dave/DN", "/CN=Dave"), "test")
        _wait_for(lambda: all(http(url + "/health").body["config"]["users"] == 4 for _ in range(6)),
                  "every worker serving the edit")
        assert {pid for pid in READ.findall(log.read_text())} - {str(proc.pid)} == workers  # each its own reload
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)

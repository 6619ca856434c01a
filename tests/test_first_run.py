"""A first run from the README: ``gridauth serve`` on the example, one command to set a password, a sign-in.

The example configuration names no issuer: the server is its own issuer, ``http://localhost:<port>``
of ``--port``, in every worker. It says at start how to set a first password, and warns when a
pinned issuer names another port than the one it listens on.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gridauth.cli.first_run import password_hint
from gridauth.config.builder import issuer_port_warning, load_text, local_issuer
from harness import EXAMPLE, Browser, Service, http, stop_process


def test_the_example_names_no_issuer_and_defaults_to_8080() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert not re.search(r"^\s*issuer\s*=", text, re.M)
    assert load_text(text).settings.issuer == "http://localhost:8080"
    assert load_text(text, default_issuer=local_issuer(9000)).settings.issuer == "http://localhost:9000"
    pinned = text.replace("      SigningAlgorithm", "      issuer = https://auth.example.org/\n      SigningAlgorithm")
    assert load_text(pinned, default_issuer=local_issuer(9000)).settings.issuer == "https://auth.example.org"


@pytest.mark.parametrize(("issuer", "port", "proxy", "warned"), [
    ("http://localhost:8080", 8080, False, False),
    ("http://localhost:8080", 9000, False, True),
    ("https://auth.example.org", 443, False, False),
    ("https://auth.example.org", 8080, False, True),
    ("https://auth.example.org", 8080, True, False),
    ("http://127.0.0.1", 80, False, False),
])
def test_issuer_port_warning(issuer: str, port: int, proxy: bool, warned: bool) -> None:
    warning = issuer_port_warning(issuer, port, proxy)
    assert bool(warning) == warned, warning
    if warning:
        assert f"listens on port {port}" in warning and "/DIRAC/Security/Authorization/issuer" in warning
        assert f"http://localhost:{port}" in warning and "--behind-proxy" in warning


def test_serve_on_another_port_is_its_own_issuer_and_says_how_to_sign_in(start_server: Any, gridauth: Any,
                                                                         tmp_path: Path) -> None:
    """README -> one passwd command (the one the log line gives) -> a working sign-in ending on the home page."""
    config = tmp_path / "gridauth.cfg"
    config.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    server = start_server(config)
    issuer = f"http://localhost:{server.port}"
    meta = server.get_json("/.well-known/openid-configuration")
    assert meta["issuer"] == issuer and meta["token_endpoint"] == issuer + "/token"
    flow = http(f"http://127.0.0.1:{server.port}/device_authorization", {"client_id": "gridauth-cli"}).body
    assert flow["verification_uri"] == issuer + "/device"
    log = server.log_text()
    assert "names port" not in log  # the issuer is not pinned: nothing to warn about
    hints = [line for line in log.splitlines() if "no local account has a password" in line]
    assert len(hints) == 1, log
    command = re.search(r"`([^`]+)`", hints[0]).group(1)
    assert command == f"gridauth admin passwd alice --config {config} --db sqlite:///{tmp_path / 'serve.sqlite'}"
    assert f"sign in at {issuer}/login" in hints[0]

    argv = shlex.split(command)
    done = subprocess.run(gridauth.argv(*argv[1:]), input="first-run-password\n", capture_output=True, text=True,
                          env=gridauth.env, timeout=60)
    assert done.returncode == 0, done.stderr

    class Here:  # what harness.Browser needs of a service: its URL
        url = f"http://127.0.0.1:{server.port}"

    browser = Browser(Here())  # type: ignore[arg-type]
    _, page, _ = browser.follow("/login")
    fields = {**browser.form_fields(page), "username": "alice", "password": "first-run-password"}
    status, page, _ = browser.follow("/login", fields)
    assert status == 200 and browser.last_url == Here.url + "/"  # no `next`: the home page, not a JSON 404
    assert "You are signed in as <strong>alice</strong>" in page and issuer in page


def test_a_pinned_issuer_on_another_port_is_warned_about(start_server: Any, tmp_path: Path) -> None:
    config = tmp_path / "gridauth.cfg"
    text = EXAMPLE.read_text(encoding="utf-8")
    pinned = text.replace("      SigningAlgorithm", "      issuer = http://localhost:1\n      SigningAlgorithm")
    config.write_text(pinned, encoding="utf-8")
    server = start_server(config)
    assert server.get_json("/.well-known/openid-configuration")["issuer"] == "http://localhost:1"
    warnings = [line for line in server.log_text().splitlines() if "names port 1 " in line]
    assert len(warnings) == 1 and f"to use http://localhost:{server.port}" in warnings[0], server.log_text()


def test_every_worker_agrees_on_the_issuer(gridauth: Any, tmp_path: Path, unused_port: int) -> None:
    config = tmp_path / "gridauth.cfg"
    config.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(gridauth.argv("serve", "--config", config, "--port", str(unused_port), "--processes",
                                              "2", "--db", f"sqlite:///{tmp_path / 'db.sqlite'}"),
                                env=gridauth.env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{unused_port}"
        deadline = time.monotonic() + 30
        while log.read_text().count("gridauth serving") != 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # both workers up
        seen = {(reply.status, reply.body["issuer"]) for reply in
                (http(url + "/.well-known/openid-configuration") for _ in range(40))}
        assert seen == {(200, f"http://localhost:{unused_port}")}, (seen, log.read_text())
        assert log.read_text().count("no local account has a password") == 1  # said once, not per worker
    finally:
        stop_process(proc)


def test_the_password_hint_only_when_local_sign_in_is_possible(tmp_path: Path) -> None:
    config = tmp_path / "gridauth.cfg"
    text = EXAMPLE.read_text(encoding="utf-8")
    config.write_text(text, encoding="utf-8")
    service = Service(config, f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        hint = password_hint(service.context, config, db_chosen=True)
        assert hint and "gridauth admin passwd alice" in hint and "--db sqlite:///" in hint
        service.context.accounts.set_password("carol", "carol-password", 0)
        assert password_hint(service.context, config, db_chosen=True) is None
    finally:
        service.stop()
    external_only = text.replace("ProviderType = Local", "ProviderType = OIDC\n      issuer = https://idp.example.org"
                                 "\n      client_id = gridauth")
    config.write_text(external_only, encoding="utf-8")  # the VOs keep naming it: now an OpenID provider
    service = Service(config, f"sqlite:///{tmp_path / 'db2.sqlite'}")
    try:
        assert password_hint(service.context, config, db_chosen=False) is None
    finally:
        service.stop()

"""The shipped systemd unit (etc/gridauth.service): systemd accepts it and ``gridauth serve`` accepts its command."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gridauth.cli.main import build_parser
from gridauth.cli.serve_cmd import cmd_serve

UNIT = Path(__file__).resolve().parents[1] / "etc" / "gridauth.service"
INSTALLED = "/opt/gridauth/bin/gridauth"


def settings() -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit (keys may repeat, e.g. Environment), comments left out."""
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_exec_start_is_a_command_serve_accepts():
    argv = shlex.split(settings()["ExecStart"][0])
    assert argv[0] == INSTALLED and argv[1] == "serve"
    args = build_parser().parse_args(argv[1:])
    assert args.func is cmd_serve and args.log_format == "json" and args.processes > 1


def test_the_unit_runs_unprivileged_restarts_and_is_hardened():
    unit = settings()
    for key, value in {"User": "gridauth", "Restart": "on-failure", "NoNewPrivileges": "yes",
                       "ProtectSystem": "strict", "PrivateTmp": "yes", "StateDirectory": "gridauth",
                       "RuntimeDirectory": "gridauth", "Type": "simple"}.items():
        assert unit[key] == [value], key
    environment = dict(entry.split("=", 1) for entry in unit["Environment"])
    assert environment["GRIDAUTH_CONFIG"] == "/etc/gridauth/gridauth.cfg"
    assert environment["GRIDAUTH_STATE_DIR"] == "/var/lib/gridauth"  # the StateDirectory, writable under strict
    assert environment["PROMETHEUS_MULTIPROC_DIR"].startswith("/run/gridauth/")  # the RuntimeDirectory


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    gridauth = Path(sys.executable).parent / "gridauth"
    assert gridauth.exists(), "the gridauth command is not installed next to this python"
    unit = tmp_path / "gridauth.service"  # the same unit, run from this installation instead of /opt/gridauth
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(INSTALLED, str(gridauth)), encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "gridauth.service" not in result.stderr, result.stderr  # others' units may warn

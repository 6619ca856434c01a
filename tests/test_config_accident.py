"""A configuration accident (an emptied or truncated file) must not reach a running service, nor pass validation."""

from __future__ import annotations

import time
from pathlib import Path

from gridauth.config import load_file

REGISTRY_START = "Registry\n{"


def truncated(text: str) -> str:
    """*text* cut just before its ``Registry`` section, as a full disk or an interrupted copy leaves it."""
    assert text.count(REGISTRY_START) == 1
    return text[:text.index(REGISTRY_START)]


def test_running_server_keeps_serving_through_a_truncated_then_an_empty_file(start_server, cfg_copy: Path,
                                                                             helpers) -> None:
    server = start_server(cfg_copy)
    good = server.health()
    text = cfg_copy.read_text(encoding="utf-8")
    for name, broken in (("truncated", truncated(text)), ("empty", "")):
        before = server.log_text().count("configuration edit refused")
        helpers.hand_edit(cfg_copy, broken)
        helpers.wait_for(lambda b=before: server.log_text().count("configuration edit refused") > b,  # type: ignore[misc]
                         what=f"the {name} file refused in the server's log")
        deadline = time.monotonic() + 1.0  # five reload intervals: still the good registry
        while time.monotonic() < deadline:
            assert server.health() == good, name
            time.sleep(0.1)
        lines = [line for line in server.log_text().splitlines() if "configuration edit refused" in line]
        assert len(lines) == before + 1, lines  # one line per refused file, not one per interval
        assert f"still serving version {good['version']}" in lines[-1]
        assert "the /Registry section" in lines[-1] and "every user" in lines[-1] and "every VO" in lines[-1]
        if name == "empty":
            assert "every client" in lines[-1] and "the /DIRAC/Security/Authorization section" in lines[-1]
    assert "Traceback" not in server.log_text()

    # the file put back: nothing to reload (the served version is that text); an edit after it is served
    helpers.hand_edit(cfg_copy, text.replace("Email = carol@example.org", "Email = carol@example.net"))
    edited = load_file(str(cfg_copy)).version
    helpers.wait_for(lambda: server.health()["version"] == edited, what="the repaired file served")


def test_validate_refuses_an_empty_or_truncated_file(gridauth, tmp_path: Path, example_text: str, helpers) -> None:
    empty, cut = tmp_path / "empty.cfg", tmp_path / "cut.cfg"
    empty.write_text("", encoding="utf-8")
    cut.write_text(truncated(example_text), encoding="utf-8")
    for path in (empty, cut):
        lines = helpers.clean_failure(gridauth("config", "validate", path), exit_code=3)
        assert "OK" not in "".join(lines)
        assert any("/Registry: missing" in line for line in lines), lines
        assert any("/Registry/Users: missing" in line for line in lines), lines


def test_serve_refuses_to_start_on_an_empty_file(gridauth, tmp_path: Path, helpers, unused_port: int) -> None:
    empty = tmp_path / "empty.cfg"
    empty.write_text("", encoding="utf-8")
    result = gridauth("serve", "--config", empty, "--port", str(unused_port),
                      "--db", f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert any("/Registry/VO: missing" in line for line in helpers.clean_failure(result, exit_code=3))

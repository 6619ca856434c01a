"""Hot reload: a running ``gridauth serve`` picks up good edits and keeps serving through bad ones."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from gridauth.config import RegistryHolder, load_file, load_text

BROKEN_GROUP = """    broken
    {
      Users = nobody
      VO = dteam
    }
"""


def with_group(text: str, group: str) -> str:
    """*text* with *group* (a section's lines) added as the last group."""
    anchor = "      VOMSRole = /lhcb\n    }\n"
    assert text.count(anchor) == 1
    return text.replace(anchor, anchor + group)


# -- in the service ----------------------------------------------------------------------------------
def test_running_server_reloads_good_edits_and_refuses_bad_ones(gridauth, start_server, cfg_copy: Path,
                                                               helpers) -> None:
    server = start_server(cfg_copy)
    first = server.health()
    assert first["version"] == load_file(str(cfg_copy)).version
    assert first["users"] == 3 and first["groups"] == 3 and first["vos"] == 2

    # a good edit through gridauth: served within moments
    gridauth("admin", "user", "add", "dave", "--groups", "dteam_user", "--config", cfg_copy, ok=True)
    good = load_file(str(cfg_copy)).version
    assert good != first["version"]
    second = helpers.wait_for(lambda: (h := server.health())["version"] == good and h, what="the new version")
    assert second["users"] == first["users"] + 1

    # a bad edit by hand: logged with its error, and the last good version keeps serving
    bad_text = with_group(cfg_copy.read_text(encoding="utf-8"), BROKEN_GROUP)
    helpers.hand_edit(cfg_copy, bad_text)
    helpers.wait_for(lambda: "/Registry/Groups/broken/Users: unknown user 'nobody'" in server.log_text(),
                     what="the refused edit in the server's log")
    log = server.log_text()
    assert f"configuration edit refused, still serving version {good}" in log
    assert "Traceback" not in log
    deadline = time.monotonic() + 2.0  # ten reload intervals
    while time.monotonic() < deadline:
        assert server.health()["version"] == good
        time.sleep(0.1)
    assert log.count("configuration edit refused") == server.log_text().count("configuration edit refused") == 1

    # fixed by hand: the fixed version is served
    fixed_text = bad_text.replace("Users = nobody", "Users = carol")
    helpers.hand_edit(cfg_copy, fixed_text)
    fixed = load_text(fixed_text).version
    third = helpers.wait_for(lambda: (h := server.health())["version"] == fixed and h, what="the fixed version")
    assert third["groups"] == 4 and third["users"] == 4
    assert f"configuration reloaded: version {fixed}" in server.log_text()


def test_server_refuses_to_start_on_an_invalid_file(gridauth, tmp_path: Path, example_text: str, helpers,
                                                    unused_port: int) -> None:
    invalid = tmp_path / "invalid.cfg"
    invalid.write_text(with_group(example_text, BROKEN_GROUP).replace("DefaultGroup = lhcb_user",
                                                                      "DefaultGroup = zed_user"), encoding="utf-8")
    database = f"sqlite:///{tmp_path / 'refused.sqlite'}"
    on_invalid, on_missing = gridauth.many([
        ("serve", "--config", invalid, "--port", str(unused_port), "--db", database),
        ("serve", "--config", tmp_path / "missing.cfg", "--port", str(unused_port), "--db", database),
    ])
    lines = helpers.clean_failure(on_invalid, exit_code=3)
    assert "gridauth: /Registry/Groups/broken/Users: unknown user 'nobody' (line 144)" in lines
    assert "gridauth: /Registry/VO/lhcb/DefaultGroup: unknown group 'zed_user' (line 93)" in lines  # every error
    assert "configuration file not found" in helpers.clean_failure(on_missing, exit_code=1, one_line=True)[0]


# -- the holder the service uses -------------------------------------------------------------------
def test_registry_holder_swaps_good_versions_and_keeps_the_last_good_one(cfg_copy: Path, helpers,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    holder = RegistryHolder(cfg_copy)
    start = holder.current
    assert start.version == load_file(str(cfg_copy)).version
    assert not holder.changed() and not holder.check()

    text = cfg_copy.read_text(encoding="utf-8")
    good_text = helpers.replace_once(text, "Users = alice, bob\n", "Users = alice, bob, carol\n")
    helpers.hand_edit(cfg_copy, good_text)
    assert holder.changed() and holder.check()
    good = holder.current
    assert good.version == load_text(good_text).version
    assert good.is_member("carol", "dteam_user")
    assert not start.is_member("carol", "dteam_user")  # a snapshot taken before never changes

    with caplog.at_level(logging.ERROR, logger="gridauth.config"):
        helpers.hand_edit(cfg_copy, with_group(good_text, BROKEN_GROUP))
        assert not holder.check()
        assert holder.current is good
        assert not holder.check()  # the same bad file is not reread, nor logged again
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"still serving version {good.version}" in errors[0]
    assert "/Registry/Groups/broken/Users: unknown user 'nobody'" in errors[0]

    helpers.hand_edit(cfg_copy, good_text.replace("Email = carol@example.org", "Email = carol@example.com"))
    assert holder.check()
    assert holder.current.user("carol").email == "carol@example.com"


def test_serve_on_a_busy_port_is_one_clear_line(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "gridauth.cli.main", "serve", "--port", str(port), "--db",
                              f"sqlite:///{tmp_path / 's.sqlite'}"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr

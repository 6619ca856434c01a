"""``gridauth config history|diff|rollback``: every version kept, hand edits recorded, rollbacks validated."""

from __future__ import annotations

import re
from pathlib import Path

from gridauth.config import ConfigStore, load_file

HISTORY_LINE = re.compile(r"(\d+)\t(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00)\t([^\t]*)\t(.*)")


def parse_history(output: str) -> list[tuple[int, str, str]]:
    """(id, author, comment) of each ``gridauth config history`` line, checking the line format."""
    rows = []
    for line in output.splitlines():
        match = HISTORY_LINE.fullmatch(line)
        assert match, f"not a history line: {line!r}"
        rows.append((int(match.group(1)), match.group(3), match.group(4)))
    return rows


def comments(path: Path) -> list[str]:
    return [version.comment for version in ConfigStore(path).history()]


def test_history_diff_rollback_round_trip(gridauth, cfg_copy: Path, helpers) -> None:
    original = cfg_copy.read_text(encoding="utf-8")

    gridauth("admin", "user", "add", "dave", "--email", "dave@example.org", "--config", cfg_copy, ok=True)
    after_add = cfg_copy.read_text(encoding="utf-8")
    assert comments(cfg_copy) == ["initial version", "admin user add dave"]  # the first edit records the start

    # an edit by hand between two commands becomes a version of its own, before the next edit
    helpers.hand_edit(cfg_copy, helpers.replace_once(after_add, "Email = bob@example.org", "Email = bob@example.net"))
    gridauth("config", "set", "/Registry/Users/dave/Email", "d@example.org", "-m", "new address", "--config",
             cfg_copy, ok=True)
    assert comments(cfg_copy) == ["initial version", "admin user add dave", "edited outside gridauth", "new address"]
    after_set = cfg_copy.read_text(encoding="utf-8")
    assert "Email = bob@example.net" in after_set  # the hand edit is kept

    latest, explicit, hand, unknown, not_a_number = gridauth.many([
        ("config", "diff", "--config", cfg_copy),
        ("config", "diff", "1", "2", "--config", cfg_copy),
        ("config", "diff", "2", "3", "--config", cfg_copy),
        ("config", "rollback", "99", "--config", cfg_copy),
        ("config", "rollback", "abc", "--config", cfg_copy),
    ])
    # default: from the version before the latest to the file
    assert latest.returncode == 0
    assert latest.stdout.startswith(f"--- version 3\n+++ {cfg_copy}\n")
    assert "\n-      Email = dave@example.org\n+      Email = d@example.org\n" in latest.stdout
    assert explicit.stdout.startswith("--- version 1\n+++ version 2\n")
    assert "\n+    dave\n" in explicit.stdout
    assert "\n-      Email = bob@example.org\n+      Email = bob@example.net\n" in hand.stdout
    # unknown versions are refused cleanly, nothing written
    assert helpers.clean_failure(unknown, exit_code=4, one_line=True) == [
        "gridauth: error: version 99 is not in the history (see gridauth config history)"]
    assert "'abc': not a version id" in helpers.clean_failure(not_a_number, exit_code=4, one_line=True)[0]
    assert len(comments(cfg_copy)) == 4

    rolled = gridauth("config", "rollback", "1", "--config", cfg_copy, ok=True)
    assert rolled.stderr == "written as version 5\n"
    assert cfg_copy.read_text(encoding="utf-8") == original  # the text of version 1, comments and all
    assert load_file(str(cfg_copy)).user("dave") is None

    gridauth("config", "rollback", "2", "-m", "dave is back", "--author", "ops", "--config", cfg_copy, ok=True)
    assert cfg_copy.read_text(encoding="utf-8") == after_add  # and forward again to version 2

    listed = parse_history(gridauth("config", "history", "--config", cfg_copy, ok=True).stdout)
    assert listed == [
        (1, "unknown", "initial version"),
        (2, "tester", "admin user add dave"),
        (3, "unknown", "edited outside gridauth"),
        (4, "tester", "new address"),
        (5, "tester", "rollback to version 1"),
        (6, "ops", "rollback to version 2: dave is back"),
    ]
    # every version's text is kept
    history = cfg_copy.with_name("gridauth.cfg.history")
    assert (history / "2.cfg").read_text(encoding="utf-8") == after_add
    assert (history / "4.cfg").read_text(encoding="utf-8") == after_set
    assert "Email = bob@example.net" in (history / "3.cfg").read_text(encoding="utf-8")  # the hand edit
    assert (history / "5.cfg").read_text(encoding="utf-8") == original


def test_rollback_to_an_invalid_version_is_refused(gridauth, cfg_copy: Path, helpers, example_text: str) -> None:
    # broken by hand before gridauth ever saw the file: its first edit records that text as version 1
    helpers.hand_edit(cfg_copy, helpers.replace_once(example_text, "Users = alice, bob\n", "Users = alice, bobb\n"))
    gridauth("config", "set", "/Registry/Groups/dteam_user/Users", "alice, bob", "-m", "fix bobb", "--config",
             cfg_copy, ok=True)
    assert comments(cfg_copy) == ["initial version", "fix bobb"]
    before = cfg_copy.read_bytes()

    result = gridauth("config", "rollback", "1", "--config", cfg_copy)
    lines = helpers.clean_failure(result, exit_code=3)
    assert "gridauth: /Registry/Groups/dteam_user/Users: unknown user 'bobb' (line 108)" in lines
    assert cfg_copy.read_bytes() == before
    assert comments(cfg_copy) == ["initial version", "fix bobb"]

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
    assert "gridauth: /Registry/Groups/dteam_user/Users: unknown user 'bobb' (line 121)" in lines
    assert cfg_copy.read_bytes() == before
    assert comments(cfg_copy) == ["initial version", "fix bobb"]


def test_export_and_import_of_whole_files_in_the_file_mode(gridauth, cfg_copy: Path, tmp_path: Path, helpers) -> None:
    """``config export`` gives a version's exact text; ``config import`` publishes a file back, validated, on a base."""
    gridauth("admin", "user", "add", "dave", "--groups", "dteam_user", "--config", cfg_copy, ok=True)  # versions 1, 2
    exported = tmp_path / "exported.cfg"
    gridauth("config", "export", "-o", exported, "--config", cfg_copy, ok=True)
    assert exported.read_bytes() == cfg_copy.read_bytes()
    assert gridauth("config", "export", "--version", "1", "--config", cfg_copy, ok=True).stdout.count("dave") == 0

    edited = helpers.replace_once(exported.read_text(encoding="utf-8"), "bob@example.org", "bob@cern.ch")
    exported.write_text(edited, encoding="utf-8")
    gridauth("admin", "user", "modify", "carol", "--email", "c@example.org", "--config", cfg_copy, ok=True)  # 3
    stale = gridauth("config", "import", exported, "--base-version", "2", "--config", cfg_copy)
    assert "based on version 2, but version 3 is the latest" in helpers.clean_failure(stale, 6, one_line=True)[0]

    gridauth("config", "export", "-o", exported, "--config", cfg_copy, ok=True)
    exported.write_text(helpers.replace_once(exported.read_text(encoding="utf-8"), "bob@example.org", "bob@cern.ch"),
                        encoding="utf-8")
    done = gridauth("config", "import", exported, "--base-version", "3", "--config", cfg_copy, ok=True)
    assert done.stderr.strip() == "written as version 4"
    assert cfg_copy.read_text(encoding="utf-8") == exported.read_text(encoding="utf-8")
    assert comments(cfg_copy)[-1] == "import exported.cfg"
    emptied = tmp_path / "empty.cfg"
    emptied.write_text("", encoding="utf-8")
    refused = gridauth("config", "import", emptied, "--config", cfg_copy)  # the checks of validate first
    assert refused.returncode == 3 and "nothing to serve" in refused.stderr
    assert comments(cfg_copy)[-1] == "import exported.cfg"

"""The store under pressure: concurrent editors, a held lock, atomic replacement of the file."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gridauth.config import ConfigStore, load_file, load_text
from gridauth.config.cfgfile import set_option
from gridauth.errors import VersionConflict

ALICE_DN = "/DC=org/DC=example/OU=People/CN=Alice Anderson"

# One editing process: runs `gridauth admin user add` COUNT times through the command's own entry
# point (a fresh argument parser, store and lock each time), as fast as it can.
WORKER = """
import sys
from gridauth.cli.main import main
config, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
codes = [main(["admin", "user", "add", f"{prefix}{i}", "--config", config, "--groups", "dteam_user",
               "--dn", f"/DC=org/DC=example/CN={prefix}{i}"]) for i in range(count)]
sys.exit(max(codes))
"""


def leftovers(directory: Path) -> list[str]:
    """Files that look like an interrupted write (temporary files of atomic_write and friends)."""
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith((".tmp", ".part")) or p.name.startswith("."))


def test_concurrent_editors_lose_nothing(gridauth, cfg_copy: Path) -> None:
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(cfg_copy), prefix, "10"], env=gridauth.env,
                                cwd=gridauth.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for prefix in ("w1u", "w2u")]
    # and, at the same time, separate gridauth commands: new interpreters, and children of the fork server
    commands = [gridauth.spawn([("admin", "user", "add", "cli0", "--config", cfg_copy)], exec_=True),
                gridauth.spawn([("admin", "user", "add", f"cli{i}", "--config", cfg_copy) for i in range(1, 8)])]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        assert "Traceback" not in err
    for batch in commands:
        for result in batch.results():
            assert result.returncode == 0, result.stderr

    added = [f"w{w}u{i}" for w in (1, 2) for i in range(10)] + [f"cli{i}" for i in range(8)]
    registry = load_file(str(cfg_copy))
    assert set(registry.users) == {"alice", "bob", "carol", *added}
    assert registry.users_of_group("dteam_user") == {"alice", "bob", *added[:20]}  # the same option, 20 writers
    assert registry.user_by_dn("/DC=org/DC=example/CN=w2u9").name == "w2u9"

    # every edit is one version, numbered without gaps, and each version adds exactly one user to the one before
    versions = ConfigStore(cfg_copy).history()
    assert [v.id for v in versions] == list(range(1, len(added) + 2))
    assert sorted(v.comment for v in versions[1:]) == sorted(f"admin user add {name}" for name in added)
    history = cfg_copy.with_name("gridauth.cfg.history")
    previous: set[str] = set()
    for version in versions:
        users = set(load_text((history / f"{version.id}.cfg").read_text(encoding="utf-8")).users)
        assert previous < users and len(users - previous) == (3 if version.id == 1 else 1), version
        previous = users
    assert leftovers(cfg_copy.parent) == []


def test_edit_gives_up_cleanly_when_the_lock_is_held(gridauth, cfg_copy: Path, helpers) -> None:
    before = cfg_copy.read_bytes()
    lock = cfg_copy.with_name("gridauth.cfg.lock")
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another administrator's edit in progress
        results = gridauth.many([
            ("config", "set", "/Registry/Users/bob/Email", "b@example.org", "--lock-timeout", "0.3",
             "--config", cfg_copy),
            ("admin", "user", "add", "dave", "--lock-timeout", "0.3", "--config", cfg_copy),
        ])
        for result in results:
            lines = helpers.clean_failure(result, exit_code=5, one_line=True)
            assert lines[0] == (f"gridauth: error: {cfg_copy}: another edit has held the lock for more than 0.3 s "
                                f"({lock}); try again later")
        assert cfg_copy.read_bytes() == before
        assert not cfg_copy.with_name("gridauth.cfg.history").exists()
    # released: the next edit goes through
    gridauth("admin", "user", "add", "dave", "--lock-timeout", "0.3", "--config", cfg_copy, ok=True)
    assert load_file(str(cfg_copy)).user("dave") is not None


def test_file_is_replaced_atomically_and_keeps_its_mode(gridauth, cfg_copy: Path) -> None:
    os.chmod(cfg_copy, 0o640)
    inode = cfg_copy.stat().st_ino
    gridauth("config", "set", "/Registry/Users/bob/Email", "b@example.org", "--config", cfg_copy, ok=True)
    # a refused edit leaves nothing behind either
    gridauth("admin", "user", "add", "dave", "--dn", ALICE_DN, "--config", cfg_copy, ok=False)

    assert stat.S_IMODE(cfg_copy.stat().st_mode) == 0o640
    assert cfg_copy.stat().st_ino != inode  # a new file renamed over the old one, never rewritten in place
    assert sorted(p.name for p in cfg_copy.parent.iterdir()) == [
        "gridauth.cfg", "gridauth.cfg.history", "gridauth.cfg.lock"]
    history = cfg_copy.with_name("gridauth.cfg.history")
    assert sorted(p.name for p in history.iterdir()) == ["1.cfg", "2.cfg", "versions.jsonl"]
    for kept in history.glob("*.cfg"):
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # copies of the registry are private
    assert leftovers(cfg_copy.parent) == []


def test_edit_through_a_symbolic_link_updates_its_target(gridauth, cfg_copy: Path, tmp_path: Path) -> None:
    """Renaming the new text over the link itself would replace the link and leave its target stale."""
    link = tmp_path / "link.cfg"
    link.symlink_to(cfg_copy)
    gridauth("admin", "user", "add", "dave", "--config", link, ok=True)
    assert link.is_symlink()
    assert load_file(str(cfg_copy)).user("dave") is not None


def test_an_edit_based_on_an_older_version_is_refused(cfg_copy: Path) -> None:
    """Optimistic concurrency: the editor names the version it saw; a later edit in between wins, nothing is written."""
    store = ConfigStore(cfg_copy)
    seen = store.latest()
    assert seen is not None
    first = store.edit(lambda cfg: set_option(cfg, "/Registry/Users/alice/Email", "a@example.org"),
                       author="admin1", base_version=seen)
    assert first is not None and first.id == seen + 1
    text = cfg_copy.read_text()
    with pytest.raises(VersionConflict, match=f"based on version {seen}"):
        store.edit(lambda cfg: set_option(cfg, "/Registry/Users/alice/Email", "b@example.org"),
                   author="admin2", base_version=seen)
    assert cfg_copy.read_text() == text and store.latest() == first.id
    with pytest.raises(VersionConflict):
        store.rollback(seen, author="admin2", base_version=seen)
    assert store.rollback(seen, author="admin2", base_version=first.id) is not None

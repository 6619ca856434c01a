"""``gridauth config show|get|set|delete``, comments across edits, and where the configuration is found."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gridauth.config import ConfigStore, load_file, load_text

AUTHZ = "/DIRAC/Security/Authorization"
ALICE_DN = "/DC=org/DC=example/OU=People/CN=Alice Anderson"
_ENTRY = re.compile(r"^([^=+{]+?)\s*(?:\+?=|\{|$)")


def comment_blocks(text: str) -> list[tuple[str, str | None]]:
    """Each comment block of CFG *text* (its words) with the name of the entry right below it."""
    blocks: list[tuple[str, str | None]] = []
    pending: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            pending.append(line.lstrip("#").strip())
        elif line and pending:
            blocks.append((" ".join(pending), _ENTRY.match(line).group(1)))
            pending = []
    if pending:
        blocks.append((" ".join(pending), None))
    return blocks


def history_of(path: Path) -> list[tuple[int, str, str]]:
    return [(v.id, v.author, v.comment) for v in ConfigStore(path).history()]


# -- reading ---------------------------------------------------------------------------------------
def test_show_and_get(gridauth, cfg_copy: Path) -> None:
    before = cfg_copy.read_bytes()
    whole, section, option, algorithm, listed = gridauth.many([
        ("config", "show", "--config", cfg_copy),
        ("config", "show", "/Registry/Users/alice", "--config", cfg_copy),
        ("config", "show", "/Registry/Users/alice/Email", "--config", cfg_copy),
        ("config", "get", f"{AUTHZ}/SigningAlgorithm", "--config", cfg_copy),  # the example pins no issuer
        ("config", "get", "/Registry/Groups/dteam_admin/Properties", "--config", cfg_copy),
    ], ok=True)
    shown, original = load_text(whole.stdout), load_file(str(cfg_copy))
    assert (shown.users, shown.groups, shown.vos, shown.clients) == (
        original.users, original.groups, original.vos, original.clients)
    assert comment_blocks(whole.stdout) == comment_blocks(before.decode())
    assert section.stdout == (f"DN = {ALICE_DN}\nID = 4b1d6f2e-0c9a-4e8b-9f3d-alice\nEmail = alice@example.org\n")
    assert option.stdout == "Email = alice@example.org\n"
    assert algorithm.stdout == "RS256\n"
    assert listed.stdout == "NormalUser, ProxyManagement, ServiceAdministrator\n"
    # reading neither changes the file nor starts a history
    assert cfg_copy.read_bytes() == before
    assert not cfg_copy.with_name("gridauth.cfg.history").exists()


# -- editing ---------------------------------------------------------------------------------------
def test_set_and_delete_record_value_author_and_comment(gridauth, cfg_copy: Path) -> None:
    result = gridauth("config", "set", "/Registry/Users/dave/Email", "dave@example.org", "--config", cfg_copy,
                      "-m", "dave joins", "--author", "ops", ok=True)
    assert result.stderr == "written as version 2\n"
    assert load_file(str(cfg_copy)).user("dave").email == "dave@example.org"  # the missing sections were created
    gridauth("config", "set", f"{AUTHZ}/AccessTokenLifetime", "600", "--config", cfg_copy, ok=True)
    assert load_file(str(cfg_copy)).settings.lifetimes.access_token == 600
    gridauth("config", "delete", "/Registry/Users/carol/Email", "--config", cfg_copy, ok=True)
    registry = load_file(str(cfg_copy))
    assert registry.user("carol").email == ""
    assert registry.user("carol").dns  # the rest of carol is kept
    gridauth("config", "delete", "/Registry/Groups/dteam_admin", "--config", cfg_copy, ok=True)
    registry = load_file(str(cfg_copy))
    assert registry.group("dteam_admin") is None
    assert registry.groups_of("alice") == ("dteam_user", "lhcb_user")
    assert history_of(cfg_copy) == [
        (1, "unknown", "initial version"), (2, "ops", "dave joins"),
        (3, "tester", f"set {AUTHZ}/AccessTokenLifetime"), (4, "tester", "delete /Registry/Users/carol/Email"),
        (5, "tester", "delete /Registry/Groups/dteam_admin")]


def test_comments_survive_an_edit_and_the_same_value_again_changes_nothing(gridauth, cfg_copy: Path,
                                                                           example_text: str) -> None:
    gridauth("config", "set", f"{AUTHZ}/RefreshTokenLifetime", "7200", "--config", cfg_copy, ok=True)
    text = cfg_copy.read_text(encoding="utf-8")
    assert "RefreshTokenLifetime = 7200" in text
    # every comment is still there, once, right above the entry it described
    assert comment_blocks(text) == comment_blocks(example_text)
    lines = text.splitlines()
    set_at = lines.index("      RefreshTokenLifetime = 7200")
    assert lines[set_at - 1].lstrip("# ").startswith("Lifetimes in seconds")  # the option that was set
    untouched_at = lines.index("  DefaultGroup = dteam_user")
    assert "Group given when a token request names none" in lines[untouched_at - 1]

    before, versions = cfg_copy.read_bytes(), history_of(cfg_copy)
    again = gridauth("config", "set", f"{AUTHZ}/RefreshTokenLifetime", "7200", "--config", cfg_copy, ok=True)
    assert again.stderr == "no change\n"
    assert cfg_copy.read_bytes() == before
    assert history_of(cfg_copy) == versions


def test_comment_at_the_end_of_the_file_survives_an_edit(gridauth, cfg_copy: Path) -> None:
    with open(cfg_copy, "a", encoding="utf-8") as handle:
        handle.write("# end of the configuration: keep this line\n")
    gridauth("config", "set", f"{AUTHZ}/RefreshTokenLifetime", "7200", "--config", cfg_copy, ok=True)
    assert "RefreshTokenLifetime = 7200" in cfg_copy.read_text(encoding="utf-8")
    assert "end of the configuration: keep this line" in cfg_copy.read_text(encoding="utf-8")


# -- refused edits and bad paths -------------------------------------------------------------------
REFUSED = {  # name: (arguments, exit code, a line stderr must start with)
    "get-unknown-path": (["get", "/Registry/Nope"], 4, "gridauth: error: /Registry/Nope: no such option"),
    "get-a-section": (["get", "/Registry/Users"], 4, "gridauth: error: /Registry/Users: is a section"),
    "get-not-a-path": (["get", "/"], 4, "gridauth: error: '/': not a CFG path"),
    "show-unknown-path": (["show", "/Registry/Nope"], 4,
                          "gridauth: error: /Registry/Nope: no such option or section"),
    "delete-unknown-path": (["delete", "/Registry/Users/zed"], 4,
                            "gridauth: error: /Registry/Users/zed: no such option or section"),
    "set-a-section": (["set", "/Registry/Users/alice", "x"], 4,
                      "gridauth: error: /Registry/Users/alice: is a section"),
    "set-below-an-option": (["set", "/Registry/Users/alice/Email/x", "y"], 4,
                            "gridauth: error: /Registry/Users/alice/Email: is an option, not a section"),
    "set-unknown-user": (["set", "/Registry/Groups/dteam_user/Users", "alice, bobb"], 3,
                         "gridauth: /Registry/Groups/dteam_user/Users: unknown user 'bobb'"),
    "set-malformed-lifetime": (["set", f"{AUTHZ}/RefreshTokenLifetime", "12h"], 3,
                               f"gridauth: {AUTHZ}/RefreshTokenLifetime: malformed lifetime '12h'"),
    "delete-a-member": (["delete", "/Registry/Users/bob"], 3,
                        "gridauth: /Registry/Groups/dteam_user/Users: unknown user 'bob'"),
}


@pytest.fixture(scope="module", autouse=True)
def refused(module_gridauth, tmp_path_factory,
            example_copier) -> Iterator[Callable[[str], tuple[subprocess.CompletedProcess[str], bytes, Path]]]:
    """Each refused command on its own copy, started in the background when the module starts."""
    copies = {name: example_copier(tmp_path_factory.mktemp(name)) for name in REFUSED}
    before = {name: path.read_bytes() for name, path in copies.items()}
    batch = module_gridauth.spawn([("config", *args, "--config", copies[name])
                                   for name, (args, _, _) in REFUSED.items()])

    def outcome(name: str) -> tuple[subprocess.CompletedProcess[str], bytes, Path]:
        return dict(zip(REFUSED, batch.results(), strict=True))[name], before[name], copies[name]

    yield outcome
    batch.results()


@pytest.mark.parametrize("case", REFUSED)
def test_refused_command_is_clear_and_changes_nothing(case: str, refused, helpers) -> None:
    _, exit_code, first_line = REFUSED[case]
    result, before, copy = refused(case)
    lines = helpers.clean_failure(result, exit_code=exit_code, one_line=exit_code == 4)
    assert lines[0].startswith(first_line), result.stderr
    if exit_code == 3:  # the validation errors, then one summary line
        assert lines[-1] == f"gridauth: error: {copy} is invalid ({len(lines) - 1} error(s)); nothing was changed"
    assert result.stdout == ""
    assert copy.read_bytes() == before


# -- which file ------------------------------------------------------------------------------------
def test_config_option_then_environment_then_installed_default(gridauth, tmp_path: Path, ga_env, helpers,
                                                               example_text: str) -> None:
    first, second = tmp_path / "first.cfg", tmp_path / "second.cfg"
    for path, email in ((first, "alice@first.example"), (second, "alice@second.example")):
        path.write_text(helpers.replace_once(example_text, "Email = alice@example.org", f"Email = {email}"),
                        encoding="utf-8")
    with_env = {**ga_env, "GRIDAUTH_CONFIG": str(second)}
    email = "/Registry/Users/alice/Email"
    option_wins, env_used, default_used, missing_option = gridauth.many(
        [("config", "get", email, "--config", first),
         ("config", "get", email),
         ("config", "get", email),
         ("config", "get", email, "--config", tmp_path / "missing.cfg")],
        envs=[with_env, with_env, ga_env, with_env])
    assert option_wins.stdout == "alice@first.example\n"
    assert env_used.stdout == "alice@second.example\n"
    assert default_used.stdout == "alice@example.org\n"  # the installed copy of etc/gridauth.cfg
    # a file that was named but is missing is an error, never a silent fall-back to $GRIDAUTH_CONFIG
    lines = helpers.clean_failure(missing_option, exit_code=1, one_line=True)
    assert lines[0] == (f"gridauth: error: {tmp_path / 'missing.cfg'}: configuration file not found "
                        "(use --config FILE or $GRIDAUTH_CONFIG)")


def test_edits_go_to_the_file_the_environment_names(gridauth, ga_env, cfg_copy: Path) -> None:
    gridauth("admin", "user", "add", "dave", env={**ga_env, "GRIDAUTH_CONFIG": str(cfg_copy)}, ok=True)
    assert load_file(str(cfg_copy)).user("dave") is not None

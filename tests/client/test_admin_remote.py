"""``gridauth admin --server`` and ``gridauth config --server``: the remote command line after ``gridauth login``.

A real server in this process (its issuer its own loopback URL), the real ``gridauth`` command in
subprocesses, a login approved through the pages. The configuration gets a ``cs_admin`` group
(``CSAdministrator``) by a test edit. The remote commands must print what the local ones print
and exit with the same statuses; the local ones run on the server's own file.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gridauth.config import cfgfile
from gridauth.config.store import ConfigStore

from .conftest import Cli, Service, jwt_claims, user_env

CLIENT = "/DIRAC/Security/Authorization/Clients/gridauth-cli"


def add_cs_admin(service) -> None:  # noqa: ANN001 - the harness service
    def change(cfg) -> None:  # noqa: ANN001
        for option, value in (("Users", "alice"), ("VO", "dteam"), ("Properties", "CSAdministrator, NormalUser")):
            cfgfile.set_option(cfg, f"/Registry/Groups/cs_admin/{option}", value)
    service.edit(change)


@pytest.fixture
def admin_service(tmp_path: Path):  # noqa: ANN201
    directory = tmp_path / "server"
    directory.mkdir()
    svc = Service(directory, users=("alice", "bob"))
    add_cs_admin(svc)
    yield svc
    svc.stop()


def same(remote, local) -> None:  # noqa: ANN001
    """The remote command printed and exited as the local one did."""
    assert (remote.returncode, remote.stdout, remote.stderr) == (local.returncode, local.stdout, local.stderr), \
        (remote.args, remote.stderr, local.stderr)


def test_remote_admin_and_config_commands_match_the_local_ones(admin_service, cli: Cli, tmp_path: Path) -> None:
    assert cli.login(admin_service, "cs_admin").returncode == 0
    server, config = admin_service.url, str(admin_service.config)
    remote = ("--server", server)

    # reads: the same output as the local commands on the server's file
    reads = [("admin", "user", "list"), ("admin", "group", "list", "--json"), ("admin", "vo", "list"),
             ("admin", "client", "list", "--json"), ("admin", "idp", "list"), ("config", "get",
             "/DIRAC/Security/Authorization/AccessTokenLifetime"), ("config", "show", "/Registry/Groups"),
             ("config", "history"), ("config", "diff")]
    results = cli.many(*[(*cmd[:1], *remote, *cmd[1:]) for cmd in reads],
                       *[(*cmd, "--config", config) for cmd in reads])
    for remote_result, local_result in zip(results[:len(reads)], results[len(reads):], strict=True):
        assert remote_result.returncode == 0, remote_result.stderr
        same(remote_result, local_result)
    assert "cs_admin" in results[1].stdout and "alice" in results[0].stdout

    # refused edits: the same lines and exit statuses (nothing written either way)
    refused = [("admin", "user", "add", "alice"),  # 4: exists
               ("admin", "group", "remove", "lhcb_user"),  # 3: a VO's default group
               ("config", "set", "/DIRAC/Security/Authorization/AccessTokenLifetime", "soon"),  # 3
               ("config", "get", "/Registry/Users"),  # 4: a section
               ("config", "rollback", "99"),  # 4: unknown version
               ("admin", "user", "modify", "bob", "--email", "b@example.org", "--base-version", "1")]  # 6: stale
    results = cli.many(*[(*cmd[:1], *remote, *cmd[1:]) for cmd in refused],
                       *[(*cmd, "--config", config) for cmd in refused])
    for remote_result, local_result in zip(results[:len(refused)], results[len(refused):], strict=True):
        assert remote_result.returncode in (3, 4, 6), remote_result.stderr
        same(remote_result, local_result)
    assert [r.returncode for r in results[:len(refused)]] == [4, 3, 3, 4, 4, 6]

    # the dry run: the same granted scope and lifetime (the claims' times are each clock's), the same refusal
    preview = ("admin", "token-preview", "--user", "alice", "--group", "dteam_user", "--scope", "openid lifetime:300")
    refused_preview = ("admin", "token-preview", "--user", "bob", "--group", "lhcb_user")
    remote_ok, local_ok, remote_no, local_no = cli.many(
        (*preview[:1], *remote, *preview[1:]), (*preview, "--config", config),
        (*refused_preview[:1], *remote, *refused_preview[1:]), (*refused_preview, "--config", config))
    assert remote_ok.returncode == local_ok.returncode == 0, remote_ok.stderr
    assert remote_ok.stdout.splitlines()[:2] == local_ok.stdout.splitlines()[:2] == [
        "scope: openid lifetime:300 vo:dteam group:dteam_user", "expires_in: 300"]
    assert remote_no.returncode == 1
    same(remote_no, local_no)

    # edits through the API: recorded with alice as the author, served at once
    latest = ConfigStore(admin_service.config).latest()
    ran = cli.run("admin", *remote, "user", "add", "dave", "--dn", "/CN=Dave", "--dn", "/CN=Dave 2",
                  "--id", "dave-sub", "--groups", "dteam_user", "--base-version", str(latest))
    assert (ran.returncode, ran.stderr) == (0, f"user add dave: written as version {latest + 1}\n"), ran.stderr
    ran = cli.run("admin", *remote, "client", "add", "portal2", "--redirect-uri", "https://p2.example.org/cb")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("client_id: portal2\nclient_secret: ")
    assert "shown only this once" in ran.stderr
    ran = cli.run("admin", *remote, "idp", "add", "IAM", "--type", "IAM", "--issuer", "https://iam.example.org",
                  "--client-id", "ga", "--client-secret", "s3cret", "--scope", "openid,wlcg.groups",
                  "--option", "Note=test")
    assert ran.returncode == 0, ran.stderr
    ran = cli.run("admin", *remote, "idp", "modify", "IAM", "--remove-option", "Note", "--json")
    assert ran.returncode == 0 and json.loads(ran.stdout)["action"] == "idp modify IAM", ran.stderr
    ran = cli.run("config", *remote, "set", "/DIRAC/Security/Authorization/AccessTokenLifetime", "900",
                  "-m", "shorter")
    assert (ran.returncode, ran.stderr) == (0, f"written as version {latest + 5}\n"), ran.stderr
    registry = admin_service.context.registry
    assert registry.user("dave").dns == ("/CN=Dave", "/CN=Dave 2")
    assert registry.idps["IAM"].scope == ("openid", "wlcg.groups") and "Note" not in registry.idps["IAM"].options
    assert registry.settings.lifetimes.access_token == 900
    history = ConfigStore(admin_service.config).history()
    assert [v.author for v in history[-5:]] == ["alice"] * 5
    assert history[-1].comment == "shorter" and history[-5].comment == "admin user add dave"
    ran = cli.run("config", *remote, "rollback", str(latest + 4))
    assert (ran.returncode, ran.stderr) == (0, f"written as version {latest + 6}\n")

    # the remembered admin server: no --server needed; --local and --config go to the file
    assert cli.run("admin", "server", server).returncode == 0
    assert cli.run("admin", "server").stdout.strip() == server
    listed = cli.run("admin", "user", "list", "--json")
    assert listed.returncode == 0 and "dave" in {u["name"] for u in json.loads(listed.stdout)}, listed.stderr
    no_author = cli.run("admin", "user", "remove", "dave", "--author", "mallory")
    assert no_author.returncode == 4 and "--author is for edits of a local file" in no_author.stderr
    local = cli.run("config", "history", "--config", config)
    assert local.returncode == 0 and local.stdout == cli.run("config", "history").stdout

    # the password of a local account, in the server's database
    proc = subprocess.run(cli.argv("admin", "passwd", "dave"), env=cli.env, cwd=cli.root, input="dave-password-1\n",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == f"password set for dave at {server}; 0 SSO sessions ended\n"
    assert admin_service.context.accounts.check_password("dave", "dave-password-1")
    assert cli.run("admin", "server", "--clear").returncode == 0


def test_remote_refusals_not_logged_in_forbidden(admin_service, cli: Cli, tmp_path: Path) -> None:
    server = admin_service.url
    not_logged_in = cli.run("admin", "--server", server, "user", "list")
    assert not_logged_in.returncode == 10, not_logged_in.stderr
    bob = Cli(tmp_path / "bob", user_env(tmp_path / "bob"))
    assert bob.login(admin_service, "dteam_user", user="bob").returncode == 0
    refused = bob.run("admin", "--server", server, "user", "list")
    assert refused.returncode == 9, refused.stderr
    assert refused.stderr.startswith("gridauth: error: bob acting in group dteam_user administers nothing")
    other = bob.run("config", "--server", "http://127.0.0.1:9", "history")
    assert other.returncode == 10 and "your login session is for" in other.stderr  # never sent elsewhere
    # alice as dteam's VO administrator: dteam's users, not the clients
    assert cli.login(admin_service, "dteam_user").returncode == 0
    users = cli.run("admin", "--server", server, "user", "list", "--json")
    assert users.returncode == 0 and {u["name"] for u in json.loads(users.stdout)} == {"alice", "bob"}
    clients = cli.run("admin", "--server", server, "client", "list")
    assert clients.returncode == 9 and "CSAdministrator" in clients.stderr


def test_dpop_bound_access_token_goes_with_a_proof(admin_service, cli: Cli) -> None:
    admin_service.edit(lambda cfg: cfgfile.set_option(cfg, f"{CLIENT}/AccessTokenType", "DPoP"))
    assert cli.login(admin_service, "cs_admin").returncode == 0
    access = (cli.client_dir / "access_token").read_text().strip()
    assert "jkt" in jwt_claims(access)["cnf"]
    ran = cli.run("admin", "--server", admin_service.url, "vo", "list", "--json")
    assert ran.returncode == 0, ran.stderr
    assert {v["name"] for v in json.loads(ran.stdout)} == {"dteam", "lhcb"}


def test_remote_sessions_and_suspension_match_the_local_ones(admin_service, cli: Cli, tmp_path: Path) -> None:
    bob = Cli(tmp_path / "bob", user_env(tmp_path / "bob"))
    assert bob.login(admin_service, "dteam_user", user="bob").returncode == 0
    assert cli.login(admin_service, "cs_admin").returncode == 0
    server, db = admin_service.url, f"sqlite:///{tmp_path / 'server' / 'db.sqlite'}"
    remote = ("admin", "--server", server)

    # listings and refused revocations: what the local commands on the server's database print, and exit with
    commands = [("sessions", "list"), ("sessions", "list", "--json"), ("sessions", "list", "--user", "bob"),
                ("sessions", "list", "--vo", "lhcb", "--json"), ("sessions", "revoke"),
                ("sessions", "revoke", "--user", "bob", "--vo", "dteam"),
                ("sessions", "revoke", "--issued-before", "soon")]
    results = cli.many(*[(*remote, *cmd) for cmd in commands], *[("admin", *cmd, "--db", db) for cmd in commands])
    for remote_result, local_result in zip(results[:len(commands)], results[len(commands):], strict=True):
        same(remote_result, local_result)
    assert [r.returncode for r in results[:len(commands)]] == [0, 0, 0, 0, 4, 4, 4]
    assert results[2].stdout.startswith("grant ") and "user=bob client=gridauth-cli vo=dteam" in results[2].stdout
    assert {row["user"] for row in json.loads(results[1].stdout)} == {"alice", "bob"}
    assert json.loads(results[3].stdout) == []

    # revoking bob's sessions through the API (his grant and the SSO session of his approval): his refresh
    # token is refused afterwards
    bob_refresh = bob.refresh_file.read_text().strip()
    assert admin_service.introspect(bob_refresh)["active"] is True
    ran = cli.run(*remote, "sessions", "revoke", "--user", "bob")
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "2\n", f"revoked 2 sessions at {server}\n"), ran.stderr
    assert admin_service.introspect(bob_refresh) == {"active": False}
    assert cli.run(*remote, "sessions", "list", "--user", "bob").stdout == ""
    no_author = cli.run(*remote, "sessions", "revoke", "--user", "bob", "--author", "mallory")
    assert no_author.returncode == 4 and "--author is for edits of a local file" in no_author.stderr

    # suspension and its lifting, as the local command writes them
    ran = cli.run(*remote, "user", "suspend", "bob")
    latest = ConfigStore(admin_service.config).latest()
    assert (ran.returncode, ran.stderr) == (0, f"user suspend bob: written as version {latest}\n"), ran.stderr
    assert admin_service.context.registry.user("bob").suspended
    assert ConfigStore(admin_service.config).history()[-1].author == "alice"
    ran = cli.run(*remote, "user", "unsuspend", "bob", "--json")
    assert ran.returncode == 0 and json.loads(ran.stdout) == {"name": "bob", "action": "user unsuspend bob",
                                                              "version": latest + 1}
    assert not admin_service.context.registry.user("bob").suspended

    # as dteam's VO administrator: dteam's grants only, and another VO is refused (exit 9)
    assert cli.login(admin_service, "dteam_user").returncode == 0
    listed = cli.run(*remote, "sessions", "list", "--json")
    assert listed.returncode == 0 and {row["vo"] for row in json.loads(listed.stdout)} == {"dteam"}
    other = cli.run(*remote, "sessions", "revoke", "--vo", "lhcb")
    assert other.returncode == 9 and "the sessions of VO lhcb" in other.stderr

"""``gridauth admin user|group|vo|client add|modify|remove|list``, run as real commands on copies.

The commands that only read, or that must be refused, do not depend on each other: they all start
side by side, in the background, when the module starts.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gridauth.config import Registry, load_file
from gridauth.hashing import verify_client_secret

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
CLIENTS = "/DIRAC/Security/Authorization/Clients"
ALICE_DN = "/DC=org/DC=example/OU=People/CN=Alice Anderson"
Outcome = tuple[subprocess.CompletedProcess[str], bytes, Path]


def registry_of(path: Path) -> Registry:
    return load_file(str(path))


def client_section(text: str, name: str) -> str:
    """The lines of client *name*'s section in CFG *text*."""
    match = re.search(rf"^(\s*){re.escape(name)}\n\1\{{\n(.*?)^\1\}}", text, re.M | re.S)
    assert match, f"no section {name} in the file"
    return match.group(2)


# -- commands run in the background --------------------------------------------------------------
LISTS = {  # read only: all on the same unchanged copy
    "user-json": ["user", "list", "--json"],
    "user-plain": ["user", "list"],
    "group-json": ["group", "list", "--json"],
    "vo-json": ["vo", "list", "--json"],
    "vo-plain": ["vo", "list"],
    "client-json": ["client", "list", "--json"],
}
EDIT_ERRORS = {  # refused before validation: (arguments, the message); exit code 4, one line
    "user-exists": (["user", "add", "alice"], "user 'alice' already exists"),
    "user-unknown": (["user", "modify", "zed", "--email", "z@example.org"], "unknown user 'zed'"),
    "user-remove-unknown": (["user", "remove", "zed"], "unknown user 'zed'"),
    "user-unknown-group": (["user", "add", "dave", "--groups", "dteam_user,nogroup"], "unknown group 'nogroup'"),
    "user-name-with-slash": (["user", "add", "a/b"], "invalid user name 'a/b'"),
    "user-name-with-cfg-syntax": (["user", "add", "we{ird"], "invalid user name 'we{ird'"),
    "group-exists": (["group", "add", "dteam_user", "--vo", "dteam"], "group 'dteam_user' already exists"),
    "group-unknown-vo": (["group", "add", "g", "--vo", "nope"], "unknown vo 'nope'"),
    "group-unknown-user": (["group", "modify", "dteam_user", "--add-users", "zed"], "unknown user 'zed'"),
    "group-remove-unknown": (["group", "remove", "nogroup"], "unknown group 'nogroup'"),
    "vo-exists": (["vo", "add", "dteam"], "vo 'dteam' already exists"),
    "vo-unknown-admin": (["vo", "add", "atlas", "--admins", "zed"], "unknown user 'zed'"),
    "vo-modify-unknown": (["vo", "modify", "atlas", "--admins", "alice"], "unknown vo 'atlas'"),
    "vo-still-has-groups": (["vo", "remove", "dteam"], "VO 'dteam' still has groups: dteam_user, dteam_admin"),
    "client-exists": (["client", "add", "gridauth-cli", "--public"], "client 'gridauth-cli' already exists"),
    "client-public-new-secret": (["client", "modify", "gridauth-cli", "--new-secret"],
                                 "client 'gridauth-cli' is public: it has no secret"),
    "client-remove-unknown": (["client", "remove", "nope"], "unknown client 'nope'"),
}
INVALID_RESULTS = {  # refused by the validation of the result: (arguments, the error line); exit code 3
    "remove-a-vo-admin": (["user", "remove", "alice"], "/Registry/VO/dteam/VOAdmin: unknown user 'alice'"),
    "remove-a-default-group": (["group", "remove", "lhcb_user"],
                               "/Registry/VO/lhcb/DefaultGroup: unknown group 'lhcb_user'"),
    "duplicate-dn": (["user", "add", "dave", "--dn", ALICE_DN], "/Registry/Users/dave/DN: duplicate DN"),
    "duplicate-subject": (["user", "modify", "bob", "--id", "4b1d6f2e-0c9a-4e8b-9f3d-alice"],
                          "/Registry/Users/bob/ID: duplicate identity-provider subject"),
    "vo-default-group-elsewhere": (["vo", "add", "atlas", "--default-group", "dteam_user"],
                                   "/Registry/VO/atlas/DefaultGroup: group 'dteam_user' is not in VO 'atlas'"),
    "vo-unknown-idp": (["vo", "modify", "dteam", "--idp", "Nope"],
                       "/Registry/VO/dteam/IdProvider: unknown identity provider 'Nope'"),
    "public-client-credentials": (["client", "add", "svc", "--public", "--grant-types", "client_credentials"],
                                  f"{CLIENTS}/svc/grant_types: a public client cannot use client_credentials"),
    "unknown-grant-type": (["client", "modify", "example-portal", "--grant-types", "implicit"],
                           f"{CLIENTS}/example-portal/grant_types: unknown grant type 'implicit'"),
    "duplicate-client-id": (["client", "add", "portal2", "--client-id", "example-portal"],
                            f"{CLIENTS}/portal2/client_id: duplicate client_id 'example-portal'"),
    "http-redirect-uri": (["client", "add", "web", "--redirect-uri", "http://web.example.org/cb"],
                          f"{CLIENTS}/web/redirect_uris: URL 'http://web.example.org/cb' must use https"),
}
EDITS = {  # edits on a copy of their own
    "vo-modify": ["vo", "modify", "dteam", "--admins", "bob,alice", "--default-group", "dteam_admin"],
}


@pytest.fixture(scope="module", autouse=True)
def background(module_gridauth, tmp_path_factory, example_copier) -> Iterator[Callable[[str], Outcome]]:
    """Start every command above when the module starts; the function returns (result, bytes before, copy)."""
    shared = example_copier(tmp_path_factory.mktemp("lists"))
    copies = dict.fromkeys(LISTS, shared)
    copies.update({name: example_copier(tmp_path_factory.mktemp(name))
                   for name in [*EDIT_ERRORS, *INVALID_RESULTS, *EDITS]})
    arguments = {**LISTS, **{n: a for n, (a, _) in EDIT_ERRORS.items()},
                 **{n: a for n, (a, _) in INVALID_RESULTS.items()}, **EDITS}
    before = {name: path.read_bytes() for name, path in copies.items()}
    batch = module_gridauth.spawn([("admin", *arguments[name], "--config", copies[name]) for name in arguments])

    def outcome(name: str) -> Outcome:
        return dict(zip(arguments, batch.results(), strict=True))[name], before[name], copies[name]

    yield outcome
    batch.results()  # never leave them running


# -- users -----------------------------------------------------------------------------------------
def test_user_add_modify_remove(gridauth, cfg_copy: Path) -> None:
    added = gridauth("admin", "user", "add", "dave", "--config", cfg_copy, "--dn", "/DC=org/DC=example/CN=Dave",
                     "--id", "dave-subject-1", "--email", "dave@example.org", "--groups", "dteam_user,lhcb_user",
                     ok=True)
    assert re.fullmatch(r"user add dave: written as version \d+\n", added.stderr)
    assert added.stdout == ""
    registry = registry_of(cfg_copy)
    dave = registry.user("dave")
    assert dave is not None and dave.email == "dave@example.org"
    assert registry.user_by_dn("/DC=org/DC=example/CN=Dave") == dave
    assert registry.user_by_subject("dave-subject-1") == dave
    assert registry.groups_of("dave") == ("dteam_user", "lhcb_user")
    assert registry.users_of_group("dteam_user") == frozenset({"alice", "bob", "dave"})

    gridauth("admin", "user", "modify", "dave", "--config", cfg_copy, "--email", "d@example.org",
             "--add-groups", "dteam_admin", "--remove-groups", "lhcb_user", ok=True)
    registry = registry_of(cfg_copy)
    assert registry.user("dave").email == "d@example.org"
    assert registry.user("dave").dns == ("/DC=org/DC=example/CN=Dave",)  # not given: unchanged
    assert registry.groups_of("dave") == ("dteam_admin", "dteam_user")

    gridauth("admin", "user", "modify", "dave", "--config", cfg_copy, "--groups", "lhcb_user", ok=True)
    assert registry_of(cfg_copy).groups_of("dave") == ("lhcb_user",)  # --groups replaces the membership

    gridauth("admin", "user", "remove", "dave", "--config", cfg_copy, ok=True)
    registry = registry_of(cfg_copy)
    assert registry.user("dave") is None
    assert registry.groups_of("dave") == ()
    assert registry.users_of_group("lhcb_user") == frozenset({"alice", "carol"})
    assert "dave" not in cfg_copy.read_text()


def test_user_dn_and_id_repeat(gridauth, cfg_copy: Path) -> None:
    """Repeated --dn and --id keep every value (add, and modify which replaces the list); none is dropped."""
    gridauth("admin", "user", "add", "erin", "--config", cfg_copy, "--dn", "/DC=org/CN=Erin", "--dn",
             "/DC=org/CN=Erin Robot", "--id", "erin-at-a", "--id", "erin-at-b", "--groups", "dteam_user", ok=True)
    registry = registry_of(cfg_copy)
    erin = registry.user("erin")
    assert erin is not None
    assert erin.dns == ("/DC=org/CN=Erin", "/DC=org/CN=Erin Robot")
    assert erin.subjects == ("erin-at-a", "erin-at-b")
    assert registry.user_by_dn("/DC=org/CN=Erin Robot") == erin == registry.user_by_subject("erin-at-b")

    gridauth("admin", "user", "modify", "erin", "--config", cfg_copy, "--id", "erin-at-c", "--id", "erin-at-a",
             "--id", "erin-at-c", ok=True)
    erin = registry_of(cfg_copy).user("erin")
    assert erin is not None
    assert erin.subjects == ("erin-at-c", "erin-at-a")  # replaced, in order, a repeat kept once
    assert erin.dns == ("/DC=org/CN=Erin", "/DC=org/CN=Erin Robot")  # not given: unchanged

    gridauth("admin", "user", "modify", "erin", "--config", cfg_copy, "--dn", "/DC=org/CN=Erin New", ok=True)
    assert registry_of(cfg_copy).user("erin").dns == ("/DC=org/CN=Erin New",)
    shown = json.loads(gridauth("admin", "user", "list", "--json", "--config", cfg_copy, ok=True).stdout)
    assert [row for row in shown if row["name"] == "erin"][0]["id"] == "erin-at-c, erin-at-a"


def test_user_list(background) -> None:
    rows = json.loads(background("user-json")[0].stdout)
    assert isinstance(rows, list) and all(isinstance(row, dict) and "name" in row for row in rows)
    assert [row["name"] for row in rows] == ["alice", "bob", "carol"]
    assert rows[0] == {"name": "alice", "dn": ALICE_DN, "id": "4b1d6f2e-0c9a-4e8b-9f3d-alice",
                       "email": "alice@example.org", "groups": ["dteam_user", "dteam_admin", "lhcb_user"],
                       "suspended": ""}
    plain = background("user-plain")[0].stdout.splitlines()
    assert [line.split()[0] for line in plain] == ["alice", "bob", "carol"]
    assert "email=bob@example.org" in plain[1] and "groups=dteam_user" in plain[1]


# -- groups ----------------------------------------------------------------------------------------
def test_group_add_modify_remove(gridauth, cfg_copy: Path) -> None:
    gridauth("admin", "group", "add", "dteam_prod", "--config", cfg_copy, "--vo", "dteam",
             "--properties", "NormalUser,ProductionManagement", "--users", "bob,carol", ok=True)
    registry = registry_of(cfg_copy)
    assert registry.vo_of_group("dteam_prod") == "dteam"
    assert registry.properties_of_group("dteam_prod") == ("NormalUser", "ProductionManagement")
    assert registry.users_of_group("dteam_prod") == frozenset({"bob", "carol"})

    gridauth("admin", "group", "modify", "dteam_prod", "--config", cfg_copy, "--add-users", "alice",
             "--remove-users", "carol", "--properties", "NormalUser", ok=True)
    registry = registry_of(cfg_copy)
    assert registry.users_of_group("dteam_prod") == frozenset({"alice", "bob"})
    assert registry.properties_of_group("dteam_prod") == ("NormalUser",)

    gridauth("admin", "group", "modify", "dteam_prod", "--config", cfg_copy, "--vo", "lhcb", "--users", "carol",
             ok=True)
    registry = registry_of(cfg_copy)
    assert registry.vo_of_group("dteam_prod") == "lhcb"
    assert registry.users_of_group("dteam_prod") == frozenset({"carol"})  # --users replaces the list
    assert registry.groups_of("carol", "lhcb") == ("dteam_prod", "lhcb_user")

    gridauth("admin", "group", "remove", "dteam_prod", "--config", cfg_copy, ok=True)
    registry = registry_of(cfg_copy)
    assert registry.group("dteam_prod") is None
    assert registry.groups_of("carol") == ("lhcb_user",)


def test_group_list(background) -> None:
    rows = json.loads(background("group-json")[0].stdout)
    assert all(isinstance(row, dict) and "name" in row for row in rows)
    assert [row["name"] for row in rows] == ["dteam_user", "dteam_admin", "lhcb_user"]
    assert rows[1] == {"name": "dteam_admin", "vo": "dteam",
                       "properties": ["NormalUser", "ProxyManagement", "ServiceAdministrator"], "users": ["alice"],
                       "capabilities": []}


# -- VOs -------------------------------------------------------------------------------------------
def test_vo_add_remove(gridauth, cfg_copy: Path) -> None:
    gridauth("admin", "vo", "add", "atlas", "--config", cfg_copy, "--admins", "carol,bob", "--idp", "LocalAccounts",
             ok=True)
    atlas = registry_of(cfg_copy).vos["atlas"]
    assert atlas.admins == ("carol", "bob")
    assert atlas.idp == "LocalAccounts"
    assert atlas.voms_name == "atlas"
    gridauth("admin", "vo", "remove", "atlas", "--config", cfg_copy, ok=True)
    assert "atlas" not in registry_of(cfg_copy).vos


def test_vo_modify(background) -> None:
    result, _, copy = background("vo-modify")
    assert result.returncode == 0, result.stderr
    dteam = registry_of(copy).vos["dteam"]
    assert dteam.admins == ("bob", "alice")
    assert dteam.default_group == "dteam_admin"
    assert dteam.idp == "LocalAccounts"  # not given: unchanged


def test_vo_list(background) -> None:
    rows = json.loads(background("vo-json")[0].stdout)
    assert all(isinstance(row, dict) and "name" in row for row in rows)
    assert rows == [
        {"name": "dteam", "admins": ["alice"], "idp": "LocalAccounts", "default_group": "dteam_user",
         "wlcg_claims": "", "groups": ["dteam_user", "dteam_admin"]},
        {"name": "lhcb", "admins": ["carol"], "idp": "LocalAccounts", "default_group": "lhcb_user",
         "wlcg_claims": "", "groups": ["lhcb_user"]},
    ]
    assert background("vo-plain")[0].stdout.splitlines() == [
        "dteam  admins=alice  idp=LocalAccounts  default_group=dteam_user  groups=dteam_user,dteam_admin",
        "lhcb  admins=carol  idp=LocalAccounts  default_group=lhcb_user  groups=lhcb_user"]


# -- clients ---------------------------------------------------------------------------------------
def test_confidential_client_secret_is_shown_once_and_stored_hashed(gridauth, cfg_copy: Path) -> None:
    added = gridauth("admin", "client", "add", "web", "--config", cfg_copy, "--redirect-uri",
                     "https://web.example.org/callback", "--scope", "openid profile", "--json", ok=True)
    creds = json.loads(added.stdout)
    assert set(creds) == {"client_id", "client_secret"}
    assert creds["client_id"] == "web"
    secret = creds["client_secret"]
    assert len(secret) >= 32

    text = cfg_copy.read_text(encoding="utf-8")
    stored = re.search(r"client_secret = (\S+)", client_section(text, "web")).group(1)
    assert stored.startswith("sha256$")  # generated secrets get the fast hash (random, 256 bits)
    assert verify_client_secret(secret, stored)
    assert not verify_client_secret(secret + "x", stored)
    history = cfg_copy.with_name(cfg_copy.name + ".history")
    for path in [cfg_copy, *history.iterdir()]:
        assert secret not in path.read_text(encoding="utf-8"), f"the secret itself is in {path}"

    client = registry_of(cfg_copy).client("web")
    assert not client.is_public
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert client.grant_types == ("authorization_code", "refresh_token")
    assert client.redirect_uris == ("https://web.example.org/callback",)
    assert client.scope == ("openid", "profile")

    renewed = gridauth("admin", "client", "modify", "web", "--config", cfg_copy, "--new-secret", "--json", ok=True)
    new_creds = json.loads(renewed.stdout)
    assert new_creds["client_id"] == "web" and new_creds["client_secret"] != secret
    new_hash = registry_of(cfg_copy).client("web").client_secret_hash
    assert verify_client_secret(new_creds["client_secret"], new_hash)
    assert not verify_client_secret(secret, new_hash)

    changed = gridauth("admin", "client", "modify", "web", "--config", cfg_copy, "--grant-types",
                       "authorization_code,refresh_token,client_credentials", "--redirect-uri",
                       "https://web.example.org/a", "--redirect-uri", "http://127.0.0.1:8000/b", "--scope",
                       "openid,email", ok=True)
    assert changed.stdout == ""  # no secret unless asked
    client = registry_of(cfg_copy).client("web")
    assert client.grant_types == ("authorization_code", "refresh_token", "client_credentials")
    assert client.redirect_uris == ("https://web.example.org/a", "http://127.0.0.1:8000/b")
    assert client.scope == ("openid", "email")
    assert client.client_secret_hash == new_hash

    removed = gridauth("admin", "client", "remove", "web", "--config", cfg_copy, ok=True)
    assert removed.stdout == ""
    assert registry_of(cfg_copy).client("web") is None
    assert "web.example.org" not in cfg_copy.read_text(encoding="utf-8")


def test_public_client_has_no_secret(gridauth, cfg_copy: Path) -> None:
    added = gridauth("admin", "client", "add", "laptop", "--config", cfg_copy, "--public", "--json", ok=True)
    assert json.loads(added.stdout) == {"client_id": "laptop"}
    section = client_section(cfg_copy.read_text(encoding="utf-8"), "laptop")
    assert "token_endpoint_auth_method = none" in section
    assert "client_secret" not in section
    client = registry_of(cfg_copy).client("laptop")
    assert client.is_public and client.client_secret_hash == ""
    assert client.grant_types == (DEVICE_CODE, "refresh_token")


def test_client_with_its_own_client_id_prints_its_secret_once(gridauth, cfg_copy: Path) -> None:
    printed = gridauth("admin", "client", "add", "api", "--config", cfg_copy, "--client-id", "api-2024", ok=True)
    lines = printed.stdout.splitlines()
    assert len(lines) == 2 and lines[0] == "client_id: api-2024"
    secret = lines[1].removeprefix("client_secret: ")
    assert "shown only this once" in printed.stderr
    registry = registry_of(cfg_copy)
    assert registry.client("api") is None  # found by client_id, not by section name
    client = registry.client("api-2024")
    assert client.name == "api"
    assert client.grant_types == ("client_credentials",)  # confidential, no redirect URI
    assert verify_client_secret(secret, client.client_secret_hash)


def test_client_list_never_shows_secrets(background) -> None:
    listing = background("client-json")[0].stdout
    rows = json.loads(listing)
    assert all(isinstance(row, dict) and "name" in row for row in rows)
    by_name = {row["name"]: row for row in rows}
    assert by_name["gridauth-cli"]["public"] is True
    assert by_name["example-portal"]["public"] is False
    assert by_name["example-portal"]["redirect_uris"] == ["http://localhost:8081/callback"]
    assert "pbkdf2" not in listing and "sha256$" not in listing


# -- refused edits: one clear message, non-zero exit, no traceback, the file untouched -----------------
@pytest.mark.parametrize("case", EDIT_ERRORS)
def test_refused_edit_is_one_clear_line(case: str, background, helpers) -> None:
    _, message = EDIT_ERRORS[case]
    result, before, copy = background(case)
    lines = helpers.clean_failure(result, exit_code=4, one_line=True)
    assert lines[0].startswith("gridauth: error: ") and message in lines[0], lines[0]
    assert result.stdout == ""
    assert copy.read_bytes() == before


@pytest.mark.parametrize("case", INVALID_RESULTS)
def test_edit_that_fails_validation_changes_nothing(case: str, background, helpers) -> None:
    _, error = INVALID_RESULTS[case]
    result, before, copy = background(case)
    lines = helpers.clean_failure(result, exit_code=3)
    assert any(line.startswith(f"gridauth: {error}") for line in lines), result.stderr
    assert lines[-1] == f"gridauth: error: {copy} is invalid ({len(lines) - 1} error(s)); nothing was changed"
    assert result.stdout == ""  # in particular, no client secret for a client that was not added
    assert copy.read_bytes() == before


def test_edits_report_their_version_in_json(gridauth, cfg_copy: Path) -> None:
    added = gridauth("admin", "user", "add", "erin", "--config", cfg_copy, "--json", ok=True)
    first = json.loads(added.stdout)
    assert first["name"] == "erin" and first["action"] == "user add erin" and first["version"] >= 1
    removed = json.loads(gridauth("admin", "user", "remove", "erin", "--config", cfg_copy, "--json",
                                  ok=True).stdout)
    assert removed["version"] == first["version"] + 1


def test_client_post_logout_redirect_uris(gridauth, cfg_copy: Path) -> None:
    gridauth("admin", "client", "add", "portal9", "--config", cfg_copy, "--redirect-uri", "https://p9.example.org/cb",
             "--post-logout-redirect-uri", "https://p9.example.org/", ok=True)
    assert registry_of(cfg_copy).client("portal9").post_logout_redirect_uris == ("https://p9.example.org/",)
    gridauth("admin", "client", "modify", "portal9", "--config", cfg_copy, "--post-logout-redirect-uri",
             "https://p9.example.org/bye", ok=True)
    assert registry_of(cfg_copy).client("portal9").post_logout_redirect_uris == ("https://p9.example.org/bye",)
    listed = json.loads(gridauth("admin", "client", "list", "--config", cfg_copy, "--json", ok=True).stdout)
    assert next(c for c in listed if c["name"] == "portal9")["post_logout_redirect_uris"] == [
        "https://p9.example.org/bye"]


def test_identity_provider_add_modify_list_remove(gridauth, cfg_copy: Path, helpers) -> None:
    idp = "/Resources/IdProviders/EGI"
    # option by option, the first option of an OpenID provider is refused: it needs its issuer and client id too
    half = gridauth("config", "set", f"{idp}/ProviderType", "CheckIn", "--config", cfg_copy, ok=False)
    assert helpers.clean_failure(half, exit_code=3)[0] == f"gridauth: {idp}: an OpenID provider needs its issuer URL"
    # one command, one version, the whole provider
    added = gridauth("admin", "idp", "add", "EGI", "--type", "CheckIn", "--issuer", "https://aai.egi.eu/auth/",
                     "--client-id", "gridauth", "--client-secret", "egi-secret", "--scope",
                     "openid,profile,eduperson_entitlement", "--option", "Comment=EGI Check-in",
                     "--config", cfg_copy, ok=True)
    assert re.fullmatch(r"idp add EGI: written as version \d+\n", added.stderr)
    egi = registry_of(cfg_copy).idps["EGI"]
    assert (egi.provider_type, egi.issuer, egi.client_id, egi.client_secret) == (
        "CheckIn", "https://aai.egi.eu/auth", "gridauth", "egi-secret")
    assert egi.scope == ("openid", "profile", "eduperson_entitlement") and egi.options["Comment"] == "EGI Check-in"
    gridauth("admin", "idp", "modify", "EGI", "--client-id", "gridauth2", "--remove-option", "Comment",
             "--config", cfg_copy, ok=True)
    egi = registry_of(cfg_copy).idps["EGI"]
    assert egi.client_id == "gridauth2" and "Comment" not in egi.options and egi.client_secret == "egi-secret"
    listed = json.loads(gridauth("admin", "idp", "list", "--config", cfg_copy, "--json", ok=True).stdout)
    assert listed[1] == {"name": "EGI", "provider_type": "CheckIn", "issuer": "https://aai.egi.eu/auth/",
                         "client_id": "gridauth2", "has_secret": True,
                         "scope": ["openid", "profile", "eduperson_entitlement"], "options": {}}
    plain = gridauth("admin", "idp", "list", "--config", cfg_copy, ok=True).stdout
    assert "egi-secret" not in plain and "has_secret=True" in plain
    gridauth("admin", "vo", "modify", "dteam", "--idp", "EGI", "--config", cfg_copy, ok=True)
    used = gridauth("admin", "idp", "remove", "EGI", "--config", cfg_copy, ok=False)
    assert helpers.clean_failure(used, exit_code=3)[0] == \
        "gridauth: /Registry/VO/dteam/IdProvider: unknown identity provider 'EGI' (no /Resources/IdProviders/EGI " \
        "section): VO 'dteam' has no identity provider of its own"
    unknown = gridauth("admin", "idp", "modify", "Nope", "--issuer", "https://x.example.org", "--config", cfg_copy,
                       ok=False)
    assert helpers.clean_failure(unknown, exit_code=4, one_line=True) == [
        "gridauth: error: unknown identity provider 'Nope'"]
    gridauth("admin", "vo", "modify", "dteam", "--idp", "LocalAccounts", "--config", cfg_copy, ok=True)
    gridauth("admin", "idp", "remove", "EGI", "--config", cfg_copy, ok=True)
    assert "EGI" not in registry_of(cfg_copy).idps

"""The example configuration and a DIRAC-written registry load, and the snapshot answers every lookup."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from gridauth.config import Registry, load_file, load_text
from gridauth.hashing import verify_secret

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "etc" / "gridauth.cfg"
DIRAC_REGISTRY = Path(__file__).resolve().parent / "data" / "dirac_registry.cfg"

ALICE_DN = "/DC=org/DC=example/OU=People/CN=Alice Anderson"
JOEL_CERN_DN = "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=joel/CN=123456/CN=Joel Closier"
JOEL_UK_DN = "/C=UK/O=eScience/OU=CLRC/L=RAL/CN=joel closier"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_file(str(EXAMPLE))


@pytest.fixture(scope="module")
def dirac() -> Registry:
    return load_file(str(DIRAC_REGISTRY))


# -- the example ---------------------------------------------------------------------------------
def test_example_contents(registry: Registry) -> None:
    assert sorted(registry.vos) == ["dteam", "lhcb"]
    assert sorted(registry.users) == ["alice", "bob", "carol"]
    assert sorted(registry.groups) == ["dteam_admin", "dteam_user", "lhcb_user"]
    assert {"example-portal", "gridauth-cli"} <= set(registry.clients)
    assert sorted(registry.idps) == ["LocalAccounts"]
    assert registry.idps["LocalAccounts"].is_local
    assert registry.default_groups == ("dteam_user",)


def test_example_settings(registry: Registry) -> None:
    settings = registry.settings
    assert settings.issuer == "http://localhost:8080"
    assert settings.signing_algorithm == "RS256"
    assert settings.lifetimes.refresh_token == 43200
    assert settings.lifetimes.access_token == 1200
    assert settings.lifetimes.device_code == 600
    assert settings.lifetimes.device_code_interval == 5
    assert settings.lifetimes.authorization_code == 300
    assert settings.lifetimes.session == 28800  # not in the file: the default


def test_user_by_name_subject_and_dn(registry: Registry) -> None:
    alice = registry.user("alice")
    assert alice is not None
    assert alice.email == "alice@example.org"
    assert alice.dns == (ALICE_DN,)
    assert alice.subjects == ("4b1d6f2e-0c9a-4e8b-9f3d-alice",)
    assert registry.user("nobody") is None

    bob = registry.user_by_subject("7c2e9a41-5d3b-4f60-8a17-bob")
    assert bob is not None and bob.name == "bob"
    assert registry.user_by_subject("no-such-subject") is None

    carol = registry.user_by_dn("/DC=org/DC=example/OU=People/CN=Carol Clark")
    assert carol is not None and carol.name == "carol"
    assert registry.user_by_dn(ALICE_DN).name == "alice"
    assert registry.user_by_dn("/DC=org/DC=example/CN=Nobody") is None


def test_groups_of_user_per_vo(registry: Registry) -> None:
    assert registry.groups_of("alice") == ("dteam_admin", "dteam_user", "lhcb_user")
    assert registry.groups_of("alice", "dteam") == ("dteam_admin", "dteam_user")
    assert registry.groups_of("alice", "lhcb") == ("lhcb_user",)
    assert registry.groups_of("bob") == ("dteam_user",)
    assert registry.groups_of("bob", "lhcb") == ()
    assert registry.groups_of("nobody") == ()
    assert registry.vos_of("alice") == ("dteam", "lhcb")
    assert registry.vos_of("carol") == ("lhcb",)


def test_group_users_properties_and_vo(registry: Registry) -> None:
    assert registry.users_of_group("dteam_user") == frozenset({"alice", "bob"})
    assert registry.users_of_group("lhcb_user") == frozenset({"alice", "carol"})
    assert registry.properties_of_group("dteam_admin") == ("NormalUser", "ProxyManagement", "ServiceAdministrator")
    assert registry.properties_of_group("dteam_user") == ("NormalUser",)
    assert registry.vo_of_group("lhcb_user") == "lhcb"
    assert registry.vo_of_group("dteam_admin") == "dteam"
    group = registry.group("dteam_admin")
    assert group is not None
    assert group.voms_role == "/dteam/admin"
    assert group.idp_roles == ("dteam:role=admin",)
    assert registry.is_member("bob", "dteam_user")
    assert not registry.is_member("bob", "dteam_admin")
    # unknown groups answer empty, never raise
    assert registry.users_of_group("nogroup") == frozenset()
    assert registry.properties_of_group("nogroup") == ()
    assert registry.vo_of_group("nogroup") is None
    assert registry.group("nogroup") is None


def test_vo_details(registry: Registry) -> None:
    dteam = registry.vos["dteam"]
    assert dteam.admins == ("alice",)
    assert dteam.voms_name == "dteam"
    assert dteam.idp == "LocalAccounts"
    assert dteam.default_group == "dteam_user"
    assert registry.vos["lhcb"].default_group == "lhcb_user"


def test_client_by_client_id(registry: Registry) -> None:
    portal = registry.client("example-portal")
    assert portal is not None
    assert not portal.is_public
    assert portal.token_endpoint_auth_method == "client_secret_basic"
    assert portal.redirect_uris == ("http://localhost:8081/callback",)
    assert portal.grant_types == ("authorization_code", "refresh_token")
    assert verify_secret("portal-secret", portal.client_secret_hash)
    assert not verify_secret("wrong", portal.client_secret_hash)

    cli = registry.client("gridauth-cli")
    assert cli is not None and cli.is_public
    assert "urn:ietf:params:oauth:grant-type:device_code" in cli.grant_types
    assert cli.scope == ("openid", "profile", "email", "offline_access")
    assert registry.client("nope") is None


def test_client_is_indexed_by_client_id_not_section_name(example_text: str) -> None:
    text = example_text.replace("client_id = example-portal", "client_id = portal-2024")
    registry = load_text(text)
    assert registry.client("example-portal") is None
    client = registry.client("portal-2024")
    assert client is not None and client.name == "example-portal"


def test_default_group(registry: Registry) -> None:
    # the VO's DefaultGroup when the VO is given
    assert registry.default_group("alice", "lhcb") == "lhcb_user"
    assert registry.default_group("alice", "dteam") == "dteam_user"
    # the VO's DefaultGroup when the user is in one VO only
    assert registry.default_group("carol") == "lhcb_user"
    assert registry.default_group("bob") == "dteam_user"
    # alice is in two VOs: /Registry/DefaultGroup decides
    assert registry.default_group("alice") == "dteam_user"
    # not a member of the VO, or of anything
    assert registry.default_group("bob", "lhcb") is None
    assert registry.default_group("nobody") is None


def test_default_group_follows_the_registry_default(example_text: str) -> None:
    text = example_text.replace("  DefaultGroup = dteam_user\n  VO", "  DefaultGroup = lhcb_user\n  VO")
    assert text != example_text
    registry = load_text(text)
    assert registry.default_groups == ("lhcb_user",)
    assert registry.default_group("alice") == "lhcb_user"


def test_default_group_follows_the_vo_default(example_text: str) -> None:
    text = example_text.replace("      DefaultGroup = dteam_user\n", "      DefaultGroup = dteam_admin\n")
    assert text != example_text
    registry = load_text(text)
    assert registry.vos["dteam"].default_group == "dteam_admin"
    assert registry.default_group("alice", "dteam") == "dteam_admin"
    # bob is not in dteam_admin: the registry-wide default applies
    assert registry.default_group("bob", "dteam") == "dteam_user"


def test_default_group_without_any_default(example_text: str) -> None:
    text = example_text.replace("  DefaultGroup = dteam_user\n  VO", "  VO")
    text = text.replace("      DefaultGroup = dteam_user\n", "")
    registry = load_text(text)
    assert registry.default_groups == ()
    assert registry.default_group("alice", "dteam") is None  # two groups, nothing says which
    assert registry.default_group("bob") == "dteam_user"  # the user's only group


def test_snapshot_is_immutable(registry: Registry) -> None:
    with pytest.raises(TypeError):
        registry.users["mallory"] = registry.users["alice"]  # type: ignore[index]
    with pytest.raises(TypeError):
        registry.groups["dteam_user"] = registry.groups["lhcb_user"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        registry.version = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        registry.users["alice"].email = "x"  # type: ignore[misc]


def test_version_is_a_fingerprint_of_the_text(example_text: str) -> None:
    first = load_text(example_text)
    again = load_text(example_text)
    changed = load_text(example_text.replace("Email = bob@example.org", "Email = bob@example.com"))
    assert first.version and first.version == again.version
    assert changed.version != first.version


# -- a registry written by DIRAC -----------------------------------------------------------------
def test_dirac_registry_validates_with_the_command(gridauth) -> None:
    result = gridauth("config", "validate", DIRAC_REGISTRY, ok=True, exec_=True)  # python -m gridauth.cli.main
    assert "OK (2 VOs, 4 groups, 3 users, 0 clients, 1 identity providers)" in result.stdout


def test_dirac_registry_users(dirac: Registry) -> None:
    assert sorted(dirac.users) == ["atsareg", "joel", "vhamar"]
    joel = dirac.user("joel")
    assert joel is not None
    assert joel.dns == (JOEL_CERN_DN, JOEL_UK_DN)  # "DN +=" continues the list
    assert joel.email == "joel.closier@cern.ch"
    assert dirac.user_by_dn(JOEL_UK_DN).name == "joel"
    assert dirac.user_by_dn(JOEL_CERN_DN).name == "joel"
    assert dirac.user_by_subject("1a2b3c4d-0000-4000-8000-atsareg").name == "atsareg"
    assert dirac.user("atsareg").options["CA"] == "/C=FR/O=CNRS/CN=GRID2-FR"
    assert dirac.user("atsareg").options["mobile"] == "+33600000000"
    assert dirac.user("vhamar").subjects == ()  # no ID: a certificate-only user


def test_dirac_registry_hosts_are_not_users(dirac: Registry) -> None:
    assert dirac.user("dirac.example.org") is None
    assert dirac.user_by_dn("/DC=org/DC=example/OU=computers/CN=dirac.example.org") is None
    # nor are the VOMS servers' DNs
    assert dirac.user_by_dn("/DC=ch/DC=cern/OU=computers/CN=voms2.cern.ch") is None


def test_dirac_registry_groups(dirac: Registry) -> None:
    assert dirac.users_of_group("dirac_user") == frozenset({"atsareg", "vhamar"})  # "Users +="
    assert dirac.properties_of_group("dirac_admin") == (
        "AlarmsManagement", "ServiceAdministrator", "CSAdministrator", "JobAdministrator", "FullDelegation",
        "ProxyManagement", "Operator")
    assert dirac.vo_of_group("lhcb_prod") == "lhcb"
    prod = dirac.group("lhcb_prod")
    assert prod.voms_role == "/lhcb/Role=production"
    assert prod.idp_roles == ("lhcb:role=production",)
    assert prod.options["AutoUploadProxy"] == "True"
    assert prod.options["JobShare"] == "1000"
    assert dirac.groups_of("joel") == ("lhcb_prod", "lhcb_user")
    assert dirac.groups_of("atsareg", "dirac") == ("dirac_admin", "dirac_user")


def test_dirac_registry_vos_and_defaults(dirac: Registry) -> None:
    lhcb = dirac.vos["lhcb"]
    assert lhcb.admins == ("joel",)
    assert lhcb.voms_name == "lhcb"
    assert lhcb.idp == "CheckIn"
    assert lhcb.options["VOAdminGroup"] == "lhcb_prod"
    assert dirac.idps["CheckIn"].issuer == "https://aai.egi.eu/auth/realms/egi"
    assert dirac.idps["CheckIn"].scope == ("openid", "profile", "offline_access", "eduperson_entitlement")
    assert dirac.default_groups == ("lhcb_user", "dirac_user")  # "DefaultGroup +="
    assert dirac.default_group("atsareg") == "lhcb_user"  # two VOs: first registry default
    assert dirac.default_group("atsareg", "dirac") == "dirac_user"
    assert dirac.default_group("joel") == "lhcb_user"
    assert dirac.default_group("vhamar") == "dirac_user"
    assert dirac.settings.issuer == "https://dirac.example.org/auth"
    assert dirac.clients == {}


def test_dirac_registry_survives_an_admin_edit(gridauth, tmp_path: Path) -> None:
    copy = tmp_path / "dirac.cfg"
    shutil.copyfile(DIRAC_REGISTRY, copy)
    gridauth("admin", "user", "add", "newcomer", "--config", copy, "--dn", "/DC=org/DC=example/CN=Newcomer",
             "--groups", "lhcb_user", ok=True)
    edited = load_file(str(copy))
    assert edited.user_by_dn("/DC=org/DC=example/CN=Newcomer").name == "newcomer"
    assert edited.users_of_group("lhcb_user") == frozenset({"joel", "atsareg", "newcomer"})
    assert edited.user_by_dn(JOEL_UK_DN).name == "joel"
    text = copy.read_text(encoding="utf-8")
    # the parts gridauth does not use are kept as they were
    for kept in ("dirac2.example.org", "lcg-voms2.cern.ch", "Port = 15003", "LCG.CERN.cern",
                 "Servers += dips://dirac2.example.org:9135/Configuration/Server", "Version = v8r0p1",
                 "ProxyProviders = DIRAC_CA", "# Two certificates: the CERN one first"):
        assert kept in text

"""Mapping external identities onto the registry: entitlements, wlcg.groups, VOMSRole, IdPRole, narrowing."""

from __future__ import annotations

from typing import Any

import pytest

from gridauth.config.builder import load_text
from gridauth.config.registry import Registry
from gridauth.identity import (
    ExternalIdentity,
    MappedIdentity,
    map_identity,
    memberships,
    parse_entitlement,
    parse_wlcg_group,
)

ALICE = "sub-alice-0001"
BOB = "sub-bob-0002"
CAROL = "sub-carol-0003"

CFG = """
DIRAC
{
  Security
  {
    Authorization
    {
      issuer = http://localhost:8080
    }
  }
}
Registry
{
  VO
  {
    dteam
    {
      IdProvider = CheckIn
    }
    lhcb
    {
      IdProvider = CheckIn
      IdPAuthoritative = yes
    }
    wlcg
    {
      IdProvider = IAM
      IdPAuthoritative = yes
    }
  }
  Users
  {
    alice
    {
      ID = sub-alice-0001
    }
    bob
    {
      ID = sub-bob-0002
    }
    carol
    {
      ID = sub-carol-0003
    }
  }
  Groups
  {
    # VO root, with the short IdPRole of etc/gridauth.cfg
    dteam_user
    {
      Users = alice, bob
      VO = dteam
      VOMSRole = /dteam
      IdPRole = dteam
    }
    # DIRAC's short VOMS form of a role at the VO root
    dteam_admin
    {
      Users = alice
      VO = dteam
      VOMSRole = /dteam/admin
      IdPRole = dteam:role=admin
    }
    # a subgroup
    dteam_prod
    {
      Users = alice, bob
      VO = dteam
      VOMSRole = /dteam/prod
    }
    # the FQAN form of a role in a subgroup
    dteam_pilot
    {
      Users = alice, bob
      VO = dteam
      VOMSRole = /dteam/prod/Role=pilot
    }
    # no VOMSRole: only a whole entitlement, bound to its namespace and authority
    dteam_ops
    {
      Users = alice, bob
      VO = dteam
      IdPRole = urn:mace:egi.eu:group:dteam:ops:role=member#aai.egi.eu
    }
    # DIRAC's scope forms of IdPRole
    dteam_scoped
    {
      Users = alice
      VO = dteam
      IdPRole = eduperson_entitlement?value=urn:mace:egi.eu:group:dteam:sc#aai.egi.eu, wlcg.groups:/dteam/sc2
    }
    # an unreadable VOMSRole and IdPRole select nothing
    dteam_broken
    {
      Users = alice
      VO = dteam
      VOMSRole = dteam
      IdPRole = urn:nogroup:here, dteam:role=, /dteam//x
    }
    # authoritative VO, nobody listed
    lhcb_user
    {
      VO = lhcb
      VOMSRole = /lhcb
    }
    lhcb_prod
    {
      Users = carol
      VO = lhcb
      VOMSRole = /lhcb/Role=production
    }
    wlcg_user
    {
      VO = wlcg
      VOMSRole = /wlcg
    }
  }
}
Resources
{
  IdProviders
  {
    CheckIn
    {
      ProviderType = CheckIn
      issuer = https://aai.egi.eu/auth/realms/egi
      client_id = gridauth
    }
    IAM
    {
      ProviderType = IAM
      issuer = https://wlcg.cloud.cnaf.infn.it
      client_id = gridauth
    }
  }
}
"""

EGI = "urn:mace:egi.eu:group:{}#aai.egi.eu"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_text(CFG, "test")


def groups(registry: Registry, claims: dict[str, Any], subject: str = ALICE, idp: str = "CheckIn") -> tuple[str, ...]:
    mapped = map_identity(registry, ExternalIdentity(idp=idp, subject=subject, claims=claims))
    assert mapped is not None
    return mapped.groups


def ent(*names: str) -> list[str]:
    return [EGI.format(n) for n in names]


# -- parsing -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("urn:mace:egi.eu:group:dteam:role=member#aai.egi.eu", ("dteam", (), None)),
    ("urn:mace:egi.eu:group:dteam:role=admin#aai.egi.eu", ("dteam", (), "admin")),
    ("urn:mace:egi.eu:group:dteam:prod:role=pilot#aai.egi.eu", ("dteam", ("prod",), "pilot")),
    ("urn:mace:egi.eu:group:vo.access.egi.eu:a:b#aai.egi.eu", ("vo.access.egi.eu", ("a", "b"), None)),
    ("urn:mace:egi.eu:group:dteam", ("dteam", (), None)),
    ("urn:mace:egi.eu:group:registry:training.egi.eu:role=member#aai.egi.eu", ("training.egi.eu", (), None)),
    ("urn:geant:eduteams.org:service:eduteams:group:my%20team:role=owner#eduteams.org", None),
    ("urn:geant:eduteams.org:service:eduteams:group:my%2Bteam:role=owner#eduteams.org", ("my+team", (), "owner")),
    ("urn:mace:egi.eu:group:dteam:role=Member#aai.egi.eu", ("dteam", (), None)),
])
def test_parse_entitlement(value: str, expected: Any) -> None:
    assert parse_entitlement(value) == expected


@pytest.mark.parametrize("value", [
    "", "dteam", "urn:mace:egi.eu:dteam", "urn:mace:egi.eu:group:", "urn:mace:egi.eu:group:dteam:role=#a",
    "urn:mace:egi.eu:group::x", "group:dteam", "http://x/group:dteam", "urn:mace:egi.eu:group:dteam#",
    "urn:mace:egi.eu:group:dte am", "urn:mace:egi.eu:group:%ff", "urn:mace:egi.eu:group:../x", 42, None,
    ["urn:mace:egi.eu:group:dteam"], "urn:mace:egi.eu:group:" + "x" * 2000,
])
def test_parse_entitlement_rejects(value: Any) -> None:
    assert parse_entitlement(value) is None


@pytest.mark.parametrize(("value", "expected"), [
    ("/dteam", ("dteam", (), None)),
    ("/dteam/prod/x", ("dteam", ("prod", "x"), None)),
    ("/dteam/Role=admin", ("dteam", (), "admin")),
    ("/dteam/prod/Role=NULL/Capability=NULL", ("dteam", ("prod",), None)),
])
def test_parse_wlcg_group(value: str, expected: Any) -> None:
    assert parse_wlcg_group(value) == expected


@pytest.mark.parametrize("value", ["", "/", "dteam", "/dteam/", "//dteam", "/dteam//x", "/dte am", "/Role=x", 7,
                                   "/dteam/Role=", "/dteam/\u00e9"])
def test_parse_wlcg_group_rejects(value: Any) -> None:
    assert parse_wlcg_group(value) is None


def test_memberships_none_without_group_claims() -> None:
    assert memberships({"sub": "x", "email": "a@b"}) is None
    assert memberships({"wlcg.groups": []}) == ()
    found = memberships({"eduperson_entitlement": EGI.format("dteam:role=admin"), "wlcg.groups": ["/lhcb", 3]})
    assert [(m.vo, m.path, m.role, m.namespace, m.authority) for m in found] == [
        ("dteam", (), "admin", "urn:mace:egi.eu", "aai.egi.eu"), ("lhcb", (), None, None, None)]


# -- mapping -------------------------------------------------------------------------------------------
def test_unregistered_subject_is_not_mapped(registry: Registry) -> None:
    identity = ExternalIdentity("CheckIn", "sub-nobody", {"eduperson_entitlement": ent("dteam")})
    assert map_identity(registry, identity) is None


def test_without_group_claims_the_registry_decides(registry: Registry) -> None:
    mapped = map_identity(registry, ExternalIdentity("CheckIn", BOB, {"email": "bob@example.org"}))
    assert mapped == MappedIdentity("bob", ("dteam_ops", "dteam_pilot", "dteam_prod", "dteam_user"))


def test_entitlement_member_selects_the_vo_root(registry: Registry) -> None:
    assert groups(registry, {"eduperson_entitlement": EGI.format("dteam:role=member")}) == ("dteam_user",)
    # a single string is accepted as well as a list
    assert groups(registry, {"eduperson_entitlement": ent("dteam")}) == ("dteam_user",)


def test_entitlement_role_selects_role_group_and_vo_root(registry: Registry) -> None:
    # /dteam/admin (DIRAC's /<vo>/<role>) and IdPRole dteam:role=admin; a role implies membership of the VO
    assert groups(registry, {"eduperson_entitlement": ent("dteam:role=admin")}) == ("dteam_admin", "dteam_user")


def test_entitlement_subgroup_and_role_in_subgroup(registry: Registry) -> None:
    claims = {"eduperson_entitlement": ent("dteam:prod:role=pilot")}
    assert groups(registry, claims) == ("dteam_pilot", "dteam_prod", "dteam_user")
    assert groups(registry, {"eduperson_entitlement": ent("dteam:prod")}) == ("dteam_prod", "dteam_user")


def test_wlcg_groups_match_voms_roles(registry: Registry) -> None:
    assert groups(registry, {"wlcg.groups": ["/dteam"]}) == ("dteam_user",)
    assert groups(registry, {"wlcg.groups": ["/dteam/prod"]}) == ("dteam_prod", "dteam_user")
    # IAM shows a VOMS role as an optional group: /dteam/prod/pilot is /dteam/prod/Role=pilot
    assert groups(registry, {"wlcg.groups": ["/dteam/prod/pilot"]}) == ("dteam_pilot", "dteam_prod", "dteam_user")
    assert groups(registry, {"wlcg.groups": ["/dteam/admin"]}) == ("dteam_admin", "dteam_user")


def test_both_claims_add_up(registry: Registry) -> None:
    claims = {"eduperson_entitlement": ent("dteam:role=admin"), "wlcg.groups": ["/dteam/prod"]}
    assert groups(registry, claims) == ("dteam_admin", "dteam_prod", "dteam_user")


def test_whole_entitlement_idp_role_needs_its_namespace_and_authority(registry: Registry) -> None:
    assert "dteam_ops" in groups(registry, {"eduperson_entitlement": ent("dteam:ops")})
    assert "dteam_ops" in groups(registry, {"eduperson_entitlement": ent("dteam:ops:role=manager")})
    other_authority = "urn:mace:egi.eu:group:dteam:ops#perun.cesnet.cz"
    other_namespace = "urn:geant:example.org:group:dteam:ops#aai.egi.eu"
    for value in (other_authority, other_namespace, "urn:mace:egi.eu:group:dteam:ops"):
        assert groups(registry, {"eduperson_entitlement": [value]}) == ("dteam_user",), value
    # a wlcg.groups entry has no namespace: the whole-entitlement rule does not apply to it
    assert groups(registry, {"wlcg.groups": ["/dteam/ops"]}) == ("dteam_user",)


def test_dirac_scope_forms_of_idp_role(registry: Registry) -> None:
    assert "dteam_scoped" in groups(registry, {"eduperson_entitlement": ent("dteam:sc")})
    assert "dteam_scoped" in groups(registry, {"wlcg.groups": ["/dteam/sc2"]})
    assert "dteam_scoped" in groups(registry, {"eduperson_entitlement": ent("dteam:sc2")})


def test_unreadable_rules_select_nothing(registry: Registry) -> None:
    everything = {"eduperson_entitlement": ent("dteam:role=admin", "dteam:x"), "wlcg.groups": ["/dteam/x"]}
    assert "dteam_broken" not in groups(registry, everything)


def test_claims_narrow_the_registry(registry: Registry) -> None:
    # bob is not listed in dteam_admin: an IdP saying he is admin does not make him one
    assert groups(registry, {"eduperson_entitlement": ent("dteam:role=admin")}, subject=BOB) == ("dteam_user",)
    # and claims about dteam take away the listed groups they do not mention
    assert groups(registry, {"wlcg.groups": ["/dteam"]}, subject=BOB) == ("dteam_user",)


def test_present_but_empty_or_unreadable_claims_fail_closed(registry: Registry) -> None:
    for claims in ({"wlcg.groups": []}, {"eduperson_entitlement": []}, {"eduperson_entitlement": None},
                   {"wlcg.groups": {"/dteam": True}}, {"eduperson_entitlement": 12},
                   {"eduperson_entitlement": ["", "dteam", "urn:x:group:", {"a": 1}, ["/dteam"], None, 3.5]}):
        assert groups(registry, claims) == (), claims


def test_malformed_entries_are_skipped_one_by_one(registry: Registry) -> None:
    claims = {"eduperson_entitlement": [None, 7, "garbage", EGI.format("dteam"), "urn:mace:egi.eu:group:%zz"],
              "wlcg.groups": ["/dteam/prod", "", "/", "dteam/prod", {"x": 1}, "/" + "a" * 5000]}
    assert groups(registry, claims) == ("dteam_prod", "dteam_user")


def test_authoritative_vo_grants_claimed_groups(registry: Registry) -> None:
    # lhcb: IdPAuthoritative = yes, IdProvider = CheckIn; nobody is listed in lhcb_user
    claims = {"eduperson_entitlement": ent("lhcb", "lhcb:role=production", "dteam:role=admin")}
    assert groups(registry, claims, subject=BOB) == ("dteam_user", "lhcb_prod", "lhcb_user")


def test_authoritative_vo_trusts_only_its_own_identity_provider(registry: Registry) -> None:
    claims = {"eduperson_entitlement": ent("lhcb")}
    assert groups(registry, claims, subject=BOB, idp="IAM") == ()
    # wlcg trusts IAM, not CheckIn
    assert groups(registry, {"wlcg.groups": ["/wlcg"]}, subject=BOB, idp="IAM") == ("wlcg_user",)
    assert groups(registry, {"wlcg.groups": ["/wlcg"]}, subject=BOB, idp="CheckIn") == ()


def test_authoritative_vo_still_needs_a_registered_subject(registry: Registry) -> None:
    identity = ExternalIdentity("CheckIn", "sub-stranger", {"eduperson_entitlement": ent("lhcb")})
    assert map_identity(registry, identity) is None


def test_names_are_compared_exactly(registry: Registry) -> None:
    assert groups(registry, {"wlcg.groups": ["/DTEAM", "/Dteam/prod"]}) == ()
    assert groups(registry, {"wlcg.groups": ["/dteam/Prod"]}) == ("dteam_user",)


def test_example_configuration_idp_roles() -> None:
    from pathlib import Path

    example = load_text((Path(__file__).resolve().parents[2] / "etc" / "gridauth.cfg").read_text(), "example")
    alice = example.users["alice"].subjects[0]
    identity = ExternalIdentity("LocalAccounts", alice, {"eduperson_entitlement": ent("dteam:role=admin")})
    assert map_identity(example, identity) == MappedIdentity("alice", ("dteam_admin", "dteam_user"))
    identity = ExternalIdentity("LocalAccounts", alice, {"wlcg.groups": ["/dteam", "/lhcb"]})
    assert map_identity(example, identity) == MappedIdentity("alice", ("dteam_user", "lhcb_user"))

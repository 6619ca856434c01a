"""Identity providers edited as one change (``admin.edits.idp_*``) and the VO administrators' limits of
``admin/authz.py``, on a real configuration file through the configuration store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from diraccfg import CFG

from gridauth.admin import edits
from gridauth.admin.authz import administrator
from gridauth.config.cfgfile import parse, set_option
from gridauth.config.store import ConfigStore
from gridauth.errors import ConfigInvalid, EditError

EXAMPLE = Path(__file__).resolve().parents[1] / "etc" / "gridauth.cfg"


@pytest.fixture
def store(tmp_path: Path) -> ConfigStore:
    """The example configuration with a service administrators' group (bob) in a store of its own."""
    path = tmp_path / "gridauth.cfg"
    shutil.copyfile(EXAMPLE, path)
    result = ConfigStore(path)

    def admins(cfg):  # type: ignore[no-untyped-def]
        set_option(cfg, "/Registry/Groups/dirac_admin/Users", "bob")
        set_option(cfg, "/Registry/Groups/dirac_admin/VO", "dteam")
        set_option(cfg, "/Registry/Groups/dirac_admin/Properties", "CSAdministrator")
    result.edit(admins, "test", "admins")
    return result


def test_identity_provider_is_added_modified_and_removed_whole(store: ConfigStore) -> None:
    with pytest.raises(ConfigInvalid) as refused:  # an OpenID provider without its client_id: nothing written
        store.edit(lambda cfg: edits.idp_add(cfg, "IAM", "IAM", issuer="https://iam.example.org"))
    assert [i.where for i in refused.value.issues] == ["/Resources/IdProviders/IAM"]
    store.edit(lambda cfg: edits.idp_add(cfg, "IAM", "IAM", "https://iam.example.org", "gridauth", "s3cret",
                                         ["openid", "wlcg.groups"]))
    idp = store.load().idps["IAM"]
    assert (idp.issuer, idp.client_id, idp.client_secret, idp.scope) == (
        "https://iam.example.org", "gridauth", "s3cret", ("openid", "wlcg.groups"))
    # None keeps an option, an empty value removes it
    store.edit(lambda cfg: edits.idp_modify(cfg, "IAM", issuer="https://iam2.example.org", client_secret="",
                                            scope=[]))
    idp = store.load().idps["IAM"]
    assert (idp.issuer, idp.client_id, idp.client_secret, idp.scope) == (
        "https://iam2.example.org", "gridauth", "", ("openid", "profile", "email"))
    listed = {i["name"]: i for i in edits.idp_list(store_cfg(store))}
    assert listed["IAM"]["has_secret"] is False and "client_secret" not in listed["IAM"]
    with pytest.raises(EditError, match="already exists"):
        store.edit(lambda cfg: edits.idp_add(cfg, "IAM", "Local"))
    with pytest.raises(ConfigInvalid):  # a VO still names LocalAccounts
        store.edit(lambda cfg: edits.idp_remove(cfg, "LocalAccounts"))
    store.edit(lambda cfg: edits.idp_remove(cfg, "IAM"))
    assert "IAM" not in store.load().idps
    with pytest.raises(EditError, match="unknown identity provider"):
        store.edit(lambda cfg: edits.idp_modify(cfg, "IAM", issuer="https://x.example.org"))


def store_cfg(store: ConfigStore) -> CFG:
    """The store's file, parsed."""
    return parse(store.read())


def test_vo_administrator_cannot_become_a_service_administrator(store: ConfigStore) -> None:
    registry = store.load()
    alice = administrator(registry, "alice", "dteam_user")  # VOAdmin of dteam
    bob = administrator(registry, "bob", "dirac_admin")
    assert alice.vos == {"dteam"} and not alice.everything and bob.everything
    assert alice.may_manage_group("dteam", ["NormalUser"])
    assert not alice.may_manage_group("dteam", ["NormalUser", "CSAdministrator"])  # rule 3
    assert not alice.may_manage_group("lhcb", ["NormalUser"])
    assert bob.may_manage_group("lhcb", ["CSAdministrator"])
    # bob is in dteam_user and in the CSAdministrator group: alice sees him, but may not change who he is
    bob_groups = [("dteam", ["NormalUser"]), ("dteam", ["CSAdministrator"])]
    assert alice.may_see_user(bob_groups) and not alice.may_manage_user(bob_groups)
    assert alice.may_manage_user([("dteam", ["NormalUser"])])
    assert not alice.may_manage_user([]) and bob.may_manage_user([])  # in no group: the service administrators'
    assert not alice.may_see_user([("lhcb", ["NormalUser"])])

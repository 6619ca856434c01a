"""The admin API on a real server and database: who may do what, batches, concurrency, errors, identity providers.

Roles, in the example configuration plus one group ``cs_admin`` (``CSAdministrator``) added by a test
edit: alice in ``cs_admin`` administers everything; alice in ``dteam_user`` and carol in
``lhcb_user`` are the VOAdmin of dteam and lhcb; bob in ``dteam_user`` administers nothing.
The tokens are real access tokens of the service, from grants made as the login flows make them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gridauth import audit
from gridauth.config import cfgfile, load_file
from gridauth.config.store import ConfigStore
from gridauth.web.admin_openapi import DESCRIBED

from .conftest import PORTAL, Reply, Service, http, issue_grant

API = "/api/admin"
CS_ADMIN_GROUP = """
    cs_admin
    {
      Users = alice
      VO = dteam
      Properties = CSAdministrator, NormalUser
    }
"""


def add_cs_admin_group(config: Path) -> None:
    """The example has no configuration administrators' group: a test edit adds one (alice)."""
    def change(cfg: Any) -> None:
        for option, value in (("Users", "alice"), ("VO", "dteam"), ("Properties", "CSAdministrator, NormalUser")):
            cfgfile.set_option(cfg, f"/Registry/Groups/cs_admin/{option}", value)
    ConfigStore(config).edit(change, "test", "a configuration administrators' group")


@pytest.fixture
def admin_service(config_file: Path, db_url: str) -> Iterator[Service]:
    """The service on the example plus the cs_admin group."""
    add_cs_admin_group(config_file)
    svc = Service(config_file, db_url)
    yield svc
    svc.stop()


def token(service: Service, user: str, group: str) -> str:
    """An access token of *user* acting in *group* (a grant as a login makes it, then a refresh)."""
    refresh = issue_grant(service, user, f"openid group:{group}")
    reply = service.refresh(refresh, PORTAL)
    assert reply.status == 200, reply.body
    return reply.body["access_token"]


def call(service: Service, method: str, path: str, bearer: str | None = None, body: Any = None,
         headers: dict[str, str] | None = None) -> Reply:
    """One request to the admin API, with a JSON body if given."""
    sent = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    return http(service.url + API + path, data, headers=sent, method=method, bearer=bearer)


@pytest.fixture
def tokens(admin_service: Service) -> dict[str, str]:
    """The four roles' tokens."""
    return {"admin": token(admin_service, "alice", "cs_admin"), "dteam": token(admin_service, "alice", "dteam_user"),
            "lhcb": token(admin_service, "carol", "lhcb_user"), "user": token(admin_service, "bob", "dteam_user")}


# Every route and verb, with a request that succeeds for the configuration administrator, and what the
# VO administrator of lhcb (carol) gets: the users and groups of lhcb only.
CASES: list[tuple[str, str, Any, int, int]] = [  # method, path, body, admin's status, lhcb admin's status
    ("GET", "/whoami", None, 200, 200),
    ("GET", "/users", None, 200, 200),
    ("POST", "/users", {"name": "dave", "groups": ["lhcb_user"]}, 201, 201),
    ("GET", "/users/carol", None, 200, 200),
    ("PATCH", "/users/carol", {"email": "c@example.org"}, 200, 200),
    ("PUT", "/users/dave/password", {"password": "dave-password"}, 200, 200),
    ("POST", "/users/dave/suspend", None, 200, 200),  # dave is wholly in lhcb: carol's too
    ("POST", "/users/dave/unsuspend", {"comment": "cleared"}, 200, 200),
    ("DELETE", "/users/dave", None, 200, 200),
    ("GET", "/groups", None, 200, 200),
    ("POST", "/groups", {"name": "lhcb_prod", "vo": "lhcb"}, 201, 201),
    ("GET", "/groups/lhcb_user", None, 200, 200),
    ("PATCH", "/groups/lhcb_user", {"add_users": ["bob"]}, 200, 200),
    ("DELETE", "/groups/dteam_admin", None, 200, 403),
    ("GET", "/vos", None, 200, 200),
    ("POST", "/vos", {"name": "atlas"}, 201, 403),
    ("GET", "/vos/lhcb", None, 200, 200),
    ("PATCH", "/vos/lhcb", {"admins": ["carol", "alice"]}, 200, 403),
    ("DELETE", "/vos/atlas", None, 200, 403),
    ("GET", "/clients", None, 200, 403),
    ("POST", "/clients", {"name": "svc2"}, 201, 403),
    ("GET", "/clients/svc2", None, 200, 403),
    ("PATCH", "/clients/svc2", {"new_secret": True}, 200, 403),
    ("DELETE", "/clients/svc2", None, 200, 403),
    ("GET", "/idps", None, 200, 403),
    ("POST", "/idps", {"name": "Local2", "provider_type": "Local"}, 201, 403),
    ("GET", "/idps/Local2", None, 200, 403),
    ("PATCH", "/idps/Local2", {"options": {"Note": "x"}}, 200, 403),
    ("DELETE", "/idps/Local2", None, 200, 403),
    ("GET", "/config?path=/DIRAC/Security/Authorization/AccessTokenLifetime", None, 200, 403),
    ("PUT", "/config", {"path": "/DIRAC/Security/Authorization/AccessTokenLifetime", "value": "1000"}, 200, 403),
    ("DELETE", "/config?path=/DIRAC/Security/Authorization/AccessTokenLifetime", None, 200, 403),
    ("POST", "/batch", {"operations": [{"op": "user.modify", "name": "carol", "email": "c2@example.org"}]}, 200, 200),
    ("GET", "/history", None, 200, 403),
    ("GET", "/diff", None, 200, 403),
    ("POST", "/rollback", {"version": 2}, 200, 403),  # 2: the example with cs_admin
    ("POST", "/validate", {}, 200, 403),
    ("GET", "/sessions?user=carol", None, 200, 200),  # carol: narrowed to lhcb's grants
    ("POST", "/sessions/revoke", {"client": "oidc-agent"}, 200, 200),
    ("GET", "/token-preview?user=carol&group=lhcb_user&scope=openid", None, 200, 200),
]


def _templated(path: str) -> str:
    parts = path.split("?")[0].split("/")
    if len(parts) >= 3 and parts[1] in ("users", "groups", "vos", "clients", "idps"):
        parts[2] = "{name}"
    return API + "/".join(parts)


def test_the_cases_cover_every_described_route_and_verb() -> None:
    covered = {(_templated(path), method.lower()) for method, path, *_ in CASES}
    described = {(path, verb) for path, verbs in DESCRIBED.items() for verb in verbs
                 if verb != "parameters" and not path.endswith("openapi.json")}
    assert covered == described


def test_no_token_401_normal_user_403_on_every_route(admin_service: Service, tokens: dict[str, str]) -> None:
    for method, path, body, _, _ in CASES:
        bare = call(admin_service, method, path, body=body)
        assert bare.status == 401, (method, path, bare.body)
        assert bare.headers["WWW-Authenticate"].startswith('Bearer realm="gridauth"'), bare.headers
        assert bare.body["error"] == "invalid_request"
        bad = call(admin_service, method, path, "not-a-token", body)
        assert bad.status == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"], (method, path)
        user = call(admin_service, method, path, tokens["user"], body)
        assert user.status == 403 and user.body["error"] == "forbidden", (method, path, user.body)
    assert load_file(str(admin_service.config)).user("dave") is None  # nothing was written


def test_configuration_administrator_and_vo_administrator_on_every_route(admin_service: Service,
                                                                        tokens: dict[str, str]) -> None:
    for method, path, body, _, lhcb in CASES:  # the VO administrator first: the same requests, in order
        reply = call(admin_service, method, path, tokens["lhcb"], body)
        assert reply.status == lhcb, (method, path, reply.body)
        if lhcb == 403:
            assert reply.body["error"] == "forbidden"
    # undo what the VO administrator did, so that the configuration administrator's requests are the same
    undo = [{"op": "group.remove", "name": "lhcb_prod"},
            {"op": "group.modify", "name": "lhcb_user", "remove_users": ["bob"]}]
    assert call(admin_service, "POST", "/batch", tokens["admin"], {"operations": undo}).status == 200
    for method, path, body, status, _ in CASES:
        reply = call(admin_service, method, path, tokens["admin"], body)
        assert reply.status == status, (method, path, reply.body)
    history = ConfigStore(admin_service.config).history()
    authors = {v.author for v in history[2:]}
    assert authors == {"alice", "carol"}, authors  # the registry users, never the server's login name


def test_vo_administrator_sees_and_changes_their_vo_only(admin_service: Service, tokens: dict[str, str]) -> None:
    carol = tokens["lhcb"]
    groups = call(admin_service, "GET", "/groups", carol).body["items"]
    assert [g["name"] for g in groups] == ["lhcb_user"]
    users = call(admin_service, "GET", "/users", carol).body["items"]
    assert sorted(u["name"] for u in users) == ["alice", "carol"]  # alice is in lhcb_user too
    assert [v["name"] for v in call(admin_service, "GET", "/vos", carol).body["items"]] == ["lhcb"]
    refused = {
        "another VO's user": ("GET", "/users/bob", None),
        "another VO's group": ("PATCH", "/groups/dteam_user", {"add_users": ["carol"]}),
        "a user in another VO too": ("PATCH", "/users/alice", {"dns": ["/CN=taken over"]}),
        "a user outside the VO": ("POST", "/users", {"name": "eve", "groups": ["dteam_user"]}),
        "a user in no group": ("POST", "/users", {"name": "eve"}),
        "the password of a user also in another VO": ("PUT", "/users/alice/password", {"password": "alice-taken-over"}),
        "a configuration administrator's property": ("PATCH", "/groups/lhcb_user", {"properties": ["CSAdministrator"]}),
        "a group of another VO": ("POST", "/groups", {"name": "x", "vo": "dteam"}),
        "a global option in a batch": ("POST", "/batch", {"operations": [
            {"op": "user.add", "name": "eve", "groups": ["lhcb_user"]},
            {"op": "config.set", "path": "/DIRAC/Security/Authorization/AccessTokenLifetime", "value": "5"}]}),
    }
    before = ConfigStore(admin_service.config).latest()
    for what, (method, path, body) in refused.items():
        reply = call(admin_service, method, path, carol, body)
        assert reply.status == 403, (what, reply.body)
        assert reply.body["error"] == "forbidden" and reply.body["error_description"], what
    assert ConfigStore(admin_service.config).latest() == before  # nothing written
    # the same rights apply to the dteam administrator, whose token names a dteam group
    assert call(admin_service, "GET", "/users/bob", tokens["dteam"]).status == 200


def test_batch_makes_one_version_validated_as_a_whole(admin_service: Service, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    store = ConfigStore(admin_service.config)
    before = store.latest()
    # a VO with its first group and user: each alone is invalid (a default group outside the VO), together fine
    batch = {"comment": "new VO atlas", "base_version": before, "operations": [
        {"op": "vo.add", "name": "atlas", "default_group": "atlas_user", "idp": "LocalAccounts"},
        {"op": "group.add", "name": "atlas_user", "vo": "atlas", "properties": ["NormalUser"]},
        {"op": "user.add", "name": "dave", "dns": ["/CN=Dave One", "/CN=Dave Two"], "subjects": ["s-1", "s-2"],
         "groups": ["atlas_user"]},
        {"op": "client.add", "name": "atlas-portal", "redirect_uris": ["https://atlas.example.org/cb"]}]}
    reply = call(admin_service, "POST", "/batch", admin, batch)
    assert reply.status == 200, reply.body
    assert reply.body["version"]["id"] == before + 1 and reply.body["version"]["author"] == "alice"
    assert reply.body["version"]["comment"] == "new VO atlas"
    assert reply.body["results"][:3] == [None, None, None]
    assert reply.body["results"][3]["client_secret"]  # shown once, stored hashed
    assert store.latest() == before + 1
    registry = admin_service.context.registry  # served at once by the process that made the edit
    assert registry.user("dave").dns == ("/CN=Dave One", "/CN=Dave Two")
    assert registry.user("dave").subjects == ("s-1", "s-2")
    assert registry.vos["atlas"].default_group == "atlas_user"
    secret = reply.body["results"][3]["client_secret"]
    assert secret not in admin_service.config.read_text()
    dave = call(admin_service, "GET", "/users/dave", admin).body["item"]
    assert dave["groups"] == ["atlas_user"]
    # one invalid operation refuses the whole batch: nothing written
    bad = {"operations": [{"op": "user.add", "name": "erin", "groups": ["atlas_user"]},
                          {"op": "vo.modify", "name": "atlas", "default_group": "dteam_user"}]}
    reply = call(admin_service, "POST", "/batch", admin, bad)
    assert reply.status == 422 and reply.body["error"] == "invalid_configuration"
    assert {"path": "/Registry/VO/atlas/DefaultGroup",
            "reason": "group 'dteam_user' is not in VO 'atlas'"} in reply.body["issues"]
    assert store.latest() == before + 1 and admin_service.context.registry.user("erin") is None


def test_stale_base_version_is_409_and_writes_nothing(admin_service: Service, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    seen = call(admin_service, "GET", "/users", admin).body["version"]
    first = call(admin_service, "PATCH", "/users/bob", admin, {"email": "b1@example.org", "base_version": seen})
    assert first.status == 200 and first.body["version"]["id"] == seen + 1
    late = call(admin_service, "PATCH", "/users/bob", admin, {"email": "b2@example.org", "base_version": seen})
    assert late.status == 409 and late.body["error"] == "version_conflict", late.body
    assert f"based on version {seen}" in late.body["error_description"]
    assert admin_service.context.registry.user("bob").email == "b1@example.org"
    stale_batch = call(admin_service, "POST", "/batch", admin,
                       {"base_version": seen, "operations": [{"op": "user.remove", "name": "bob"}]})
    assert stale_batch.status == 409
    stale_rollback = call(admin_service, "POST", "/rollback", admin, {"version": 1, "base_version": seen})
    assert stale_rollback.status == 409
    # without base_version, the edit applies to the latest version
    assert call(admin_service, "PATCH", "/users/bob", admin, {"email": "b3@example.org"}).status == 200


def test_identity_providers_added_and_modified_in_one_edit_each(admin_service: Service,
                                                                tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    store = ConfigStore(admin_service.config)
    before = store.latest()
    provider = {"name": "WLCG-IAM", "provider_type": "IAM", "issuer": "https://iam.example.org/",
                "client_id": "gridauth-at-iam", "client_secret": "iam-secret",
                "scope": ["openid", "profile", "wlcg.groups"], "options": {"Comment": "the WLCG IAM"}}
    reply = call(admin_service, "POST", "/idps", admin, provider)
    assert reply.status == 201, reply.body
    assert reply.body["version"]["id"] == before + 1  # a whole provider, one version
    idp = admin_service.context.registry.idps["WLCG-IAM"]
    assert (idp.provider_type, idp.issuer, idp.client_id, idp.client_secret) == (
        "IAM", "https://iam.example.org", "gridauth-at-iam", "iam-secret")
    assert idp.scope == ("openid", "profile", "wlcg.groups") and idp.options["Comment"] == "the WLCG IAM"
    shown = call(admin_service, "GET", "/idps/WLCG-IAM", admin).body["item"]
    assert shown["has_secret"] is True and "iam-secret" not in json.dumps(shown)
    changed = call(admin_service, "PATCH", "/idps/WLCG-IAM", admin,
                   {"issuer": "https://iam2.example.org", "remove_options": ["Comment"]})
    assert changed.status == 200, changed.body
    idp = admin_service.context.registry.idps["WLCG-IAM"]
    assert idp.issuer == "https://iam2.example.org" and "Comment" not in idp.options
    assert idp.client_id == "gridauth-at-iam"  # the options not given stay
    # a VO may now use it; an OpenID provider without its client id is refused with its path
    assert call(admin_service, "PATCH", "/vos/dteam", admin, {"idp": "WLCG-IAM"}).status == 200
    half = call(admin_service, "POST", "/idps", admin, {"name": "Half", "provider_type": "OIDC",
                                                         "issuer": "https://op.example.org"})
    assert half.status == 422
    assert half.body["issues"] == [{"path": "/Resources/IdProviders/Half",
                                    "reason": "an OpenID provider needs the client_id gridauth is registered with"}]
    used = call(admin_service, "DELETE", "/idps/WLCG-IAM", admin)
    assert used.status == 422
    assert used.body["issues"] == [{"path": "/Registry/VO/dteam/IdProvider",
                                    "reason": "unknown identity provider 'WLCG-IAM' (no /Resources/IdProviders/"
                                              "WLCG-IAM section): VO 'dteam' has no identity provider of its own"}]


def test_errors_are_json_with_paths_and_reasons(admin_service: Service, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    cases = [
        ("PUT", "/config", {"path": "/DIRAC/Security/Authorization/AccessTokenLifetime", "value": "soon"}, 422,
         "invalid_configuration"),
        ("GET", "/users/zed", None, 404, "not_found"),
        ("PATCH", "/users/zed", {"email": "z@example.org"}, 404, "not_found"),
        ("POST", "/users", {"name": "alice"}, 400, "invalid_edit"),
        ("POST", "/users", {"name": "x", "groups": "dteam_user"}, 400, "invalid_edit"),
        ("POST", "/users", {"name": "x", "colour": "red"}, 400, "invalid_edit"),
        ("POST", "/batch", {"operations": [{"op": "user.fly"}]}, 400, "invalid_edit"),
        ("POST", "/batch", {"operations": []}, 400, "invalid_edit"),
        ("POST", "/rollback", {"version": 999}, 404, "unknown_version"),
        ("GET", "/diff?from=abc", None, 404, "unknown_version"),
        ("PATCH", "/users/bob", {"name": "robert"}, 400, "invalid_edit"),
        ("GET", "/config?path=/No/Such", None, 400, "invalid_edit"),
        ("PUT", "/users/bob/password", {"password": "short"}, 400, "invalid_edit"),
        ("PUT", "/users/zed/password", {"password": "long-enough"}, 404, "not_found"),
    ]
    for method, path, body, status, error in cases:
        reply = call(admin_service, method, path, admin, body)
        assert (reply.status, reply.body["error"]) == (status, error), (method, path, reply.body)
        assert reply.body["error_description"]
    reply = call(admin_service, "PUT", "/config", admin,
                 {"path": "/DIRAC/Security/Authorization/AccessTokenLifetime", "value": "soon"})
    assert reply.body["issues"][0]["path"] == "/DIRAC/Security/Authorization/AccessTokenLifetime"
    not_json = http(admin_service.url + API + "/users", b"name=x", bearer=admin, method="POST",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status == 400 and not_json.body["error"] == "invalid_edit"
    broken = http(admin_service.url + API + "/users", b"{", bearer=admin, method="POST",
                  headers={"Content-Type": "application/json"})
    assert broken.status == 400 and broken.body["error"] == "invalid_edit"


def test_config_reads_history_diff_rollback_validate(admin_service: Service, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    option = call(admin_service, "GET", "/config?path=/DIRAC/Security/Authorization/AccessTokenLifetime", admin).body
    assert (option["option"], option["value"]) == ("AccessTokenLifetime", "1200")
    section = call(admin_service, "GET", "/config?path=/Registry/Groups/cs_admin", admin).body
    assert "CSAdministrator" in section["section"]
    written = call(admin_service, "PUT", "/config", admin, {"path": "/DIRAC/Security/Authorization/AccessTokenLifetime",
                                                             "value": "900", "comment": "shorter"}).body["version"]
    versions = call(admin_service, "GET", "/history", admin).body["versions"]
    assert versions[-1] == written and written["comment"] == "shorter"
    diff = call(admin_service, "GET", "/diff", admin).body["diff"]
    assert "-      AccessTokenLifetime = 1200" in diff and "+      AccessTokenLifetime = 900" in diff
    back = call(admin_service, "POST", "/rollback", admin, {"version": written["id"] - 1}).body["version"]
    assert back["comment"] == f"rollback to version {written['id'] - 1}" and back["author"] == "alice"
    assert admin_service.context.registry.settings.lifetimes.access_token == 1200
    counts = call(admin_service, "POST", "/validate", admin, {}).body["counts"]
    assert counts["groups"] == 4
    text = admin_service.config.read_text().replace("AccessTokenLifetime = 1200", "AccessTokenLifetime = x")
    bad = call(admin_service, "POST", "/validate", admin, {"text": text, "source": "exported.cfg"})
    assert bad.status == 422 and bad.body["source"] == "exported.cfg"
    assert bad.body["issues"][0]["path"] == "/DIRAC/Security/Authorization/AccessTokenLifetime"


def test_edits_and_refusals_are_in_the_audit_log(admin_service: Service, tokens: dict[str, str],
                                                 tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit.configure(str(path))
    try:
        assert call(admin_service, "PATCH", "/users/carol", tokens["lhcb"], {"email": "c@example.org"}).status == 200
        assert call(admin_service, "GET", "/clients", tokens["lhcb"]).status == 403
        assert call(admin_service, "GET", "/users", tokens["user"]).status == 403
    finally:
        audit.configure(None)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    edits = [line for line in lines if line["event"] == "config_edit"]
    assert len(edits) == 1 and edits[0]["user"] == "carol" and edits[0]["reason"] == "admin user modify carol"
    refused = [(line["user"], line["group"]) for line in lines if line["event"] == "admin_refused"]
    assert refused == [("carol", "lhcb_user"), ("bob", "dteam_user")]


def test_dpop_bound_token_needs_its_proof(admin_service: Service) -> None:
    """A DPoP-bound access token is accepted with the DPoP scheme and a proof by its key, as at /userinfo."""
    from .proofs import TOKEN_URL, Holder

    admin_service.edit(lambda cfg: cfgfile.set_option(cfg, "/DIRAC/Security/Authorization/Clients/example-portal/"
                                                           "AccessTokenType", "DPoP"))
    holder = Holder(clock=admin_service.clock)
    refresh = issue_grant(admin_service, "alice", "openid group:cs_admin")
    reply = admin_service.post("/token", {"grant_type": "refresh_token", "refresh_token": refresh}, auth=PORTAL,
                               headers={"DPoP": holder.proof(TOKEN_URL)})
    assert reply.status == 200 and reply.body["token_type"] == "DPoP", reply.body
    access = reply.body["access_token"]
    whoami = admin_service.url + API + "/whoami"
    public = "http://localhost:8080" + API + "/whoami"  # htu: the issuer and the path
    as_bearer = http(whoami, bearer=access)
    assert as_bearer.status == 401 and 'error="invalid_token"' in as_bearer.headers["WWW-Authenticate"]
    unproven = http(whoami, headers={"Authorization": f"DPoP {access}"})
    assert unproven.status == 401 and unproven.headers["WWW-Authenticate"].startswith("DPoP error=")
    proven = http(whoami, headers={"Authorization": f"DPoP {access}",
                                   "DPoP": holder.proof(public, "GET", access_token=access)})
    assert proven.status == 200 and proven.body["everything"] is True, proven.body


def test_token_preview_through_the_api(admin_service: Service, tokens: dict[str, str]) -> None:
    """The dry run of ``gridauth admin token-preview`` on the served registry; a VO administrator for their VO."""
    preview = call(admin_service, "GET", "/token-preview?user=alice&group=dteam_user&scope=openid%20lifetime:300",
                   tokens["admin"])
    assert preview.status == 200, preview.body
    assert (preview.body["scope"], preview.body["expires_in"]) == ("openid lifetime:300 vo:dteam group:dteam_user",
                                                                   300)
    assert preview.body["claims"]["jti"] == "(not issued)" and preview.body["claims"]["sub"] == "alice"
    other_vo = call(admin_service, "GET", "/token-preview?user=alice&group=dteam_user", tokens["lhcb"])
    assert (other_vo.status, other_vo.body["error"]) == (403, "forbidden")
    refused = call(admin_service, "GET", "/token-preview?user=bob&group=lhcb_user", tokens["admin"])
    assert (refused.status, refused.body["error"]) == (422, "token_refused"), refused.body
    assert "invalid_scope" in refused.body["error_description"]
    missing = call(admin_service, "GET", "/token-preview", tokens["admin"])
    assert (missing.status, missing.body["error"]) == (400, "invalid_edit")

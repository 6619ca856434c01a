"""``gridauth admin token-preview``: the token a user in a group would get for a scope, nothing issued;
``gridauth admin group --capabilities`` and ``vo --wlcg-claims`` write the options the preview reads.
"""

from __future__ import annotations

from pathlib import Path

from gridauth.config import load_file

POLICY = "storage.read:/dteam,storage.create:/dteam/user"


def test_capabilities_and_the_profile_set_by_admin_then_previewed(gridauth, cfg_copy: Path):
    gridauth("admin", "group", "modify", "dteam_user", "--capabilities", POLICY, "--config", cfg_copy, ok=True)
    gridauth("admin", "vo", "modify", "dteam", "--wlcg-claims", "yes", "--config", cfg_copy, ok=True)
    registry = load_file(str(cfg_copy))
    assert [c.scope for c in registry.groups["dteam_user"].capabilities] == ["storage.read:/dteam",
                                                                           "storage.create:/dteam/user"]
    assert registry.vos["dteam"].wlcg_claims is True
    answer = gridauth.json("admin", "token-preview", "--user", "alice", "--group", "dteam_user", "--scope",
                           "openid storage.create:/dteam/user/alice", "--config", cfg_copy)
    assert answer["scope"] == "openid storage.create:/dteam/user/alice vo:dteam group:dteam_user"
    assert answer["claims"]["wlcg.ver"] == "1.0" and answer["claims"]["wlcg.groups"] == ["/dteam", "/dteam/dteam_user"]
    assert answer["expires_in"] == 1200 and answer["claims"]["jti"] == "(not issued)"


def test_preview_shows_the_claims_the_granted_scope_and_what_is_left_out(gridauth, cfg_copy: Path):
    gridauth("admin", "group", "modify", "dteam_user", "--capabilities", POLICY, "--config", cfg_copy, ok=True)
    answer = gridauth.json("admin", "token-preview", "--user", "alice", "--group", "dteam_user", "--scope",
                           "openid wlcg storage.read:/dteam//data/ storage.modify:/dteam storage.read:/dteam/../atlas "
                           "lifetime:300 wlcg.groups:/dteam/dteam_admin", "--config", cfg_copy)
    assert answer["scope"] == ("openid wlcg storage.read:/dteam/data lifetime:300 wlcg.groups:/dteam/dteam_admin "
                               "vo:dteam group:dteam_user")
    assert answer["refused"] == ["storage.modify:/dteam", "storage.read:/atlas"]
    assert answer["expires_in"] == 300
    claims = answer["claims"]
    assert list(claims)[:10] == ["wlcg.ver", "sub", "iss", "aud", "iat", "nbf", "exp", "jti", "scope", "wlcg.groups"]
    assert claims["exp"] - claims["iat"] == 300 and claims["scope"] == answer["scope"]
    assert claims["wlcg.groups"] == ["/dteam/dteam_admin", "/dteam", "/dteam/dteam_user"]
    plain = gridauth("admin", "token-preview", "--user", "alice", "--scope", "openid", "--config", cfg_copy, ok=True)
    assert plain.stdout.startswith("scope: openid vo:dteam group:dteam_user\n"), plain.stdout


def test_a_refused_token_is_one_line_and_a_failure(gridauth, cfg_copy: Path):
    cases = {
        ("--user", "bob", "--group", "dteam_admin"): "invalid_scope: the user may not act in group 'dteam_admin'",
        ("--user", "alice", "--group", "dteam_user", "--scope", "storage.read:/"):
            "invalid_scope: none of the capabilities asked is granted (storage.read:/)",
        ("--user", "alice", "--scope", "openid foo", "--client", "example-portal"):
            "invalid_scope: the client may not ask for foo",
        ("--user", "zed"): "unknown user 'zed'",
        ("--user", "alice", "--client", "nobody"): "unknown client 'nobody'",
        ("--user", "alice", "--scope", "storage.read:dteam"): "invalid_scope: 'dteam' is not an absolute path",
    }
    results = gridauth.many([("admin", "token-preview", *args, "--config", cfg_copy) for args in cases], ok=False)
    for (args, message), result in zip(cases.items(), results, strict=True):
        assert result.returncode == 1 and result.stdout == "", (args, result)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)


def test_admin_refuses_a_bad_capability_with_its_path(gridauth, cfg_copy: Path):
    before = cfg_copy.read_text()
    result = gridauth("admin", "group", "modify", "dteam_user", "--capabilities", "storage.read:dteam",
                      "--config", cfg_copy, ok=False)
    assert result.returncode == 3 and "/Registry/Groups/dteam_user/Capabilities" in result.stderr
    assert cfg_copy.read_text() == before

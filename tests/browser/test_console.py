"""The administration console in Chromium, on a real gridauth: sign in, browse, edit, history, rights.

The configuration is the example one plus a service administrators' group (``dirac_admin``, with the
``CSAdministrator`` property, member bob), alice as ``VOAdmin`` of both VOs, and carol as a user
without any administration right. Every page is photographed under the test's tmp directory
(``screenshots/``), and checked for the accessibility basics as every page of the browser tests.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from gridauth.config.cfgfile import set_option
from gridauth.config.store import ConfigStore
from harness import http

from .conftest import Person, PersonFactory, Stack, StackFactory, login_at_gridauth, own

ADMIN = "/admin/dirac_admin/"


def admins(cfg: Any) -> None:
    """The test's administrators: bob a service administrator, alice VOAdmin of dteam and lhcb."""
    set_option(cfg, "/Registry/VO/lhcb/VOAdmin", "alice")
    set_option(cfg, "/Registry/Groups/dirac_admin/Users", "bob")
    set_option(cfg, "/Registry/Groups/dirac_admin/VO", "dteam")
    set_option(cfg, "/Registry/Groups/dirac_admin/Properties", "NormalUser, CSAdministrator")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Screenshots under this test's tmp directory."""
    path = tmp_path / "screenshots"
    path.mkdir()
    return path


@pytest.fixture
def console(new_stack: StackFactory) -> Stack:
    """gridauth with the test's administrators."""
    return new_stack().start(admins)


def visit(who: Person, url: str, step: str) -> int:
    """Open *url* as typed in the address bar; photograph it; its HTTP status."""
    response = who.page.goto(url)
    who.snap(step)
    assert response is not None
    return int(response.status)


def sign_in(stack: Stack, who: Person, user: str, path: str = "/admin/") -> None:
    """Open *path* signed out: the login page comes, then the console."""
    url = stack.gridauth.url
    assert visit(who, url + path, f"{user}-login") == 200
    assert who.heading() == "Sign in" and "/login?next=" in who.url
    login_at_gridauth(who, user, f"{user}-password" if user != "bob" else "bob-password-1", f"{user}-signed-in")


def save(who: Person, step: str, button: str = "button[name=save]") -> None:
    """Press the form's button and photograph what comes."""
    who.click(button, step)


def store(stack: Stack) -> ConfigStore:
    """The configuration store of the running service."""
    return stack.gridauth.context.config_store


def test_service_administrator_browses_edits_and_rolls_back(console: Stack, person: PersonFactory,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "gridauth.audit")
    who = person(*own(console))
    url = console.gridauth.url
    sign_in(console, who, "bob")
    assert who.url == url + ADMIN, who.url  # one group with rights: straight in
    assert who.heading() == "Administration" and "acting in the group dirac_admin" in who.text()
    response = who.page.goto(url + ADMIN)
    assert response is not None and "frame-ancestors 'none'" in response.headers["content-security-policy"]

    # every section
    for section, heading in (("users/", "Users"), ("groups/", "Groups"), ("vos/", "VOs"), ("clients/", "Clients"),
                             ("idps/", "Identity providers"), ("history/", "History")):
        who.click(f"nav a[href='{ADMIN}{section}']", f"list-{section.strip('/')}", then=url + ADMIN + section)
        assert who.heading() == heading
    for path in ("vos/dteam", "groups/dteam_admin", "clients/example-portal", "idps/LocalAccounts"):
        assert visit(who, url + ADMIN + path, f"form-{path.replace('/', '-')}") == 200

    # a user: several DNs and subjects, one more group
    visit(who, url + ADMIN + "users/carol", "user-carol")
    who.fill(dn="/DC=org/DC=example/OU=People/CN=Carol Clark\n/DC=ch/DC=cern/CN=Carol Clark",
             id="9e8d7c6b-1a2b-4c3d-8e9f-carol\ncarol@egi")
    who.page.check("input[name=groups][value=dteam_user]")
    save(who, "user-carol-saved")
    assert re.search(r"Saved as version \d+", who.text())
    carol = console.gridauth.context.registry.user("carol")
    assert carol is not None and carol.subjects == ("9e8d7c6b-1a2b-4c3d-8e9f-carol", "carol@egi")
    assert len(carol.dns) == 2 and console.gridauth.context.registry.is_member("carol", "dteam_user")
    assert store(console).history()[-1].author == "bob"
    edit = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gridauth.audit"
            and '"config_edit"' in r.getMessage()][-1]
    assert (edit["user"], edit["outcome"]) == ("bob", "success") and "user modify carol" in edit["reason"]

    # a group
    visit(who, url + ADMIN + "new/groups", "group-new")
    who.fill(name="dteam_pilot", properties="NormalUser, GenericPilot", users="bob")
    who.page.select_option("select[name=vo]", "dteam")
    save(who, "group-added")
    group_version = store(console).history()[-1].id
    assert console.gridauth.context.registry.group("dteam_pilot") is not None

    # an identity provider: the whole provider is one edit; a missing client_id is shown with its path
    visit(who, url + ADMIN + "new/idps", "idp-new")
    who.fill(name="EGI", issuer="https://aai.egi.eu/auth/realms/egi", scope="openid, profile, eduperson_entitlement")
    who.page.select_option("select[name=provider_type]", "OIDC")
    save(who, "idp-invalid")
    assert "/Resources/IdProviders/EGI" in who.text("[role=alert]") and "client_id" in who.text("[role=alert]")
    who.fill(client_id="gridauth-at-egi", client_secret="egi-secret")
    save(who, "idp-added")
    idp = console.gridauth.context.registry.idps["EGI"]
    assert (idp.provider_type, idp.client_id, idp.client_secret) == ("OIDC", "gridauth-at-egi", "egi-secret")
    visit(who, url + ADMIN + "idps/EGI", "idp-EGI")
    assert who.page.input_value("input[name=client_secret]") == ""  # never shown
    who.fill(scope="openid, profile, email, eduperson_entitlement")
    save(who, "idp-modified")
    idp = console.gridauth.context.registry.idps["EGI"]
    assert idp.client_secret == "egi-secret" and idp.scope == ("openid", "profile", "email", "eduperson_entitlement")

    # a client: its secret is shown once and works at once
    visit(who, url + ADMIN + "new/clients", "client-new")
    who.fill(name="monitoring")
    save(who, "client-secret-shown")
    secret = who.text("#secret").strip()
    reply = http(url + "/token", {"grant_type": "client_credentials"}, auth=("monitoring", secret))
    assert reply.status == 200, reply.body
    visit(who, url + ADMIN + "clients/monitoring", "client-monitoring")
    save(who, "client-new-secret", "button[name=rotate]")
    rotated = who.text("#secret").strip()
    assert rotated != secret
    assert http(url + "/token", {"grant_type": "client_credentials"}, auth=("monitoring", secret)).status == 401

    # history: the group's diff, then roll back to the version before it
    visit(who, url + ADMIN + "history/", "history")
    assert "group add dteam_pilot (web console, group dirac_admin)" in who.text()
    visit(who, url + ADMIN + f"history/{group_version}", "history-group-version")
    assert re.search(r"^\+\s*dteam_pilot$", who.text("pre.diff"), re.M)
    assert "(hidden)" not in who.text("pre.diff")
    visit(who, url + ADMIN + f"history/{group_version - 1}", "history-before-group")
    who.fill(comment="pilots later")
    who.click("button[name=rollback]", "rolled-back", then=re.compile(r".*/history/\?saved=\d+"))
    assert console.gridauth.context.registry.group("dteam_pilot") is None
    assert console.gridauth.context.registry.user("carol").subjects == ("9e8d7c6b-1a2b-4c3d-8e9f-carol", "carol@egi")
    last = store(console).history()[-1]
    assert last.author == "bob" and f"rollback to version {group_version - 1}: pilots later" in last.comment
    visit(who, url + ADMIN + f"history/{last.id}", "history-rollback-diff")
    assert "(hidden)" in who.text("pre.diff")  # the client secrets' hashes are not shown


def test_stale_form_missing_csrf_and_bad_input(console: Stack, person: PersonFactory) -> None:
    who = person(*own(console))
    url = console.gridauth.url
    sign_in(console, who, "bob", ADMIN + "users/bob")
    assert who.url == url + ADMIN + "users/bob" and who.heading() == "User bob"  # back where they asked

    # another administrator saves first: this form is stale
    store(console).edit(lambda cfg: set_option(cfg, "/Registry/Users/alice/Email", "a@example.org"), "carol",
                        "meanwhile")
    versions = len(store(console).history())
    who.fill(email="bob@example.net")
    save(who, "conflict")
    assert who.heading() == "Someone else edited first"
    assert len(store(console).history()) == versions

    # a form without its CSRF token is refused
    visit(who, url + ADMIN + "users/bob", "user-bob-again")
    who.page.evaluate("document.querySelector('input[name=_xsrf]').remove()")
    who.fill(email="bob@example.net")
    save(who, "no-csrf")
    assert who.heading() == "This form has expired"
    assert len(store(console).history()) == versions

    # an edit that makes no sense: the form again, with the reason
    visit(who, url + ADMIN + "new/users", "user-new")
    who.fill(name="bad name!")
    save(who, "user-bad-name")
    assert "invalid user name" in who.text("[role=alert]")
    # an address naming nothing, a damaged form
    assert visit(who, url + ADMIN + "users/nobody", "user-unknown") == 404
    assert who.heading() == "Not found"
    visit(who, url + ADMIN + "new/groups", "group-new")
    who.page.evaluate("document.querySelector('select[name=vo]').innerHTML = '<option value=\"x\">x</option>'")
    save(who, "group-damaged")
    assert who.heading() == "This form could not be read"
    assert len(store(console).history()) == versions

    # a file broken by hand on the server: a page that says so (the service serves the last good version)
    path = store(console).path
    path.write_text(path.read_text() + "\nRegistry\n{\n  Users = {\n")
    assert visit(who, url + ADMIN + "users/", "file-broken") == 503
    assert who.heading() == "The configuration cannot be edited right now"


def test_vo_administrator_sees_and_edits_only_their_vo(console: Stack, person: PersonFactory) -> None:
    who = person(*own(console))
    url = console.gridauth.url
    sign_in(console, who, "alice")
    assert who.url.startswith(url + "/admin/") and who.heading() == "Administration"  # several groups: a choice
    who.page.check("input[name=group][value=dteam_user]")
    who.click("button[type=submit]", "vo-admin-overview", then=url + "/admin/dteam_user/")
    base = url + "/admin/dteam_user/"
    nav = who.text("nav")
    assert "Clients" not in nav and "History" not in nav and "Identity providers" not in nav

    visit(who, base + "users/", "vo-admin-users")
    assert "bob" in who.text("table") and "carol" not in who.text("table")
    visit(who, base + "groups/", "vo-admin-groups")
    assert "lhcb_user" not in who.text("table")
    for path in ("clients/", "idps/", "history/", "users/carol", "groups/lhcb_user", "new/vos", "vos/lhcb"):
        assert visit(who, base + path, f"vo-admin-refused-{path.replace('/', '-')}") == 403, path
        assert who.heading() == "Not allowed"

    # bob is also in dirac_admin (CSAdministrator): his identities are not alice's to change
    visit(who, base + "users/bob", "vo-admin-user-bob")
    assert who.page.is_disabled("textarea[name=id]")
    assert who.page.locator("input[name=groups][value=dirac_admin]").count() == 0
    # a new user of her VO, and a group
    visit(who, base + "new/users", "vo-admin-user-new")
    who.fill(name="erin", id="erin@iam", email="erin@example.org")
    who.page.check("input[name=groups][value=dteam_user]")
    save(who, "vo-admin-user-added")
    assert console.gridauth.context.registry.is_member("erin", "dteam_user")
    assert store(console).history()[-1].author == "alice"
    visit(who, base + "new/groups", "vo-admin-group-new")
    assert who.page.locator("select[name=vo] option").all_inner_texts() == ["dteam"]
    who.fill(name="dteam_prod", properties="NormalUser, ProductionManagement", users="erin")
    save(who, "vo-admin-group-added")
    assert console.gridauth.context.registry.group("dteam_prod") is not None
    # ... but not a group that would make her a service administrator
    visit(who, base + "new/groups", "vo-admin-group-new-2")
    who.fill(name="dteam_root", properties="CSAdministrator", users="alice")
    save(who, "vo-admin-escalation-refused")
    assert who.heading() == "Not allowed"
    assert console.gridauth.context.registry.group("dteam_root") is None


def test_normal_user_and_unknown_group_get_403(console: Stack, person: PersonFactory) -> None:
    who = person(*own(console))
    url = console.gridauth.url
    sign_in(console, who, "carol")
    assert who.heading() == "No administration rights"
    response = who.page.goto(url + "/admin/")
    assert response is not None and response.status == 403
    for path in (ADMIN, "/admin/lhcb_user/users/", "/admin/no_such_group/groups/"):
        assert visit(who, url + path, f"refused-{path.strip('/').replace('/', '-')}") == 403
        assert who.heading() == "No administration rights"


def test_signed_out_post_goes_to_login(console: Stack) -> None:
    """A form sent without a session is refused (no CSRF cookie) and nothing is written."""
    versions = len(store(console).history())
    reply = http(console.gridauth.url + ADMIN + "users/bob", {"email": "x@example.org", "base_version": "1"},
                 headers={"Accept": "text/html"})
    assert reply.status == 403 and b"This form has expired" in reply.body
    basic = base64.b64encode(b"x:y").decode()
    reply = http(console.gridauth.url + ADMIN + "users/", headers={"Authorization": f"Basic {basic}"})
    assert reply.status == 200  # urllib followed the redirect to the login page
    assert b"Sign in" in reply.body
    assert len(store(console).history()) == versions


def test_sessions_page_lists_and_revokes_and_users_are_suspended(console: Stack, person: PersonFactory) -> None:
    from oauth.conftest import issue_grant  # tests/ is on the path, as for harness

    service, url = console.gridauth, console.gridauth.url
    alice = issue_grant(service, "alice", "openid group:dteam_user")
    carol = issue_grant(service, "carol", "openid group:lhcb_user")
    carol_id = service.context.tokens.grant_by_refresh_token(carol).id
    who = person(*own(console))
    sign_in(console, who, "bob", ADMIN + "sessions/")
    assert who.url == url + ADMIN + "sessions/" and who.heading() == "Sessions"
    table = who.text("table")
    assert "alice" in table and "carol" in table and "sign-in" in table  # bob's own sign-in too

    # the selectors are a form; a listing by one selector offers to revoke all it shows
    who.fill(user="alice")
    who.click("button[name=list]", "sessions-alice", then=re.compile(r".*/sessions/\?user=alice.*"))
    assert "carol" not in who.text("table")
    who.click("button[name=revoke][value=listed]", "sessions-alice-revoked", then=re.compile(r".*revoked=1$"))
    assert "1 session revoked." in who.text("[role=status]") and "user=alice" in who.url
    assert service.refresh(alice).body["error"] == "invalid_grant"
    # one grant by its button
    visit(who, url + ADMIN + "sessions/", "sessions-all")
    who.click(f"button[aria-label='Revoke grant {carol_id}']", "sessions-grant-revoked",
              then=re.compile(r".*revoked=1$"))
    assert service.refresh(carol).body["error"] == "invalid_grant"
    assert carol_id not in who.text("table")
    # by a selector: a bad time is the page again with the reason; a form without its CSRF token is refused
    who.page.select_option("select[name=by]", "issued_before")
    who.page.fill("#r-value", "yesterday")
    who.click("button[name=revoke][value=selector]", "sessions-bad-time")
    assert "not an ISO 8601 time" in who.text("[role=alert]")
    dave = issue_grant(service, "bob", "openid group:dteam_user")
    visit(who, url + ADMIN + "sessions/", "sessions-before-csrf")
    who.page.evaluate("document.querySelectorAll('input[name=_xsrf]').forEach(e => e.remove())")
    who.page.select_option("select[name=by]", "user")
    who.page.fill("#r-value", "bob")
    who.click("button[name=revoke][value=selector]", "sessions-no-csrf")
    assert who.heading() == "This form has expired"
    assert service.refresh(dave).status == 200

    # suspension from the user's page, and its lifting: the same grant works again
    visit(who, url + ADMIN + "users/alice", "user-alice")
    alice = issue_grant(service, "alice", "openid group:dteam_user")
    who.click("button[name=suspend][value='1']", "user-alice-suspend", then=re.compile(r".*/users/\?saved=\d+"))
    assert service.context.registry.user("alice").suspended and "yes" in who.text("table")
    assert service.refresh(alice).body["error_description"] == "user 'alice' is suspended"
    assert store(console).history()[-1].comment.startswith("user suspend alice (web console")
    visit(who, url + ADMIN + "users/alice", "user-alice-suspended")
    assert "This user is suspended" in who.text()
    who.click("button[name=suspend][value='0']", "user-alice-unsuspended", then=re.compile(r".*/users/\?saved=\d+"))
    assert not service.context.registry.user("alice").suspended
    assert service.refresh(alice).status == 200


def test_vo_administrator_sees_their_vo_sessions_only(console: Stack, person: PersonFactory) -> None:
    from oauth.conftest import issue_grant  # tests/ is on the path, as for harness

    service, url = console.gridauth, console.gridauth.url
    issue_grant(service, "bob", "openid group:dteam_user")
    carol = issue_grant(service, "carol", "openid group:lhcb_user")
    who = person(*own(console))
    base = url + "/admin/dteam_user/"
    sign_in(console, who, "alice", "/admin/dteam_user/sessions/")
    assert who.url == base + "sessions/" and "Sessions" in who.text("nav")
    table = who.text("table")
    assert "bob" in table and "carol" not in table and "sign-in" not in table  # dteam's grants only
    assert visit(who, base + "sessions/?vo=lhcb", "vo-admin-sessions-other-vo") == 403
    assert who.heading() == "Not allowed"
    visit(who, base + "sessions/", "vo-admin-sessions")
    who.page.select_option("select[name=by]", "user")
    who.page.fill("#r-value", "carol")
    who.click("button[name=revoke][value=selector]", "vo-admin-revoke-carol", then=re.compile(r".*revoked=0$"))
    assert service.refresh(carol).status == 200  # carol's grant is lhcb's
    visit(who, base + "users/bob", "vo-admin-user-bob-no-suspend")  # bob is also a service administrator
    assert who.page.locator("button[name=suspend]").count() == 0

"""The example portal's login in a real browser: local account, group choice, single sign-on, logout."""

from __future__ import annotations

import pytest

from .conftest import Person, PersonFactory, Stack, StackFactory, choose_group, login_at_gridauth, own


def start_login(who: Person, stack: Stack) -> None:
    """Open the portal and click "Log in": gridauth's login form shows up."""
    who.open(stack.portal_url + "/", "portal-home")
    assert "You are not logged in" in who.text()
    who.click("#login", "gridauth-login-page", then=stack.gridauth.url + "/login?**")
    assert who.heading() == "Sign in"


def assert_portal_shows(who: Person, stack: Stack, user: str, vo: str, group: str) -> None:
    """The portal's home page shows who is logged in."""
    assert who.url == stack.portal_url + "/", who.url
    assert who.heading() == f"Welcome, {user}"
    assert who.text("#user") == user
    assert who.text("#vo") == vo
    assert who.text("#group") == group


@pytest.mark.parametrize("javascript", [False, True], ids=["no-js", "js"])
def test_portal_login_with_local_account(stack: Stack, person: PersonFactory, javascript: bool) -> None:
    """(a) portal -> gridauth login -> group choice (alice has 3 groups) -> back at the portal as alice."""
    who = person(*own(stack), javascript=javascript)
    start_login(who, stack)
    login_at_gridauth(who, "alice", "alice-password", "group-choice")
    assert who.heading() == "Choose a group"
    choose_group(who, "dteam_admin", "portal-logged-in", then=stack.portal_url + "/")
    assert_portal_shows(who, stack, "alice", "dteam", "dteam_admin")
    assert "ServiceAdministrator" in who.text("#properties")
    assert "vo:dteam group:dteam_admin" in who.text("#scope")
    assert stack.portal.callbacks == 1 and len(stack.portal.sessions) == 1
    cookies = {c["name"]: c for c in who.page.context.cookies(stack.gridauth.url)}
    session = cookies["gridauth_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax" and not session["secure"]


def test_wrong_password_then_right_one(stack: Stack, person: PersonFactory) -> None:
    """A wrong password shows the form again with an error the person can read; then the right one works."""
    who = person(*own(stack))
    start_login(who, stack)
    login_at_gridauth(who, "bob", "not-bobs-password", "wrong-password")
    assert who.heading() == "Sign in"
    assert "Wrong user name or password" in who.text("[role=alert]")
    assert who.page.input_value("[name=username]") == "bob"
    login_at_gridauth(who, "bob", "bob-password-1", "portal-logged-in")  # bob has one group: no choice
    assert_portal_shows(who, stack, "bob", "dteam", "dteam_user")


def test_group_choice_shows_vo_and_group_names(stack: Stack, person: PersonFactory) -> None:
    """(f) The group page names every group of the person with its VO, and the choice is what the portal gets."""
    who = person(*own(stack))
    start_login(who, stack)
    login_at_gridauth(who, "alice", "alice-password", "group-choice")
    page = who.page
    assert who.heading() == "Choose a group"
    assert "signed in as alice" in who.text()
    assert "example-portal" in who.text()  # which client will act in the group
    offered = {page.get_attribute(f"input[name=group] >> nth={i}", "value")
               for i in range(page.locator("input[name=group]").count())}
    assert offered == {"dteam_user", "dteam_admin", "lhcb_user"}
    for group, vo in (("dteam_user", "dteam"), ("dteam_admin", "dteam"), ("lhcb_user", "lhcb")):
        label = page.locator("label", has=page.locator(f"input[value={group}]")).inner_text()
        assert group in label and f"VO {vo}" in label, label
    choose_group(who, "lhcb_user", "portal-logged-in", then=stack.portal_url + "/")
    assert_portal_shows(who, stack, "alice", "lhcb", "lhcb_user")


def test_single_sign_on_second_login_asks_nothing(new_stack: StackFactory, person: PersonFactory) -> None:
    """(b) After logging in at one portal, logging in at a second portal (in the same browser) asks nothing."""
    stack = new_stack(extra_portals=(("lhcb-portal", "openid profile group:lhcb_user"),)).start()
    lhcb_url, lhcb_portal = stack.portals["lhcb-portal"]
    who = person(*own(stack))
    start_login(who, stack)
    login_at_gridauth(who, "alice", "alice-password", "group-choice")
    choose_group(who, "dteam_user", "portal-logged-in", then=stack.portal_url + "/")
    assert_portal_shows(who, stack, "alice", "dteam", "dteam_user")

    who.open(lhcb_url + "/", "second-portal-home")
    seen = len(who.visited)
    who.click("#login", "second-portal-logged-in", then=lhcb_url + "/")
    # Straight back: the only page shown on the way is the portal's own (no login, no group choice).
    assert who.visited[seen:] == [lhcb_url + "/"], who.visited[seen:]
    assert who.heading() == "Welcome, alice"
    assert who.text("#vo") == "lhcb" and who.text("#group") == "lhcb_user"
    assert lhcb_portal.callbacks == 1 and len(lhcb_portal.sessions) == 1

    # Back at the first portal, switching to another group (asked for by scope group:<g>): nothing asked either.
    who.open(stack.portal_url + "/", "first-portal-again")
    who.click("a.switch:text-is('dteam_admin')", "first-portal-other-group", then=stack.portal_url + "/")
    assert_portal_shows(who, stack, "alice", "dteam", "dteam_admin")
    assert not [u for u in who.visited[seen:] if u.startswith(stack.gridauth.url)]


def test_logout_ends_the_gridauth_session(stack: Stack, person: PersonFactory) -> None:
    """(c) Logging out of the portal ends the gridauth session: the next login shows the login form again."""
    who = person(*own(stack))
    start_login(who, stack)
    login_at_gridauth(who, "bob", "bob-password-1", "portal-logged-in")
    assert_portal_shows(who, stack, "bob", "dteam", "dteam_user")
    assert stack.gridauth.issued()["grants"] == 1

    who.click("button[name=logout]", "portal-logged-out", then=stack.portal_url + "/?state=*")
    assert "You are logged out of the portal and of gridauth" in who.text("[role=status]")
    assert "You are not logged in" in who.text()
    assert not stack.portal.sessions
    assert "gridauth_session" not in {c["name"] for c in who.page.context.cookies(stack.gridauth.url)}

    who.click("#login", "login-form-again", then=stack.gridauth.url + "/login?**")
    assert who.heading() == "Sign in" and who.page.is_visible("[name=password]")


def test_logout_at_gridauth_asks_for_confirmation_without_hint(stack: Stack, person: PersonFactory) -> None:
    """Visiting gridauth's /logout without an id_token_hint asks first (button "logout"), then signs out."""
    who = person(*own(stack))
    start_login(who, stack)
    login_at_gridauth(who, "bob", "bob-password-1", "portal-logged-in")
    who.open(stack.gridauth.url + "/logout", "gridauth-logout-confirmation")
    assert who.heading() == "Sign out?"
    who.click("button[name=logout]", "gridauth-signed-out")
    assert who.heading() == "Signed out"
    who.open(stack.portal_url + "/login", "login-form-again")
    assert who.url.startswith(stack.gridauth.url + "/login?") and who.heading() == "Sign in"


def test_refused_request_comes_back_with_its_state(new_stack: StackFactory, person: PersonFactory) -> None:
    """A portal asking for a scope it is not registered for gets invalid_scope back, with its state."""
    stack = new_stack(extra_portals=(("greedy-portal", "openid profile eduperson_entitlement"),)).start()
    greedy_url, greedy = stack.portals["greedy-portal"]
    who = person(*own(stack))
    who.open(greedy_url + "/", "portal-home")
    who.click("#login", "portal-error", then=greedy_url + "/callback?**")
    assert "error=invalid_scope" in who.url
    assert greedy.callbacks == 1 and not greedy.sessions
    assert "state=" in who.url, who.url
    assert who.heading() == "Login failed" and "invalid_scope" in who.text("[role=alert]")

"""Login through an external OpenID provider (node's certified ``oidc-provider``) in a real browser.

The provider is the harness of ``tests/identity`` (its ``provider.js`` and helper classes, imported
from ``tests/identity/conftest.py``), started here with gridauth's real callback URL as the client's
redirect URI. Its account for ``SUBJECT`` carries the group claims of ``tests/identity``'s ``ACCOUNT``::

    eduperson_entitlement: urn:mace:egi.eu:group:dteam:role=member#aai.egi.eu,
                           urn:mace:egi.eu:group:dteam:role=admin#aai.egi.eu,
                           urn:mace:egi.eu:group:lhcb:role=member#aai.egi.eu
    wlcg.groups:           /dteam, /dteam/prod

In gridauth's registry that subject is alice (``/Registry/Users/alice/ID``), who is listed in four
groups: dteam_user (/dteam), dteam_admin (/dteam/admin), lhcb_user (/lhcb) and, for this module,
dteam_pilot (VOMSRole /dteam/pilot), which no claim covers: the claims narrow alice to three groups.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import pytest

from gridauth.config.cfgfile import set_option

from .conftest import Person, PersonFactory, Stack, StackBuilder, choose_group, own

IDP = "TestOP"
STRANGER = "5e1f0a2b-7c3d-4e9f-8a6b-unregistered"
IDP_SCOPE = "openid, profile, email, eduperson_entitlement, wlcg.groups"


def identity_harness() -> ModuleType:
    """``tests/identity/conftest.py`` (already imported by pytest as ``identity.conftest``, or loaded here)."""
    module = sys.modules.get("identity.conftest")
    if module is not None:
        return module
    path = Path(__file__).resolve().parents[1] / "identity" / "conftest.py"
    spec = importlib.util.spec_from_file_location("gridauth_browser_identity_harness", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = identity_harness()


@pytest.fixture(scope="module")
def node_harness() -> Path:
    """The provider harness with its npm packages (installed when missing); skips without node and npm."""
    return harness.install_harness()


@pytest.fixture
def with_provider(node_harness: Path, new_stack: Callable[..., StackBuilder],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Any]]:
    """gridauth with the IdP ``TestOP`` configured, the provider running, and the example portal."""
    builder = new_stack()
    key = harness.new_signing_key("browser")
    config = {
        "clients": [{"client_id": harness.CLIENT_ID, "client_secret": harness.CLIENT_SECRET,
                     "redirect_uris": [builder.gridauth_url + "/login/callback"]}],
        "accounts": {
            harness.SUBJECT: harness.ACCOUNT,
            STRANGER: {"email": "stranger@example.org", "name": "Sam Stranger", "preferred_username": "sam",
                       "eduperson_entitlement": ["urn:mace:egi.eu:group:dteam:role=member#aai.egi.eu"]},
        },
        "jwks": {"keys": [{**key.as_dict(private=True), "use": "sig", "alg": "RS256"}]},
    }
    provider = harness.OpenIDProvider(tmp_path_factory.mktemp("op"), config, key)
    provider.start()
    try:
        def edit(cfg: Any) -> None:
            base = f"Resources/IdProviders/{IDP}"
            for option, value in (("ProviderType", "OIDC"), ("issuer", provider.issuer),
                                  ("client_id", harness.CLIENT_ID), ("client_secret", harness.CLIENT_SECRET),
                                  ("scope", IDP_SCOPE)):
                set_option(cfg, f"{base}/{option}", value)
            set_option(cfg, "Registry/Users/alice/ID", f"4b1d6f2e-0c9a-4e8b-9f3d-alice, {harness.SUBJECT}")
            for option, value in (("Users", "alice"), ("VO", "dteam"), ("Properties", "NormalUser"),
                                  ("VOMSRole", "/dteam/pilot")):
                set_option(cfg, f"Registry/Groups/dteam_pilot/{option}", value)

        yield builder.start(edit), provider
    finally:
        provider.stop()


def to_provider_consent(who: Person, stack: Stack, provider: Any, account: str) -> None:
    """Portal -> gridauth's login page -> choose the external provider -> its sign-in page -> its consent page."""
    who.open(stack.portal_url + "/", "portal-home")
    who.click("#login", "gridauth-login-page", then=stack.gridauth.url + "/login?**")
    assert who.heading() == "Sign in"
    assert who.page.is_visible(f"input[name=idp][value={IDP}]")  # the provider is offered next to local accounts
    who.page.check(f"input[name=idp][value={IDP}]")
    who.click("form[action='/login'][method=get] button[type=submit]", "provider-sign-in",
              then=provider.issuer + "/interaction/**")
    who.page.wait_for_selector("input[name=prompt][value=login]", state="attached")
    who.fill(login=account, password="any password")
    who.click("button[type=submit]", "provider-consent", then=provider.issuer + "/interaction/**")
    who.page.wait_for_selector("input[name=prompt][value=consent]", state="attached")


def login_at_provider(who: Person, stack: Stack, provider: Any, account: str) -> None:
    """Portal -> gridauth's login page -> the external provider's pages -> back to gridauth."""
    to_provider_consent(who, stack, provider, account)
    who.click("button[type=submit]", "back-at-gridauth", then=lambda url: url.startswith(stack.gridauth.url)
              or url.startswith(stack.portal_url))


def test_login_through_external_provider_with_claim_mapping(with_provider: tuple[Stack, Any],
                                                            person: PersonFactory) -> None:
    """(g) Portal -> gridauth -> provider's pages -> gridauth's group choice (claims-narrowed) -> portal."""
    stack, provider = with_provider
    who = person(*own(stack))
    login_at_provider(who, stack, provider, harness.SUBJECT)
    assert who.heading() == "Choose a group", who.text()
    page = who.page
    offered = {page.get_attribute(f"input[name=group] >> nth={i}", "value")
               for i in range(page.locator("input[name=group]").count())}
    # The registry lists alice in four groups; the provider's claims cover three of them.
    assert offered == {"dteam_user", "dteam_admin", "lhcb_user"}
    assert "dteam_pilot" not in who.text()
    choose_group(who, "dteam_admin", "portal-logged-in", then=stack.portal_url + "/")
    assert who.heading() == "Welcome, alice"
    assert who.text("#vo") == "dteam" and who.text("#group") == "dteam_admin"
    assert "ServiceAdministrator" in who.text("#properties")

    # The excluded group cannot be had by asking for it either (single sign-on keeps the narrowed groups).
    who.open(stack.portal_url + "/login?group=dteam_pilot", "excluded-group-refused")
    assert who.heading() == "Login failed"
    assert "invalid_scope" in who.text("[role=alert]")


def test_unregistered_subject_is_refused(with_provider: tuple[Stack, Any], person: PersonFactory,
                                         caplog: pytest.LogCaptureFixture) -> None:
    """(h) A subject the registry does not know gets gridauth's "Not registered" page; nothing is issued."""
    stack, provider = with_provider
    caplog.set_level(logging.WARNING, logger="gridauth.audit")
    who = person(*own(stack))
    login_at_provider(who, stack, provider, STRANGER)
    assert who.url.startswith(stack.gridauth.url + "/login/callback?"), who.url
    assert who.heading() == "Not registered"
    assert STRANGER in who.text() and IDP in who.text()
    assert "is not registered with this service, so you cannot sign in yet" in who.text()
    assert stack.portal.callbacks == 0 and not stack.portal.sessions  # the portal got nothing back
    assert stack.gridauth.issued() == {"sessions": 0, "authorization_codes": 0, "grants": 0}
    assert "gridauth_session" not in {c["name"] for c in who.page.context.cookies(stack.gridauth.url)}
    audit = [r.getMessage() for r in caplog.records if r.name == "gridauth.audit"]
    assert any(STRANGER in line and IDP in line for line in audit), audit

    # Nothing was remembered: logging in again starts from gridauth's login page.
    who.open(stack.portal_url + "/login", "login-page-again")
    assert who.url.startswith(stack.gridauth.url + "/login?") and who.heading() == "Sign in"


def test_suspended_user_is_refused_after_the_provider_answers(with_provider: tuple[Stack, Any],
                                                              person: PersonFactory) -> None:
    """A suspended user signed in at the provider gets gridauth's "suspended" page; no session, nothing issued."""
    stack, provider = with_provider
    stack.gridauth.edit(lambda cfg: set_option(cfg, "Registry/Users/alice/Suspended", "yes"))
    who = person(*own(stack))
    login_at_provider(who, stack, provider, harness.SUBJECT)
    assert who.url.startswith(stack.gridauth.url + "/login/callback?"), who.url
    assert who.heading() == "Your account is suspended"
    assert stack.gridauth.issued() == {"sessions": 0, "authorization_codes": 0, "grants": 0}
    assert "gridauth_session" not in {c["name"] for c in who.page.context.cookies(stack.gridauth.url)}


def capture_callback(who: Person, stack: Stack, provider: Any, account: str) -> str:
    """Go through the provider's pages, but keep its answer instead of following it to gridauth.

    The consent form is sent with the browser context's own cookies (``context.request``), redirects
    are followed by hand up to the one that points at gridauth: that URL (code, state, iss) is returned
    and gridauth has not seen it.
    """
    to_provider_consent(who, stack, provider, account)
    page = who.page
    url = urljoin(page.url, page.get_attribute("form[method=post]", "action") or "")
    response = page.context.request.post(url, form={"prompt": "consent"}, max_redirects=0)
    for _ in range(5):
        location = urljoin(url, response.headers.get("location", ""))
        assert response.status in (302, 303) and location, (response.status, response.text()[:500])
        if location.startswith(stack.gridauth.url + "/login/callback"):
            return location
        url, response = location, page.context.request.get(location, max_redirects=0)
    raise AssertionError("the provider never sent the browser back to gridauth")


def test_login_answer_is_refused_in_another_browser(with_provider: tuple[Stack, Any],
                                                    person: PersonFactory) -> None:
    """An attacker's login answer opened in a victim's browser must not log the victim in as the attacker.

    RFC 6749 §10.12 / OpenID Connect Core §3.1.2.1: ``state`` must bind the answer to the browser that
    started the login. The attacker starts a login in their own browser, stops before gridauth sees the
    provider's answer and makes the victim open it: gridauth should refuse it (as the example portal does
    for its own callback), and set no session.
    """
    stack, provider = with_provider
    attacker = person(*own(stack))
    stolen = capture_callback(attacker, stack, provider, harness.SUBJECT)
    victim = person(*own(stack))
    victim.open(stolen, "victim-opens-attackers-answer")
    assert victim.heading() == "This sign-in cannot be finished here"
    assert "sign in again, in this browser" in victim.text()
    assert "gridauth_session" not in {c["name"] for c in victim.page.context.cookies(stack.gridauth.url)}
    assert stack.gridauth.issued()["sessions"] == 0


def test_login_answer_naming_another_issuer_is_refused(with_provider: tuple[Stack, Any],
                                                       person: PersonFactory) -> None:
    """A provider answer whose ``iss`` names another issuer (a mix-up attack, RFC 9207) must be refused."""
    stack, provider = with_provider
    who = person(*own(stack))
    answer = capture_callback(who, stack, provider, harness.SUBJECT)
    parts = urlsplit(answer)
    query = parse_qs(parts.query)
    assert query["iss"] == [provider.issuer]  # oidc-provider sends iss (RFC 9207)
    query["iss"] = ["http://127.0.0.1:9/another-issuer"]
    who.open(urlunsplit(parts._replace(query=urlencode(query, doseq=True))), "answer-with-another-iss")
    assert who.heading() == "Sign-in failed", who.text()
    assert "could not be accepted, so you are not signed in" in who.text()
    assert "iss mismatch" in who.text(".details")
    assert stack.gridauth.issued()["sessions"] == 0

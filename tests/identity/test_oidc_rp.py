"""gridauth as a relying party of a real OpenID provider (node oidc-provider on loopback).

Each login goes through the provider's real pages: a scripted browser signs in and consents, and the
test stops at the provider's redirect to our callback URL, takes code and state from it, and completes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse

from gridauth.clock import Clock
from gridauth.config.builder import load_text
from gridauth.config.model import IdProvider
from gridauth.identity import (
    ExternalIdentity,
    IdentityError,
    LoginState,
    MappedIdentity,
    OIDCRelyingParty,
    map_identity,
)
from gridauth.identity.jwks import REFETCH_INTERVAL, KeyCache
from gridauth.identity.oidc_rp import s256_challenge

from .conftest import (
    ACCOUNT,
    CLIENT_ID,
    CLIENT_SECRET,
    PUBLIC_CLIENT_ID,
    REDIRECT_URI,
    SUBJECT,
    Browser,
    OpenIDProvider,
    free_port,
    new_signing_key,
    provider_config,
)

SCOPE = ("openid", "profile", "email", "eduperson_entitlement", "wlcg.groups")
T = TypeVar("T")

REGISTRY = """
Registry
{
  VO
  {
    dteam
    {
      IdProvider = TestOP
    }
    lhcb
    {
      IdProvider = TestOP
      IdPAuthoritative = yes
    }
  }
  Users
  {
    alice
    {
      ID = %(subject)s
    }
  }
  Groups
  {
    dteam_user
    {
      Users = alice
      VO = dteam
      VOMSRole = /dteam
      IdPRole = dteam
    }
    dteam_admin
    {
      Users = alice
      VO = dteam
      VOMSRole = /dteam/admin
      IdPRole = dteam:role=admin
    }
    dteam_prod
    {
      Users = alice
      VO = dteam
      VOMSRole = /dteam/prod
    }
    dteam_pilot
    {
      Users = alice
      VO = dteam
      VOMSRole = /dteam/prod/Role=pilot
    }
    lhcb_user
    {
      VO = lhcb
      VOMSRole = /lhcb
    }
  }
}
Resources
{
  IdProviders
  {
    TestOP
    {
      ProviderType = OIDC
      issuer = %(issuer)s
      client_id = %(client_id)s
      client_secret = %(secret)s
      scope = %(scope)s
    }
  }
}
"""


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def idp_for(provider: OpenIDProvider, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET,
            issuer: str | None = None) -> IdProvider:
    """The IdProvider of the test provider, as the configuration builder makes it."""
    text = REGISTRY % {"subject": SUBJECT, "issuer": issuer or provider.issuer, "client_id": client_id,
                       "secret": secret or "", "scope": ", ".join(SCOPE)}
    if not secret:
        text = text.replace("      client_secret = \n", "")
    return load_text(text, "test").idps["TestOP"]


async def login(rp: OIDCRelyingParty, browser: Browser, **extra: str) -> tuple[dict[str, list[str]], LoginState]:
    """begin(), then the browser through the provider's pages; the callback query and the login state."""
    url, state = await rp.begin(REDIRECT_URI, extra or None)
    result = browser.login(url, SUBJECT)
    return result.query, state


async def code_and_state(rp: OIDCRelyingParty, browser: Browser) -> tuple[str, LoginState]:
    query, state = await login(rp, browser)
    return await rp.callback_code(query, state), state


def assert_clean(error: pytest.ExceptionInfo[IdentityError], *secrets: str) -> str:
    """The message is one line and shows none of *secrets*."""
    message = str(error.value)
    assert message and "\n" not in message
    for secret in (CLIENT_SECRET, *secrets):
        assert secret not in message, message
    return message


# -- the whole login ---------------------------------------------------------------------------------
def test_login_through_real_provider_maps_to_registry_groups(provider: OpenIDProvider, browser: Browser) -> None:
    async def flow() -> tuple[str, LoginState, dict[str, list[str]], ExternalIdentity]:
        rp = OIDCRelyingParty(idp_for(provider))
        url, state = await rp.begin(REDIRECT_URI, {"login_hint": SUBJECT})
        result = browser.login(url, SUBJECT)
        code = await rp.callback_code(result.query, state)
        stored = LoginState.from_dict(json.loads(json.dumps(state.to_dict())))  # as the web layer keeps it
        return url, state, result.query, await rp.complete(code, stored)

    url, state, query, identity = run(flow())

    parts = urllib.parse.urlsplit(url)
    params = dict(urllib.parse.parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{provider.issuer}/auth"
    assert params == {
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "scope": " ".join(SCOPE),
        "state": state.state, "nonce": state.nonce, "code_challenge": s256_challenge(state.code_verifier),
        "code_challenge_method": "S256", "login_hint": SUBJECT,
    }
    assert len(state.state) >= 40 and len(state.nonce) >= 40 and 43 <= len(state.code_verifier) <= 128
    assert state.idp == "TestOP" and state.redirect_uri == REDIRECT_URI
    assert query["state"] == [state.state] and query["iss"] == [provider.issuer]

    assert identity.idp == "TestOP" and identity.subject == SUBJECT
    claims = identity.claims
    assert claims["iss"] == provider.issuer and claims["aud"] == CLIENT_ID and claims["nonce"] == state.nonce
    for name in ("email", "email_verified", "name", "preferred_username", "eduperson_entitlement", "wlcg.groups"):
        assert claims[name] == ACCOUNT[name], name  # from the userinfo endpoint, merged
    with pytest.raises(TypeError):
        claims["email"] = "mallory@example.org"  # type: ignore[index]

    registry = load_text(REGISTRY % {"subject": SUBJECT, "issuer": provider.issuer, "client_id": CLIENT_ID,
                                     "secret": CLIENT_SECRET, "scope": "openid"}, "test")
    # entitlements dteam (member, admin) and lhcb, wlcg.groups /dteam and /dteam/prod: dteam_pilot is not
    # claimed; lhcb_user lists nobody, but lhcb trusts TestOP
    assert map_identity(registry, identity) == MappedIdentity(
        "alice", ("dteam_admin", "dteam_prod", "dteam_user", "lhcb_user"))


def test_public_client_sends_client_id_in_the_body(provider: OpenIDProvider, browser: Browser) -> None:
    async def flow() -> ExternalIdentity:
        rp = OIDCRelyingParty(idp_for(provider, client_id=PUBLIC_CLIENT_ID, secret=""))
        assert not rp.idp.client_secret
        code, state = await code_and_state(rp, browser)
        return await rp.complete(code, state)

    identity = run(flow())
    assert identity.subject == SUBJECT and identity.claims["aud"] == PUBLIC_CLIENT_ID


def test_second_login_reuses_the_provider_session(provider: OpenIDProvider, browser: Browser) -> None:
    async def flow() -> tuple[list[int], list[ExternalIdentity]]:
        rp = OIDCRelyingParty(idp_for(provider))
        pages, identities = [], []
        for _ in range(2):
            url, state = await rp.begin(REDIRECT_URI)
            result = browser.login(url, SUBJECT)
            pages.append(len(result.pages))
            identities.append(await rp.complete(await rp.callback_code(result.query, state), state))
        return pages, identities

    pages, (first, second) = run(flow())
    assert pages == [2, 0]  # sign-in and consent the first time; the provider remembers both
    assert first.subject == second.subject == SUBJECT and first.claims["nonce"] != second.claims["nonce"]


# -- what must fail ------------------------------------------------------------------------------------
def test_wrong_nonce_is_refused(provider: OpenIDProvider, browser: Browser) -> None:
    async def flow() -> None:
        rp = OIDCRelyingParty(idp_for(provider))
        code, state = await code_and_state(rp, browser)
        await rp.complete(code, replace(state, nonce=state.nonce[:-2] + "xx"))

    with pytest.raises(IdentityError, match="nonce mismatch") as error:
        run(flow())
    assert_clean(error)


def test_tampered_code_is_refused(provider: OpenIDProvider, browser: Browser) -> None:
    codes: list[str] = []

    async def flow() -> None:
        rp = OIDCRelyingParty(idp_for(provider))
        code, state = await code_and_state(rp, browser)
        codes.append(code)
        await rp.complete(code[:-3] + "AAA", state)

    with pytest.raises(IdentityError, match="refused the authorization code: invalid_grant") as error:
        run(flow())
    assert_clean(error, codes[0], codes[0][:-3])


@pytest.mark.parametrize("field", ["code_verifier", "redirect_uri"])
def test_tampered_login_state_is_refused(provider: OpenIDProvider, browser: Browser, field: str) -> None:
    async def flow() -> LoginState:
        rp = OIDCRelyingParty(idp_for(provider))
        code, state = await code_and_state(rp, browser)
        changed = {"code_verifier": state.code_verifier[::-1], "redirect_uri": REDIRECT_URI + "2"}[field]
        await rp.complete(code, replace(state, **{field: changed}))
        return state

    with pytest.raises(IdentityError, match="invalid_grant") as error:
        run(flow())
    assert_clean(error)


def test_callback_must_carry_our_state_and_the_provider_issuer(provider: OpenIDProvider, browser: Browser) -> None:
    async def flow() -> dict[str, str]:
        rp = OIDCRelyingParty(idp_for(provider))
        query, state = await login(rp, browser)
        messages = {}
        for name, changed in {
            "state": {**query, "state": [state.state[:-1] + "x"]},
            "no state": {k: v for k, v in query.items() if k != "state"},
            "repeated state": {**query, "state": [state.state, state.state]},
            "iss": {**query, "iss": ["http://127.0.0.1:1"]},
            "no iss": {k: v for k, v in query.items() if k != "iss"},
            "no code": {k: v for k, v in query.items() if k != "code"},
        }.items():
            with pytest.raises(IdentityError) as error:
                await rp.callback_code(changed, state)
            messages[name] = assert_clean(error, query["code"][0])
        with pytest.raises(IdentityError, match="started with Other"):
            await rp.callback_code(query, replace(state, idp="Other"))
        # the genuine answer still works, in Tornado's form (bytes values)
        code = await rp.callback_code({k: [v.encode() for v in vs] for k, vs in query.items()}, state)
        assert code == query["code"][0]
        return messages

    messages = run(flow())
    assert "state mismatch" in messages["state"] and "state mismatch" in messages["no state"]
    assert "repeats the state" in messages["repeated state"]
    assert "iss mismatch" in messages["iss"] and "lacks the iss" in messages["no iss"]
    assert "no authorization code" in messages["no code"]


def test_refused_consent_is_reported(provider: OpenIDProvider) -> None:
    async def flow() -> None:
        rp = OIDCRelyingParty(idp_for(provider))
        url, state = await rp.begin(REDIRECT_URI)
        result = Browser().login(url, SUBJECT, consent=False)
        assert result.query["error"] == ["access_denied"]
        await rp.callback_code(result.query, state)

    with pytest.raises(IdentityError, match="TestOP refused the login: access_denied"):
        run(flow())


def test_code_can_be_used_once(provider: OpenIDProvider, browser: Browser) -> None:
    async def flow() -> None:
        rp = OIDCRelyingParty(idp_for(provider))
        code, state = await code_and_state(rp, browser)
        await rp.complete(code, state)
        await rp.complete(code, state)

    with pytest.raises(IdentityError, match="invalid_grant"):
        run(flow())


def test_wrong_client_secret_is_refused_without_showing_it(provider: OpenIDProvider, browser: Browser) -> None:
    async def flow() -> None:
        rp = OIDCRelyingParty(idp_for(provider, secret="not-the-secret"))
        code, state = await code_and_state(rp, browser)
        await rp.complete(code, state)

    with pytest.raises(IdentityError, match="invalid_client") as error:
        run(flow())
    assert_clean(error, "not-the-secret")


def test_unknown_subject_is_not_mapped(start_provider: Callable[..., OpenIDProvider], browser: Browser) -> None:
    key = new_signing_key("stranger")
    provider = start_provider(provider_config(key, accounts={SUBJECT: {}}), key)

    async def flow() -> ExternalIdentity:
        rp = OIDCRelyingParty(idp_for(provider))
        return await rp.complete(*await code_and_state(rp, browser))

    identity = run(flow())
    assert identity.subject == SUBJECT and "eduperson_entitlement" not in identity.claims
    registry = load_text(REGISTRY % {"subject": "someone-else", "issuer": provider.issuer, "client_id": CLIENT_ID,
                                     "secret": CLIENT_SECRET, "scope": "openid"}, "test")
    assert map_identity(registry, identity) is None


# -- keys ------------------------------------------------------------------------------------------------
class CountingHTTP:
    """Tornado's HTTP client, recording every URL the relying party asks for (to count JWKS fetches)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def fetch(self, request: HTTPRequest, **kwargs: Any) -> HTTPResponse:
        self.urls.append(request.url)
        return await AsyncHTTPClient().fetch(request, **kwargs)


def test_rotated_provider_key_is_fetched_at_most_once_a_minute(start_provider: Callable[..., OpenIDProvider],
                                                               browser: Browser) -> None:
    """A new kid is fetched again on its first failure, rate-limited to one JWKS fetch a minute."""
    provider = start_provider()
    clock, http = Clock(), CountingHTTP()

    async def flow() -> None:
        rp = OIDCRelyingParty(idp_for(provider), http, clock=clock)  # type: ignore[arg-type]  # duck-typed client
        await rp.complete(*await code_and_state(rp, browser))
        jwks_uri = (await rp.metadata())["jwks_uri"]
        assert [k.kid for k in await rp.keys()] == ["test-0"] and http.urls.count(jwks_uri) == 1

        key = new_signing_key("rotated")
        provider.restart(provider_config(key), key)  # same issuer, new signing key, new sessions
        with pytest.raises(IdentityError, match="has no key for the ID token"):  # fetched a moment ago: not again
            await rp.complete(*await code_and_state(rp, Browser()))
        assert http.urls.count(jwks_uri) == 1

        clock.advance(REFETCH_INTERVAL + 1)
        await rp.complete(*await code_and_state(rp, Browser()))  # refetched once, then verified
        assert [k.kid for k in await rp.keys()] == ["rotated"] and http.urls.count(jwks_uri) == 2

        state = LoginState("TestOP", "s" * 43, "n" * 43, "v" * 64, REDIRECT_URI)
        forged = _id_token(provider, state, key=RSAKey.generate_key(2048, private=True), header={"kid": "made-up"})
        for _ in range(3):  # made-up kids do not make gridauth hammer the provider
            with pytest.raises(IdentityError, match="has no key"):
                await rp.verify_id_token(forged, state)
        assert http.urls.count(jwks_uri) == 2

    run(flow())


def test_key_replaced_under_the_same_kid_is_fetched_again(start_provider: Callable[..., OpenIDProvider],
                                                          browser: Browser) -> None:
    """A signature that does not verify with the key of its kid makes the JWKS be fetched again (once)."""
    provider = start_provider()
    clock, http = Clock(), CountingHTTP()

    async def flow() -> None:
        rp = OIDCRelyingParty(idp_for(provider), http, clock=clock)  # type: ignore[arg-type]  # duck-typed client
        await rp.complete(*await code_and_state(rp, browser))
        old = (await rp.keys())[0].key.as_dict()
        key = new_signing_key("test-0")  # a new key under the old kid
        provider.restart(provider_config(key), key)
        clock.advance(REFETCH_INTERVAL + 1)
        identity = await rp.complete(*await code_and_state(rp, Browser()))
        assert identity.subject == SUBJECT
        keys = await rp.keys()
        assert [k.kid for k in keys] == ["test-0"] and keys[0].key.as_dict() != old
        assert http.urls.count((await rp.metadata())["jwks_uri"]) == 2

    run(flow())


def test_key_cache_rate_limit_and_generations() -> None:
    """KeyCache on its own: one refetch per interval, a failed fetch counts, newer keys are shared."""
    clock = Clock()
    jwks = [[new_signing_key("a").as_dict()], [new_signing_key("b").as_dict()], [new_signing_key("c").as_dict()]]
    fetched: list[int] = []

    async def fetch() -> list[Any]:
        fetched.append(len(fetched))
        if len(fetched) == 3:
            raise IdentityError("provider down")
        return jwks[min(len(fetched) - 1, 2)]

    async def flow() -> None:
        cache = KeyCache(fetch, clock, refetch_interval=60)
        first = await cache.get()
        assert [k.kid for k in first.keys] == ["a"] and await cache.get() is first and len(fetched) == 1
        assert await cache.after_failure(first) is None  # within the interval
        clock.advance(61)
        second = await cache.after_failure(first)
        assert second is not None and [k.kid for k in second.keys] == ["b"] and len(fetched) == 2
        assert await cache.after_failure(first) is second  # a caller that tried the old keys gets the new ones
        clock.advance(61)
        with pytest.raises(IdentityError):
            await cache.after_failure(second)
        assert await cache.after_failure(second) is None and len(fetched) == 3  # the failed fetch counts
        assert (await cache.get()).keys == second.keys
        assert [k.kid for k in (await cache.get(refresh=True)).keys] == ["c"]  # explicit refresh: no limit

    run(flow())


# -- ID-token checks, with tokens signed by the provider's own key ---------------------------------------
def _id_token(provider: OpenIDProvider, state: LoginState, key: Any = None, header: dict[str, Any] | None = None,
              **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": provider.issuer, "aud": CLIENT_ID, "sub": SUBJECT, "exp": now + 300, "iat": now,
              "nonce": state.nonce, **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    key = key or provider.key
    head = {k: v for k, v in {"alg": "RS256", "kid": key.kid, **(header or {})}.items() if v is not None}
    return jwt.encode(head, claims, key, algorithms=[head["alg"]])


def _unsigned(claims: dict[str, Any]) -> str:
    part = [base64.urlsafe_b64encode(json.dumps(x).encode()).rstrip(b"=").decode()
            for x in ({"alg": "none"}, claims)]
    return f"{part[0]}.{part[1]}."


def test_id_token_checks(provider: OpenIDProvider) -> None:
    now = int(time.time())
    state = LoginState("TestOP", "s" * 43, "n" * 43, "v" * 64, REDIRECT_URI)
    other_key = RSAKey.generate_key(2048, private=True)
    access_token = "an-access-token"
    at_hash = base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()[:16]).rstrip(b"=").decode()
    accepted = {
        "plain": _id_token(provider, state),
        "aud list with azp": _id_token(provider, state, aud=[CLIENT_ID, "other"], azp=CLIENT_ID),
        "expired within leeway": _id_token(provider, state, exp=now - 30),
        "iat within leeway": _id_token(provider, state, iat=now + 30),
        "at_hash": _id_token(provider, state, at_hash=at_hash),
    }
    refused = {
        "iss": (_id_token(provider, state, iss=provider.issuer + "/"), "iss mismatch"),
        "aud": (_id_token(provider, state, aud="someone-else"), "aud mismatch"),
        "aud list": (_id_token(provider, state, aud=["a", "b"]), "aud mismatch"),
        "azp": (_id_token(provider, state, aud=[CLIENT_ID, "x"], azp="x"), "azp mismatch"),
        "expired": (_id_token(provider, state, exp=now - 61), "has expired"),
        "future": (_id_token(provider, state, iat=now + 120), "not valid yet"),
        "nbf": (_id_token(provider, state, nbf=now + 120), "not valid yet"),
        "no exp": (_id_token(provider, state, exp=None), "lacks exp"),
        "bool exp": (_id_token(provider, state, exp=True), "malformed exp"),
        "nonce": (_id_token(provider, state, nonce="other"), "nonce mismatch"),
        "no nonce": (_id_token(provider, state, nonce=None), "nonce mismatch"),
        "no sub": (_id_token(provider, state, sub=None), "no usable subject"),
        "at_hash": (_id_token(provider, state, at_hash="AAAA"), "at_hash"),
        "other key, same kid": (_id_token(provider, state, key=other_key, header={"kid": provider.key.kid}),
                                "does not verify"),
        "unknown kid": (_id_token(provider, state, key=other_key, header={"kid": "nobody"}), "no key"),
        "alg none": (_unsigned({"iss": provider.issuer, "aud": CLIENT_ID, "sub": SUBJECT, "exp": now + 60,
                                "iat": now, "nonce": state.nonce}), "'none'"),
        "HS256 with the secret": (_id_token(provider, state, key=OctKey.import_key(CLIENT_SECRET.encode()),
                                            header={"alg": "HS256", "kid": None}), "'HS256'"),
        "garbage": ("a.b.c", "not a readable JWT"),
        "encrypted": ("a.b.c.d.e", "not a signed JWT"),
    }

    async def check() -> dict[str, str]:
        rp = OIDCRelyingParty(idp_for(provider))
        for name, token in accepted.items():
            claims = await rp.verify_id_token(token, state, access_token)
            assert claims["sub"] == SUBJECT, name
        messages = {}
        for name, (token, _) in refused.items():
            with pytest.raises(IdentityError) as error:
                await rp.verify_id_token(token, state, access_token)
            messages[name] = assert_clean(error, access_token)
        return messages

    messages = run(check())
    for name, (_, expected) in refused.items():
        assert expected in messages[name], (name, messages[name])


# -- configuration and discovery problems ----------------------------------------------------------------
def test_unreachable_provider() -> None:
    issuer = f"http://127.0.0.1:{free_port()}"
    idp = IdProvider("Down", "OIDC", issuer=issuer, client_id=CLIENT_ID)

    async def flow() -> None:
        await OIDCRelyingParty(idp, timeout=3).begin(REDIRECT_URI)

    with pytest.raises(IdentityError, match="cannot reach the discovery document of Down"):
        run(flow())


def test_discovery_must_name_the_configured_issuer(provider: OpenIDProvider) -> None:
    async def flow() -> None:
        await OIDCRelyingParty(idp_for(provider, issuer=provider.issuer.replace("127.0.0.1", "localhost"))).begin(
            REDIRECT_URI)

    with pytest.raises(IdentityError, match="names another issuer"):
        run(flow())


def test_begin_checks_its_arguments(provider: OpenIDProvider) -> None:
    async def flow() -> None:
        rp = OIDCRelyingParty(idp_for(provider))
        for extra in ({"state": "mine"}, {"nonce": "x"}, {"code_challenge_method": "plain"}, {"client_id": "x"}):
            with pytest.raises(IdentityError, match="may not set"):
                await rp.begin(REDIRECT_URI, extra)
        for uri in ("/relative", "ftp://x/", "http://example.org/callback", "https://x/cb#frag"):
            with pytest.raises(IdentityError, match="redirect URI"):
                await rp.begin(uri)

    run(flow())
    with pytest.raises(IdentityError, match="not an OpenID provider"):
        OIDCRelyingParty(IdProvider("LocalAccounts", "Local"))


def test_login_state_round_trip_and_malformed() -> None:
    state = LoginState("TestOP", "st", "no", "ve", REDIRECT_URI)
    assert LoginState.from_dict(state.to_dict()) == state
    assert json.loads(json.dumps(state.to_dict())) == state.to_dict()
    for bad in ({}, {**state.to_dict(), "nonce": ""}, {**state.to_dict(), "state": 3}, [1, 2], None):
        with pytest.raises(IdentityError, match="login state"):
            LoginState.from_dict(bad)  # type: ignore[arg-type]

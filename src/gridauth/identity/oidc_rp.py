"""gridauth as a relying party of an external OpenID provider: authorization code flow with PKCE.

One :class:`OIDCRelyingParty` per configured identity provider (``/Resources/IdProviders/<name>`` of type
OAuth2, OIDC, CheckIn or IAM). It can be kept for the life of the process: it caches the provider's
discovery document (an hour) and its JWKS (until a token does not verify with the keys it holds; then the
JWKS is fetched again, at most once a minute: :mod:`gridauth.identity.jwks`).

A login is two steps, with the browser going to the provider and back in between:

1. :meth:`OIDCRelyingParty.begin` gives the URL to send the browser to and a :class:`LoginState` (``state``,
   ``nonce``, PKCE ``code_verifier``, ``redirect_uri``), which the caller keeps server-side, found again by
   its ``state``, and uses once.
2. On the callback, :meth:`OIDCRelyingParty.callback_code` checks the query the provider sent back
   (``state``, ``iss``, or an ``error``) and returns the code; :meth:`OIDCRelyingParty.complete` exchanges
   it, verifies the ID token (signature against the provider's JWKS, ``iss``, ``aud``/``azp``, ``exp``,
   ``iat`` and ``nbf`` with 60 s leeway, ``nonce``, ``at_hash`` when present), reads the userinfo endpoint
   when the provider has one, and returns the :class:`~gridauth.identity.claims.ExternalIdentity`.

Every failure raises :class:`IdentityError`, whose message is one line meant for a person and never
contains a code, token, verifier or secret.

HTTP to the provider is :mod:`gridauth.identity.http`, the ID token's claim checks
:mod:`gridauth.identity.id_token`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from joserfc import jws
from joserfc.errors import JoseError
from tornado.httpclient import AsyncHTTPClient

from ..clock import Clock
from ..config.builder import check_url
from ..config.model import IdProvider
from ..hashing import b64url
from .claims import ExternalIdentity
from .http import TIMEOUT, IdentityError, ProviderHTTP, one_line
from .id_token import audience_ok, check_at_hash, check_id_claims
from .jwks import ALGORITHMS, REFETCH_INTERVAL, Key, KeyCache, verify

DEFAULT_SCOPE = ("openid", "profile", "email")
DISCOVERY_TTL = 3600.0
MAX_CODE_LENGTH = 4096
# Authorization request parameters that begin() sets itself and *extra* may not replace.
RESERVED_PARAMETERS = frozenset({
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "request", "request_uri", "response_mode",
})
# ID-token claims about the token itself: the userinfo answer never replaces them.
PROTOCOL_CLAIMS = frozenset({
    "iss", "sub", "aud", "azp", "exp", "iat", "nbf", "nonce", "auth_time", "acr", "amr", "at_hash", "c_hash",
    "sid", "jti",
})
__all__ = ["IdentityError", "LoginState", "OIDCRelyingParty", "s256_challenge"]


def s256_challenge(verifier: str) -> str:
    """The PKCE ``S256`` code challenge of *verifier* (RFC 7636)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class LoginState:
    """What must be kept between :meth:`OIDCRelyingParty.begin` and :meth:`OIDCRelyingParty.complete`.

    Secret to the browser: keep it server-side, look it up by ``state``, and use it once.
    """

    idp: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-serialisable copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoginState:
        """The state saved by :meth:`to_dict`; raises :class:`IdentityError` when *data* is not one."""
        names = ("idp", "state", "nonce", "code_verifier", "redirect_uri")
        if not isinstance(data, Mapping) or not all(isinstance(data.get(n), str) and data[n] for n in names):
            raise IdentityError("the saved login state is incomplete or malformed")
        return cls(**{n: data[n] for n in names})


class OIDCRelyingParty:
    """gridauth as a client of one external OpenID provider (authorization code flow, PKCE S256)."""

    def __init__(self, idp: IdProvider, http: AsyncHTTPClient | None = None, *, clock: Clock | None = None,
                 timeout: float = TIMEOUT, discovery_ttl: float = DISCOVERY_TTL,
                 keys_refetch_interval: float = REFETCH_INTERVAL) -> None:
        if idp.is_local or not idp.issuer or not idp.client_id:
            raise IdentityError(f"identity provider {idp.name} is not an OpenID provider gridauth is registered with")
        self.idp = idp
        self.clock = clock or Clock()
        self.discovery_ttl = discovery_ttl
        self._http = ProviderHTTP(idp.name, http, timeout)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys = KeyCache(self._fetch_jwks, self.clock, keys_refetch_interval)

    @property
    def name(self) -> str:
        """The identity provider's name in the configuration."""
        return self.idp.name

    @property
    def scope(self) -> str:
        """The scope requested at login: the IdProvider's, always with ``openid``."""
        scopes = list(self.idp.scope or DEFAULT_SCOPE)
        if "openid" not in scopes:
            scopes.insert(0, "openid")
        return " ".join(scopes)

    def _check_endpoint(self, metadata: Mapping[str, Any], name: str, required: bool = True) -> None:
        value = metadata.get(name)
        if value is None and not required:
            return
        if not isinstance(value, str) or check_url(value) is not None:
            raise IdentityError(f"the discovery document of {self.name} has no usable {name}")

    # -- discovery and keys ------------------------------------------------------------------------
    async def metadata(self, refresh: bool = False) -> dict[str, Any]:
        """The provider's discovery document (cached ``discovery_ttl`` seconds), checked."""
        if not refresh and self._metadata is not None and time.monotonic() - self._metadata_at < self.discovery_ttl:
            return self._metadata
        url = self.idp.issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = await self._http.fetch("discovery document", url, True, headers={"Accept": "application/json"})
        if response.code != 200:
            raise IdentityError(f"the discovery document of {self.name} answered HTTP {response.code}")
        metadata = self._http.json("discovery document", response)
        issuer = metadata.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.idp.issuer.rstrip("/"):
            raise IdentityError(f"the discovery document of {self.name} names another issuer "
                                f"({one_line(issuer, 100)!r}, expected {self.idp.issuer!r})")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            self._check_endpoint(metadata, name)
        self._check_endpoint(metadata, "userinfo_endpoint", required=False)
        self._metadata, self._metadata_at = metadata, time.monotonic()
        return metadata

    async def keys(self, refresh: bool = False) -> tuple[Key, ...]:
        """The provider's signature keys (cached; fetched again on *refresh*); unusable JWKS entries are skipped."""
        return (await self._keys.get(refresh)).keys

    async def _fetch_jwks(self) -> list[Any]:
        metadata = await self.metadata()
        response = await self._http.fetch("JWKS", metadata["jwks_uri"], True, headers={"Accept": "application/json"})
        if response.code != 200:
            raise IdentityError(f"the JWKS of {self.name} answered HTTP {response.code}")
        entries = self._http.json("JWKS", response).get("keys")
        if not isinstance(entries, list):
            raise IdentityError(f"the JWKS of {self.name} has no key list")
        return entries

    # -- step 1 --------------------------------------------------------------------------------------
    async def begin(self, redirect_uri: str, extra: Mapping[str, Any] | None = None) -> tuple[str, LoginState]:
        """The provider's authorization URL to send the browser to, and the state to keep for the callback.

        *extra* adds authorization request parameters (``prompt``, ``login_hint``, ``acr_values``...);
        it cannot replace the ones this method sets.
        """
        if not isinstance(redirect_uri, str) or check_url(redirect_uri):
            raise IdentityError("the redirect URI must be an absolute https URL without fragment "
                                "(plain http only on localhost)")
        extra = dict(extra or {})
        clash = sorted(RESERVED_PARAMETERS & extra.keys())
        if clash:
            raise IdentityError(f"extra authorization parameters may not set {', '.join(clash)}")
        metadata = await self.metadata()
        state = LoginState(idp=self.name, state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                           code_verifier=secrets.token_urlsafe(64), redirect_uri=redirect_uri)
        params = {
            "response_type": "code",
            "client_id": self.idp.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scope,
            "state": state.state,
            "nonce": state.nonce,
            "code_challenge": s256_challenge(state.code_verifier),
            "code_challenge_method": "S256",
            **{str(k): str(v) for k, v in extra.items()},
        }
        parts = urlsplit(metadata["authorization_endpoint"])
        query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
        return urlunsplit(parts._replace(query=urlencode(query))), state

    # -- step 2 --------------------------------------------------------------------------------------
    async def callback_code(self, query: Mapping[str, Any], state: LoginState) -> str:
        """The authorization code of the provider's redirect back to us, after checking it is the answer
        to *state*'s request: same ``state``, no ``error``, and ``iss`` (RFC 9207) naming the provider.

        *query* is the callback's query arguments, as str or bytes values or lists of them.
        """
        def arg(name: str) -> str | None:
            value = query.get(name)
            if isinstance(value, (list, tuple)):
                if len(value) > 1:
                    raise IdentityError(f"the login answer repeats the {name} parameter")
                value = value[0] if value else None
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            return value if isinstance(value, str) else None

        returned = arg("state")
        if returned is None or not hmac.compare_digest(returned.encode(), state.state.encode()):
            raise IdentityError("the login answer does not belong to this login (state mismatch)")
        if state.idp != self.name:
            raise IdentityError(f"this login was started with {state.idp}, not {self.name}")
        metadata = await self.metadata()
        issuer = arg("iss")
        if issuer is not None and issuer != metadata["issuer"]:
            raise IdentityError(f"the login answer comes from another issuer than {self.name} (iss mismatch)")
        if issuer is None and metadata.get("authorization_response_iss_parameter_supported") is True:
            raise IdentityError(f"the login answer lacks the iss parameter that {self.name} promises")
        error = arg("error")
        if error is not None:
            description = arg("error_description")
            detail = f" ({one_line(description, 150)})" if description else ""
            raise IdentityError(f"{self.name} refused the login: {one_line(error, 60)}{detail}")
        code = arg("code")
        if not code:
            raise IdentityError(f"the login answer of {self.name} has no authorization code")
        return code

    async def complete(self, code: str, state: LoginState) -> ExternalIdentity:
        """Exchange *code*, verify the ID token, merge the userinfo claims: the person the provider logged in."""
        if state.idp != self.name:
            raise IdentityError(f"this login was started with {state.idp}, not {self.name}")
        if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
            raise IdentityError("the authorization code is missing or malformed")
        metadata = await self.metadata()
        tokens = await self._exchange(metadata, code, state)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise IdentityError(f"the token answer of {self.name} has no ID token")
        access_token = tokens.get("access_token")
        access_token = access_token if isinstance(access_token, str) and access_token else None
        token_type = tokens.get("token_type")
        if access_token and isinstance(token_type, str) and token_type.lower() != "bearer":
            raise IdentityError(f"{self.name} issued a {one_line(token_type, 20)} access token, not a bearer one")
        id_claims = await self.verify_id_token(id_token, state, access_token)
        claims = dict(id_claims)
        if metadata.get("userinfo_endpoint"):
            if not access_token:
                raise IdentityError(f"the token answer of {self.name} has no access token for the userinfo")
            userinfo = await self._userinfo(metadata, access_token)
            if userinfo.get("sub") != id_claims["sub"]:
                raise IdentityError(f"the userinfo of {self.name} is about another subject than the ID token")
            claims.update({k: v for k, v in userinfo.items() if k not in PROTOCOL_CLAIMS})
        return ExternalIdentity(idp=self.name, subject=id_claims["sub"], claims=MappingProxyType(claims))

    async def verify_id_token(self, id_token: str, state: LoginState,
                              access_token: str | None = None) -> dict[str, Any]:
        """The claims of *id_token* once it is shown to answer *state*'s login at this provider.

        Checks the signature against the provider's JWKS (fetched again, at most once a minute, when the
        keys held do not verify it) with an algorithm the provider advertises, then the claims
        (:mod:`gridauth.identity.id_token`): ``iss``, ``aud`` and ``azp``, ``exp``, ``iat`` and ``nbf`` (60 s
        leeway), ``nonce``, ``sub``, and ``at_hash`` when both it and *access_token* are there.
        """
        metadata = await self.metadata()
        claims, alg = await self._verify_jwt("ID token", id_token, self._algorithms(metadata, "id_token"))
        check_id_claims(claims, provider=self.name, issuer=metadata["issuer"], client_id=self.idp.client_id,
                        nonce=state.nonce, now=self.clock.now())
        check_at_hash(claims, alg, access_token, self.name)
        return claims

    async def _exchange(self, metadata: Mapping[str, Any], code: str, state: LoginState) -> dict[str, Any]:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": state.redirect_uri,
                "code_verifier": state.code_verifier}
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        secret = self.idp.client_secret
        methods = metadata.get("token_endpoint_auth_methods_supported")
        if secret and isinstance(methods, list) and "client_secret_basic" not in methods \
                and "client_secret_post" in methods:
            form.update(client_id=self.idp.client_id, client_secret=secret)
        elif secret:
            pair = f"{quote(self.idp.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        else:
            form["client_id"] = self.idp.client_id
        response = await self._http.fetch("token endpoint", metadata["token_endpoint"], method="POST",
                                     headers=headers, body=urlencode(form))
        if response.code != 200:
            try:
                answer = json.loads(response.body or b"")
            except (ValueError, UnicodeDecodeError):
                answer = None
            if isinstance(answer, dict) and isinstance(answer.get("error"), str):
                description = answer.get("error_description")
                detail = f" ({one_line(description, 150)})" if isinstance(description, str) and description else ""
                raise IdentityError(f"{self.name} refused the authorization code: "
                                    f"{one_line(answer['error'], 60)}{detail}")
            raise IdentityError(f"the token endpoint of {self.name} answered HTTP {response.code}")
        return self._http.json("token endpoint", response)

    async def _userinfo(self, metadata: Mapping[str, Any], access_token: str) -> dict[str, Any]:
        response = await self._http.fetch("userinfo endpoint", metadata["userinfo_endpoint"], headers={
            "Authorization": f"Bearer {access_token}", "Accept": "application/json, application/jwt"})
        if response.code != 200:
            raise IdentityError(f"the userinfo endpoint of {self.name} answered HTTP {response.code}")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/jwt":
            return self._http.json("userinfo endpoint", response)
        claims, _ = await self._verify_jwt("signed userinfo", (response.body or b"").decode("ascii", "replace"),
                                           self._algorithms(metadata, "userinfo"))
        if "iss" in claims and claims["iss"] != metadata["issuer"]:
            raise IdentityError(f"the signed userinfo of {self.name} names another issuer")
        if "aud" in claims and not audience_ok(claims["aud"], self.idp.client_id):
            raise IdentityError(f"the signed userinfo of {self.name} is meant for another client")
        return claims

    # -- JWT checks ------------------------------------------------------------------------------------
    @staticmethod
    def _algorithms(metadata: Mapping[str, Any], prefix: str) -> frozenset[str]:
        advertised = metadata.get(f"{prefix}_signing_alg_values_supported")
        if isinstance(advertised, list):
            return frozenset(a for a in advertised if a in ALGORITHMS)
        return frozenset({"RS256"})

    async def _verify_jwt(self, what: str, token: str, algorithms: frozenset[str]) -> tuple[dict[str, Any], str]:
        """Claims and algorithm of a compact JWS signed by one of the provider's keys."""
        if token.count(".") != 2:
            raise IdentityError(f"the {what} of {self.name} is not a signed JWT")
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError):
            raise IdentityError(f"the {what} of {self.name} is not a readable JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in algorithms:
            raise IdentityError(f"the {what} of {self.name} is signed with {one_line(alg, 20)!r}, "
                                f"which is not accepted")
        keys = await self._keys.get()
        payload, had_key = verify(token, keys.keys, alg, kid)
        if payload is None and (newer := await self._keys.after_failure(keys)) is not None:
            payload, had_key = verify(token, newer.keys, alg, kid)
        if payload is None and not had_key:
            raise IdentityError(f"the JWKS of {self.name} has no key for the {what} "
                                f"(kid {one_line(kid, 60)!r}, {alg})")
        if payload is None:
            raise IdentityError(f"the signature of the {what} of {self.name} does not verify")
        try:
            claims = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            claims = None
        if not isinstance(claims, dict):
            raise IdentityError(f"the {what} of {self.name} does not carry a JSON object")
        return claims, alg

"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592) on authlib's endpoints.

The rules:

1. ``ClientRegistration`` in ``/DIRAC/Security/Authorization`` decides who may register: ``closed``
   (the default: nobody, and discovery names no ``registration_endpoint``), ``authenticated`` (a
   registry user presenting an active access token of this server, Bearer or DPoP-bound with its
   proof; the client is then owned by that user), or ``open`` (anyone; for test beds: the client has
   no owner unless a user's token is presented).
2. A registered client is public (``token_endpoint_auth_method = none``) or confidential (a secret
   generated here, shown once, stored as a salted hash). It may use the device and code flows and
   refresh (:data:`~gridauth.config.model.REGISTERED_GRANT_TYPES`), nothing else; the code flow
   needs redirect URIs (https, http on a loopback host, or a private-use scheme of RFC 8252 §7.1).
3. It may ask for the plain OpenID scopes of discovery; group, VO and property scopes need no listing
   and are not stored. Its tokens are for its owner in the owner's groups
   (``Client.may_act_for``, checked by the server for every user token), unless an administrator
   allowed groups (``gridauth admin client registered groups``): then for any member of those.
4. The registration access token (RFC 7592) is stored as a SHA-256 digest; it reads, changes and
   deletes the client at its ``registration_client_uri`` (``/register?client_id=...``). The owner,
   the allowed groups and the secret are not the client's to change.
5. A client unused for ``RegisteredClientIdleTime`` (30 days by default) is deleted by the purge;
   each use renews it (at most once an hour, ``db/registered.py``).
6. The server finds CFG clients first, without a query; a registered client is read once and kept
   :data:`CACHE_SECONDS` per process (a deletion elsewhere takes effect within that time).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc7591 import ClientMetadataClaims, InvalidClientMetadataError
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint as _Registration
from authlib.oauth2.rfc7591.errors import InvalidRedirectURIError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint as _Configuration
from joserfc.errors import InvalidClaimError

from .. import audit
from ..clock import Clock
from ..config.model import AUTH_METHODS, REGISTERED_GRANT_TYPES, Client
from ..config.registry import Registry
from ..db.registered import TOUCH_INTERVAL, RegisteredClient, RegisteredClientStore
from ..hashing import hash_client_secret, new_client_secret, token_digest, verify_client_secret
from .dpop import InvalidDPoPProof, InvalidToken
from .endpoints import active_access_token
from .scopes import GROUP_PREFIXES

CACHE_SECONDS = 10
METADATA_MAX = 16384  # bytes of JSON a registered client's metadata may take
REDIRECT_URIS_MAX = 20
CACHE_SIZE = 4096
PLAIN_SCOPES = ("openid", "profile", "email", "offline_access")
SELECTOR_PREFIXES = (*GROUP_PREFIXES, "vo:", "property:")
PATH = "/register"
_PRIVATE_SCHEME = re.compile(r"[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+")  # reverse domain name (RFC 8252 §7.1)
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def redirect_uri_problem(uri: str) -> str | None:
    """Why *uri* may not be a registered client's redirect URI (rule 2), or None."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return f"malformed redirect URI {uri!r}"
    if len(uri) > 2000:
        return "a redirect URI of more than 2000 characters"
    if parts.fragment:
        return f"redirect URI {uri!r} must not have a fragment"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host in _LOOPBACK:
        return None
    if _PRIVATE_SCHEME.fullmatch(parts.scheme) and not parts.netloc:
        return None
    return f"redirect URI {uri!r} must be https, http on a loopback host, or a private-use scheme (RFC 8252)"


class RegisteredClientClaims(ClientMetadataClaims):
    """authlib's metadata checks, with gridauth's limits (rules 2 and 3)."""

    @classmethod
    def get_claims_options(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        """Only what a registered client may have, whatever discovery lists for the CFG clients.

        The scope is :meth:`validate_scope`'s alone (authlib's check would refuse the group scopes).
        """
        metadata = {k: v for k, v in metadata.items() if k != "scopes_supported"}
        return super().get_claims_options({**metadata, "grant_types_supported": list(REGISTERED_GRANT_TYPES),
                                           "response_types_supported": ["code"],
                                           "token_endpoint_auth_methods_supported": sorted(AUTH_METHODS)})

    def validate_redirect_uris(self) -> None:
        """Rule 2's redirect URIs; any other is ``invalid_redirect_uri`` (RFC 7591 §3.2.2), saying why."""
        uris = self.get("redirect_uris") or []
        if not isinstance(uris, list):
            raise InvalidRedirectURIError("redirect_uris must be a list")
        for uri in uris:
            problem = redirect_uri_problem(uri) if isinstance(uri, str) else "a redirect URI must be a string"
            if problem:
                raise InvalidRedirectURIError(problem)

    def validate_scope(self) -> None:
        """Plain scopes of discovery only; group, VO and property scopes are dropped (they need no listing)."""
        scope = self.get("scope")
        if scope is None:
            self["scope"] = " ".join(PLAIN_SCOPES)
            return
        if not isinstance(scope, str):
            raise InvalidClaimError("scope")
        plain = [s for s in dict.fromkeys(scope.split()) if not s.startswith(SELECTOR_PREFIXES)]
        if any(s not in self.params.get("scopes_supported", PLAIN_SCOPES) for s in plain):
            raise InvalidClaimError("scope")
        self["scope"] = " ".join(plain)


def checked_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The rules authlib's claims cannot say: grant types per flow, redirect URIs for the code flow, a size."""
    if len(json.dumps(metadata)) > METADATA_MAX or len(metadata.get("redirect_uris") or ()) > REDIRECT_URIS_MAX:
        raise InvalidClientMetadataError(f"at most {REDIRECT_URIS_MAX} redirect URIs and {METADATA_MAX} bytes")
    grants = metadata.setdefault("grant_types", ["authorization_code"])
    metadata.setdefault("response_types", ["code"] if "authorization_code" in grants else [])
    if "authorization_code" in grants and not metadata.get("redirect_uris"):
        raise InvalidRedirectURIError("the authorization_code grant needs at least one redirect URI")
    if "refresh_token" in grants and len(grants) == 1:
        raise InvalidClientMetadataError("refresh_token alone is no way to get a first token")
    return metadata


def client_of(found: RegisteredClient) -> Client:
    """The registry's view of a registered client, so that the grants treat it as any other."""
    meta = found.metadata
    method = meta.get("token_endpoint_auth_method", "client_secret_basic")
    return Client(name=str(meta.get("client_name") or found.client_id), client_id=found.client_id,
                  client_secret_hash=found.client_secret_hash or "", redirect_uris=tuple(meta.get("redirect_uris", ())),
                  grant_types=tuple(meta.get("grant_types", ())), response_types=tuple(meta.get("response_types", ())),
                  scope=tuple(str(meta.get("scope", "")).split()), token_endpoint_auth_method=method,
                  revoke_on_theft=method == "none", registered=True, owner=found.owner, groups=found.groups or ())


class RegisteredClients:
    """The registered clients as the server looks them up: a short per-process cache, renewed when used (rule 6)."""

    def __init__(self, store: RegisteredClientStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._cache: dict[str, tuple[float, Client]] = {}
        self._lock = threading.Lock()

    def client(self, client_id: str, registry: Registry) -> Client | None:
        """The registered client *client_id* (None when there is none), its idle time renewed by this use."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(client_id)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        found = self.store.get(client_id) if len(client_id) <= 64 else None
        if found is None or found.expires_at <= self.clock.now():
            self.forget(client_id)
            return None
        if self.clock.now() - found.last_used_at >= TOUCH_INTERVAL:
            self.store.touch(client_id, self.clock.now(), registry.settings.lifetimes.registered_client_idle)
        client = client_of(found)
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[client_id] = (now, client)
        return client

    def forget(self, client_id: str) -> None:
        """Drop *client_id* from this process's cache (it was changed or deleted here)."""
        with self._lock:
            self._cache.pop(client_id, None)


@dataclass(frozen=True)
class Registrant:
    """Who is registering: a registry user (the owner to be), or nobody in particular (``open``)."""

    owner: str | None


@dataclass(frozen=True)
class RegistrationToken:
    """A registration access token presented to the configuration endpoint (RFC 7592 §3)."""

    value: str

    def check_client(self, client: ConfiguredClient) -> bool:
        """Whether this is the token issued with *client* (compared as digests, in constant time)."""
        return hmac.compare_digest(token_digest(self.value), client.row.registration_token_hash)


@dataclass(frozen=True)
class ConfiguredClient:
    """A registered client as the configuration endpoint reads and changes it."""

    row: RegisteredClient

    def get_client_id(self) -> str:  # noqa: D102 - authlib interface
        return self.row.client_id

    def check_client_secret(self, secret: str) -> bool:  # noqa: D102 - authlib interface
        stored = self.row.client_secret_hash
        return stored is not None and verify_client_secret(secret, stored)

    @property
    def client_info(self) -> dict[str, Any]:
        """RFC 7591 §3.2.1's fields (never the secret: only its hash is kept)."""
        return {"client_id": self.row.client_id, "client_id_issued_at": self.row.issued_at,
                **({"client_secret_expires_at": 0} if self.row.client_secret_hash else {})}

    @property
    def client_metadata(self) -> dict[str, Any]:  # noqa: D102 - authlib interface
        return dict(self.row.metadata)


def bearer_token(request: Any) -> tuple[str, str] | None:
    """(scheme, token) of an ``Authorization: Bearer`` or ``DPoP`` header, or None."""
    scheme, _, token = str(request.headers.get("Authorization", "")).partition(" ")
    if scheme.lower() not in ("bearer", "dpop") or not token.strip() or len(token) > 8192:
        return None
    return scheme.lower(), token.strip()


class ClientRegistrationEndpoint(_Registration):
    """``POST /register``: rules 1 to 4."""

    server: Any  # GridAuthorizationServer: its registry, DPoP guard, key ring, stores and clock
    claims_classes: list[type]

    def __init__(self, server: Any = None) -> None:
        super().__init__(server, [RegisteredClientClaims])

    def create_registration_response(self, request: Any) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """authlib's steps through its hooks; the secret only for a confidential client, never stored in clear."""
        request.credential = self.authenticate_token(request)
        metadata = checked_metadata(self.extract_client_metadata(request))
        secret = new_client_secret() if metadata["token_endpoint_auth_method"] != "none" else None
        info = {"client_id": self.generate_client_id(request), "client_id_issued_at": self.server.clock.now(),
                **({"client_secret": secret, "client_secret_expires_at": 0} if secret else {})}
        client = self.save_client(info, metadata, request)
        return 201, {**metadata, **info, **self.generate_client_registration_info(client, request)}, NO_STORE

    def generate_client_id(self, request: Any) -> str:  # noqa: D102 - authlib hook
        return "reg-" + secrets.token_urlsafe(24)

    def get_server_metadata(self) -> dict[str, Any]:  # noqa: D102 - authlib hook
        return {"scopes_supported": list(PLAIN_SCOPES)}

    def authenticate_token(self, request: Any) -> Registrant:
        """Rule 1: the policy, then the initial access token (any active user token of this server)."""
        registry: Registry = self.server.registry()
        policy = registry.settings.client_registration
        if policy == "closed":
            raise RegistrationClosed()
        presented = bearer_token(request)
        if presented is None:
            if policy == "open":
                return Registrant(None)
            raise InvalidTokenError("client registration needs a registry user's access token", realm="gridauth")
        return Registrant(token_owner(self.server, registry, request, *presented))

    def save_client(self, client_info: dict[str, Any], client_metadata: dict[str, Any],
                    request: Any) -> RegisteredClient:
        """Store the client with its secret's and its registration token's hashes."""
        now = self.server.clock.now()
        registry: Registry = self.server.registry()
        token = secrets.token_urlsafe(32)
        request.registration_access_token = token
        secret = client_info.get("client_secret")
        found = RegisteredClient(client_id=client_info["client_id"],
                                 client_secret_hash=hash_client_secret(secret) if secret else None,
                                 registration_token_hash=token_digest(token), owner=request.credential.owner,
                                 metadata=client_metadata, groups=None, issued_at=now, last_used_at=now,
                                 expires_at=now + registry.settings.lifetimes.registered_client_idle)
        self.server.registered.store.add(found)
        audit.record("client_registered", user=found.owner, client=found.client_id,
                     kind=client_metadata["token_endpoint_auth_method"],
                     reason=f"grant types {' '.join(client_metadata['grant_types'])}")
        return found

    def generate_client_registration_info(self, client: RegisteredClient, request: Any) -> dict[str, str]:
        """RFC 7592 §3: where and with what the client manages its registration."""
        return {"registration_client_uri": configuration_uri(self.server.registry(), client.client_id),
                "registration_access_token": request.registration_access_token}


class ClientConfigurationEndpoint(_Configuration):
    """``GET``, ``PUT``, ``DELETE /register?client_id=...`` with the registration access token: rule 4."""

    server: Any

    def __init__(self, server: Any = None) -> None:
        super().__init__(server, [RegisteredClientClaims])

    def authenticate_token(self, request: Any) -> RegistrationToken | None:  # noqa: D102 - authlib hook
        presented = bearer_token(request)
        if presented is None or presented[0] != "bearer":
            raise InvalidTokenError("the registration access token is required", realm="gridauth")
        return RegistrationToken(presented[1])

    def authenticate_client(self, request: Any) -> ConfiguredClient | None:
        """The client of the URI's ``client_id``, read once per request (authlib asks again after our check)."""
        if not hasattr(request, "configured_client"):
            client_id = request.args.get("client_id", "")
            found = self.server.registered.store.get(client_id) if 0 < len(client_id) <= 64 else None
            live = found is not None and found.expires_at > self.server.clock.now()
            request.configured_client = ConfiguredClient(found) if found is not None and live else None
        return request.configured_client

    def create_configuration_response(self, request: Any) -> Any:
        """authlib's answer; a token that is not the client's is ``invalid_token`` (RFC 7592 §2), not 403."""
        token = self.authenticate_token(request)
        client = self.authenticate_client(request)
        if client is None or token is None or not token.check_client(client):
            raise InvalidTokenError("unknown client or wrong registration access token", realm="gridauth")
        return super().create_configuration_response(request)

    def revoke_access_token(self, token: RegistrationToken, request: Any) -> None:  # noqa: D102 - nothing to revoke
        return None

    def check_permission(self, client: ConfiguredClient, request: Any) -> bool:  # noqa: D102 - the token decides
        return True

    def get_server_metadata(self) -> dict[str, Any]:  # noqa: D102 - authlib hook
        return {"scopes_supported": list(PLAIN_SCOPES)}

    def introspect_client(self, client: ConfiguredClient) -> dict[str, Any]:  # noqa: D102 - authlib hook
        return {**client.client_metadata, **client.client_info}

    def generate_client_registration_info(self, client: ConfiguredClient, request: Any) -> dict[str, str]:
        """The same URI and token: the token is not rotated (RFC 7592 §3 allows either)."""
        presented = bearer_token(request)
        return {"registration_client_uri": configuration_uri(self.server.registry(), client.get_client_id()),
                "registration_access_token": presented[1] if presented else ""}

    def update_client(self, client: ConfiguredClient, client_metadata: dict[str, Any],
                      request: Any) -> ConfiguredClient:
        """Replace the metadata (RFC 7592 §2.2: omitted fields are removed); public stays public and vice versa."""
        metadata = checked_metadata(dict(client_metadata))
        if (metadata["token_endpoint_auth_method"] == "none") != (client.row.client_secret_hash is None):
            raise InvalidClientMetadataError("a client cannot change between public and confidential; register anew")
        now = self.server.clock.now()
        idle = self.server.registry().settings.lifetimes.registered_client_idle
        if not self.server.registered.store.change(client.get_client_id(), metadata, now, idle):
            raise InvalidTokenError("unknown client or wrong registration access token", realm="gridauth")
        self.server.registered.forget(client.get_client_id())
        audit.record("client_updated", user=client.row.owner, client=client.get_client_id())
        found = self.server.registered.store.get(client.get_client_id())
        if found is None:
            raise InvalidRequestError("the client was deleted meanwhile")
        return ConfiguredClient(found)

    def delete_client(self, client: ConfiguredClient, request: Any) -> None:  # noqa: D102 - authlib hook
        self.server.registered.store.remove(client.get_client_id())
        self.server.registered.forget(client.get_client_id())
        audit.record("client_deleted", user=client.row.owner, client=client.get_client_id(), kind="self")


class RegistrationClosed(InvalidRequestError):
    """``ClientRegistration = closed``: 403 ``access_denied``, the registration endpoint is not open."""

    error = "access_denied"
    status_code = 403
    description = "client registration is closed on this server"


NO_STORE = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]


def configuration_uri(registry: Registry, client_id: str) -> str:
    """The client's ``registration_client_uri`` (its id is URL-safe by construction)."""
    return f"{registry.settings.issuer}{PATH}?client_id={client_id}"


def token_owner(server: Any, registry: Registry, request: Any, scheme: str, token: str) -> str:
    """The registry user of an active user access token presented as its kind requires; else ``invalid_token``."""
    claims = active_access_token(server.keyring, server.tokens, server.clock.now(), token)
    if claims is None or "dirac_group" not in claims or registry.user(str(claims.get("sub"))) is None:
        raise InvalidTokenError("the access token is invalid, expired, revoked or not a registry user's",
                                realm="gridauth")
    try:
        server.dpop.presented(scheme, token, claims, request.headers.get("DPoP"), request.method, request.uri)
    except (InvalidDPoPProof, InvalidToken) as error:
        raise InvalidTokenError(str(getattr(error, "description", None) or error), realm="gridauth") from None
    return str(claims["sub"])

"""What the grants and the token endpoints need from the service: a small protocol, not the server class.

The grants and endpoints are authlib's classes; authlib hands each of them the server object as
``self.server``. They use only what is listed here, so they can be read (and built) without the
server, and never hop back up into it for anything else.
"""

from __future__ import annotations

from typing import Protocol

from ..clock import Clock
from ..config.registry import Registry
from ..db.flows import FlowStore
from ..db.tokens import TokenStore
from .dpop import DPoPGuard
from .issuer import AccessTokenIssuer
from .keys import KeyRing
from .models import OAuthClient


class GrantServices(Protocol):
    """The stores, clock, key ring, issuer, DPoP guard and registry a grant or token endpoint works with."""

    tokens: TokenStore
    flows: FlowStore
    clock: Clock
    keyring: KeyRing
    issuer: AccessTokenIssuer
    dpop: DPoPGuard

    def registry(self) -> Registry:
        """The registry snapshot of the current request."""

    def query_client(self, client_id: str) -> OAuthClient | None:
        """The client *client_id*: from the registry, else a registered one (RFC 7591), else None."""

"""The issuer and its discovery document (OpenID Connect Discovery 1.0 / RFC 8414).

The document must name exactly the issuer the user gave (RFC 8414 §3.3): anything else is a
:class:`WrongIssuer`. Plain ``http`` is accepted only for a loopback host (a test server on the
user's machine), unless ``GRIDAUTH_ALLOW_HTTP=1``: tokens must not cross a network in clear.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import net
from .errors import NotLoggedIn, ServerRefused, WrongIssuer
from .store import load_settings

WELL_KNOWN = "/.well-known/openid-configuration"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
DEFAULT_CLIENT_ID = "gridauth-cli"


def normalize(issuer: str) -> str:
    """The issuer URL without a trailing slash; :class:`WrongIssuer` when it is not an http(s) URL."""
    issuer = issuer.strip().rstrip("/")
    try:
        parts = urlsplit(issuer)
    except ValueError:
        raise WrongIssuer(f"{issuer!r} is not a URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WrongIssuer(f"{issuer!r} is not an https URL (e.g. https://auth.example.org)")
    if parts.query or parts.fragment:
        raise WrongIssuer(f"{issuer!r}: an issuer URL has no query or fragment")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS and os.environ.get("GRIDAUTH_ALLOW_HTTP") != "1":
        raise WrongIssuer(f"{issuer}: tokens are sent over https only (plain http is accepted for localhost, "
                          "or with GRIDAUTH_ALLOW_HTTP=1)")
    return issuer


def chosen_issuer(option: str | None) -> str:
    """``--issuer``, else ``$GRIDAUTH_ISSUER``, else the one remembered from the last login."""
    issuer = option or os.environ.get("GRIDAUTH_ISSUER") or load_settings().get("issuer")
    if not issuer:
        raise NotLoggedIn("no issuer known: give one with 'gridauth login --issuer URL' (or set GRIDAUTH_ISSUER)")
    return normalize(str(issuer))


def chosen_client_id(option: str | None) -> str:
    """``--client-id``, else ``$GRIDAUTH_CLIENT_ID``, else the remembered one, else ``gridauth-cli``."""
    return option or os.environ.get("GRIDAUTH_CLIENT_ID") or load_settings().get("client_id") or DEFAULT_CLIENT_ID


@dataclass
class Metadata:
    """The endpoints the client uses, from the discovery document."""

    issuer: str
    token_endpoint: str
    device_authorization_endpoint: str | None
    authorization_endpoint: str | None
    revocation_endpoint: str | None
    userinfo_endpoint: str | None
    raw: dict[str, Any]

    def need(self, name: str) -> str:
        """The endpoint *name*; :class:`ServerRefused` when the server does not offer it."""
        value = getattr(self, name)
        if not value:
            raise ServerRefused(f"{self.issuer} does not offer a {name.replace('_', ' ')}")
        return str(value)


def discover(issuer: str) -> Metadata:
    """Fetch and check ``<issuer>/.well-known/openid-configuration``."""
    url = issuer + WELL_KNOWN
    answer = net.request(url)
    if answer.status != 200 or answer.body is None:
        what = f"HTTP {answer.status}" if answer.status != 200 else "not JSON"
        if answer.location:
            what += f", redirected to {answer.location}"
        raise WrongIssuer(f"{issuer} is not an OpenID provider: no discovery document at {url} ({what}); "
                          "check the issuer URL")
    body = answer.body
    named = str(body.get("issuer", "")).rstrip("/")
    if named != issuer:
        raise WrongIssuer(f"{url} names the issuer {body.get('issuer')!r}, not {issuer!r}; "
                          f"use --issuer {body.get('issuer')}" if named else f"{url} names no issuer")
    if not body.get("token_endpoint"):
        raise WrongIssuer(f"{url} names no token endpoint")

    def endpoint(name: str) -> str | None:
        value = body.get(name)
        return str(value) if isinstance(value, str) and value else None

    return Metadata(issuer=issuer, token_endpoint=str(body["token_endpoint"]),
                    device_authorization_endpoint=endpoint("device_authorization_endpoint"),
                    authorization_endpoint=endpoint("authorization_endpoint"),
                    revocation_endpoint=endpoint("revocation_endpoint"),
                    userinfo_endpoint=endpoint("userinfo_endpoint"), raw=body)

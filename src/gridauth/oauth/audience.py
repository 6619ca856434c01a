"""Audience restriction: ``resource`` (RFC 8707) and ``audience`` narrow the ``aud`` of an access token.

- A client may ask only for the audiences its ``Audiences`` option lists (exact strings); anything
  else, an empty value included, is ``invalid_target`` (RFC 8707 §2). A client without the option
  may ask for none.
- Both parameters may be repeated (RFC 8707 §2: several resources); ``resource`` and ``audience``
  add up. The access token's ``aud`` is the one value asked, or the list of them in the order
  asked; without either parameter, the configured default (``Audience``, else the issuer).
- Every token request chooses its own audience: the token endpoint checks them right after the
  client is authenticated (before a code, a device code or a refresh token is used, so a refused
  target spends nothing). The authorization and device authorization endpoints check the values
  too, so that a wrong one fails early, but do not remember them: name them in the token request.
- The ID token's ``aud`` stays the client's ``client_id`` (OpenID Connect Core §2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authlib.oauth2.base import OAuth2Error

from ..config.model import Client
from .params import shown

PARAMETERS = ("resource", "audience")


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown, or not one the client may ask for."""

    error = "invalid_target"
    status_code = 400


def requested(data: Mapping[str, str]) -> tuple[str, ...]:
    """The audiences a request asks for, in order (repeated parameters arrive joined by spaces)."""
    asked: list[str] = []
    for name in PARAMETERS:
        if name in data:
            asked += [value for value in data[name].split(" ") if value not in asked] or [""]
    return tuple(asked)


def allowed_targets(client: Client, data: Mapping[str, str], audiences: tuple[str, ...] | None = None
                    ) -> tuple[str, ...]:
    """The audiences *data* asks for, when *client* may ask for every one; else ``invalid_target``.

    *audiences*: what the client may ask in this grant, when not its ``Audiences`` (a token exchange's policy).
    """
    asked = requested(data)
    allowed = client.audiences if audiences is None else audiences
    refused = [value for value in asked if value not in allowed]
    if refused:
        raise InvalidTargetError(f"the client may not ask for the audience {shown(refused[0])}")
    return asked


def audience_claim(asked: tuple[str, ...], default: str) -> str | list[str]:
    """The ``aud`` of an access token: the one value asked, the list of several, else *default*."""
    if not asked:
        return default
    return asked[0] if len(asked) == 1 else list(asked)


class TargetedGrant:
    """Mixin of every token grant: the audiences asked are checked once the client is authenticated, and
    given to the access token the grant generates."""

    asked: tuple[str, ...] = ()

    def authenticate_token_endpoint_client(self) -> Any:  # noqa: D102 - authlib hook
        client = super().authenticate_token_endpoint_client()  # type: ignore[misc]
        self.asked = allowed_targets(client.client, self.request.payload.data,  # type: ignore[attr-defined]
                                     self.target_audiences(client.client))
        return client

    def target_audiences(self, client: Client) -> tuple[str, ...] | None:
        """What *client* may ask as ``aud`` in this grant; None: its ``Audiences`` (a grant may say otherwise)."""
        return None

    def generate_token(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102 - authlib hook
        with self.server.issuer.audience(self.asked):  # type: ignore[attr-defined]
            return super().generate_token(*args, **kwargs)  # type: ignore[misc]

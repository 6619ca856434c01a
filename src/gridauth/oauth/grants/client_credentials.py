"""The client credentials grant (RFC 6749 §4.4): a token for a confidential client itself, never a refresh token."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError

from ..audience import TargetedGrant
from ..dpop import BindsAccessToken
from ..scopes import GrantsScope, ScopeRequest, check_plain_allowed, decide


class ClientCredentialsGrant(GrantsScope, TargetedGrant, BindsAccessToken, grants.ClientCredentialsGrant):
    """authlib's grant; group and VO scopes make no sense without a user and are refused."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_requested_scope(self) -> None:
        """Only the plain scopes the client is registered for, and the capabilities its list covers."""
        request = ScopeRequest.parse(self.request.payload.scope)
        if request.has_grid_selectors:
            raise InvalidScopeError("a client token carries no group, VO or property")
        client = self.request.client.client
        check_plain_allowed(client.scope, request.ordinary)
        self.granted = decide(self.server.registry(), client, request, None)

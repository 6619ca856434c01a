"""The refresh grant, gridauth's way (the heart of the service).

- A refresh token lives ``RefreshTokenLifetime`` (12 h by default, or the client's own) from the
  moment it was issued; refreshing does not extend it.
- A refresh does not return a new refresh token: the client keeps the one it has.
- A refresh revokes the old credentials: the access tokens issued earlier from the same grant become
  inactive when the new one is recorded (in the same transaction).
- Each refresh re-reads the registry: a user who left the group or the VO, or was deleted, gets
  ``invalid_grant`` and the grant is revoked.
- A narrower scope may be asked; a wider one (or another group) is ``invalid_scope``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidScopeError

from ..models import GridUser, TokenRef
from ..scopes import ScopeRequest, canonical
from .membership import current_membership

if TYPE_CHECKING:
    from ..server import GridAuthorizationServer


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """authlib's refresh grant with the rules above."""

    INCLUDE_NEW_REFRESH_TOKEN = False
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: GridAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRef:
        """Find the grant by the token's hash; refuse it when unknown, revoked or past its lifetime."""
        if len(refresh_token) > 512:
            raise InvalidGrantError("unknown refresh token")
        now = self.server.clock.now()
        row = self.server.tokens.grant_by_refresh_token(refresh_token)
        if row is None:
            raise InvalidGrantError("unknown refresh token")
        if row.revoked_at is not None:
            raise InvalidGrantError("the refresh token was revoked")
        if row.expires_at <= now:
            raise InvalidGrantError("the refresh token expired; log in again")
        return TokenRef("refresh_token", row.client_id, row, now)

    def _validate_token_scope(self, token: TokenRef) -> None:
        asked = self.request.payload.scope
        if not asked:
            return
        granted = ScopeRequest.parse(token.get_scope())
        wanted = ScopeRequest.parse(asked)
        if wanted.group and wanted.group != granted.group:
            raise InvalidScopeError("a refresh cannot change the group")
        if wanted.vo and wanted.vo != granted.vo:
            raise InvalidScopeError("a refresh cannot change the VO")
        if not set(wanted.plain) <= set(granted.plain):
            raise InvalidScopeError("a refresh may only ask for a subset of the granted scope")
        allowed = granted.properties or self.server.registry().properties_of_group(token.row.group_name)
        if wanted.properties and not set(wanted.properties) <= set(allowed):
            raise InvalidScopeError("a refresh may only narrow the granted properties")

    def authenticate_user(self, token: TokenRef) -> GridUser:
        """The grant's user in the grant's group, as the registry says now; else revoke and refuse."""
        grant = token.row
        asked = ScopeRequest.parse(self.request.payload.scope or grant.scope)
        granted = ScopeRequest.parse(grant.scope)
        try:
            membership = current_membership(self.server.registry(), grant.username, grant.group_name, grant.vo,
                                            asked.properties or granted.properties, grant.idp)
        except InvalidGrantError as error:
            self.server.tokens.revoke_grant(grant.id, token.now)
            raise InvalidGrantError(f"{error.description}; the refresh token was revoked") from None
        return GridUser(membership, auth_time=grant.auth_time, grant_id=grant.id, idp=grant.idp)

    def issue_token(self, user: GridUser, refresh_token: TokenRef) -> dict:
        """A new access token for the (possibly narrowed) scope; no new refresh token."""
        granted = ScopeRequest.parse(refresh_token.get_scope())
        asked = ScopeRequest.parse(self.request.payload.scope or refresh_token.get_scope())
        scope = canonical(asked.plain, user.membership, asked.properties or granted.properties)
        return self.generate_token(user=user, scope=scope, include_refresh_token=False)

    def revoke_old_credential(self, refresh_token: TokenRef) -> None:
        """Nothing left to do: ``save_token`` revoked the older access tokens when it recorded the new one."""

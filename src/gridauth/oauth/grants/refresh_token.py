"""The refresh grant, gridauth's way (the heart of the service).

- A refresh token lives ``RefreshTokenLifetime`` (12 h by default, or the client's own) from the
  moment it was issued; refreshing does not extend it.
- A refresh does not return a new refresh token: the client keeps the one it has.
- A refresh revokes the old credentials: it is one conditional UPDATE that locks the grant, checks
  under the lock that it holds the token presented and is neither revoked nor expired, and bumps
  its generation (``TokenStore.refresh``); the access tokens
  issued earlier from the grant (of older generations) are inactive from that commit on, and the new
  one, signed after it, carries the new generation. A revocation landing at any moment leaves no
  active token: before the commit, the refresh fails; after it, the grant check ends the new token.
- Each refresh re-reads the registry: a user who left the group or the VO, or was deleted, gets
  ``invalid_grant``; the grant is revoked once that registry has been served for the grace period
  (``RemovalGracePeriod``, see ``membership.py``), so a removal rolled back before then costs nothing.
- A suspended user (``Suspended = yes``) gets ``invalid_grant`` and the grant is kept as it is:
  lifting the suspension makes the same refresh token work again.
- A narrower scope may be asked (a capability may be narrowed to a sub-path); a wider one (or another
  group) is ``invalid_scope``. ``lifetime:`` may be asked afresh: it only shortens.
- The capabilities, the ``wlcg.groups`` and the lifetime are decided again by the registry as it is
  now (``scopes.decide``): a capability policy narrowed since the login narrows the new token.
- A refresh token bound to a DPoP key (a public client's, see ``oauth/dpop.py``) is refreshed only
  with a proof by that key, checked before the grant is renewed: otherwise nothing is issued. A
  client whose ``DPoP`` is ``required`` needs a proof for an unbound refresh token too.
- A refresh token of a revoked grant, or a bound one without a proof by its key, is recorded as a
  possible theft (``oauth/theft.py``), which may revoke the user's other grants from the client;
  but not that of an exchanged grant revoked with the grant it was exchanged from (the service
  learns that the user's grant ended).
- A refresh token that carries its grant's fields (``oauth/carried.py``) is checked on them, with no
  effects, and then that UPDATE is the refresh's only statement; any refusal on them is decided on
  the stored grant instead, read by the token's hash, as for a plain token (which is read first).
- On MySQL/MariaDB, a carried token's renewal may be run apart from the grant (:meth:`renewal_to_await`): the
  token endpoint sends it from the IOLoop and awaits the answer there, so no worker thread waits on the
  round trip (``db/awaited.py``), then hands the outcome back (:meth:`renewed`); the rules are the same.
- A grant made by a token exchange (``token_exchange.py``) is refreshed only while the client's
  exchange policy still allows it refresh tokens for the group; its access tokens carry the grant's
  ``act`` and expire with the grant at the latest.
"""

from __future__ import annotations

from typing import NoReturn

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)

from ...db.tokens import Grant, Renewal
from ..audience import TargetedGrant
from ..capabilities import covered
from ..carried import MAX_REFRESH_TOKEN_LENGTH, carried_grant
from ..dpop import BindsAccessToken, InvalidDPoPProof, proof_of
from ..models import GridUser, OAuthClient, TokenRef
from ..scopes import GrantsScope, Membership, ScopeRequest, decide
from ..services import GrantServices
from ..theft import suspected_theft
from .exchange_rules import policy_refusal, stored_actor
from .membership import UserSuspended, current_membership, revoke_refused_grant

# A grant row stays this long past the expiry of its newest access token (clocks read a moment apart).
PURGE_MARGIN = 60


class RefreshTokenGrant(GrantsScope, TargetedGrant, BindsAccessToken, grants.RefreshTokenGrant):
    """authlib's refresh grant with the rules above."""

    INCLUDE_NEW_REFRESH_TOKEN = False
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: GrantServices
    _scopes: tuple[ScopeRequest, ScopeRequest] | None = None
    # The token presented, and the user the checks on the fields it carries found (None: a stored grant's).
    _presented: str = ""
    _carried_user: GridUser | None = None
    # A renewal run apart (:meth:`renewal_to_await`) and what it gave (:meth:`renewed`).
    _apart: Renewal | None = None
    _renewed: Grant | None = None

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRef:
        """Find the grant by the token's hash; refuse it when unknown, revoked or past its lifetime.

        This read only decides the answer to a request that cannot succeed; :meth:`issue_token`
        checks again, under the grant's lock, in the transaction that renews it.
        """
        if len(refresh_token) > MAX_REFRESH_TOKEN_LENGTH:
            raise InvalidGrantError("unknown refresh token")
        now = self.server.clock.now()
        row = self.server.tokens.grant_by_refresh_token(refresh_token)
        if row is not None and row.revoked_at is not None and not self.revoked_with_parent(row):
            suspected_theft(self.server, row, "revoked_grant", getattr(self.request, "client_address", None), now)
        row = live_grant(row, now)
        return TokenRef("refresh_token", row.client_id, row, now)

    def revoked_with_parent(self, row: Grant) -> bool:
        """Whether *row*, revoked, is an exchanged grant whose parent is revoked (or gone) too: no theft."""
        if row.parent_id is None:
            return False
        parent = self.server.tokens.grant(row.parent_id)
        return parent is None or parent.revoked_at is not None

    def scopes(self, token: TokenRef) -> tuple[ScopeRequest, ScopeRequest]:
        """(granted, asked): the grant's scope and the asked one (the grant's when none), parsed once per refresh.

        authlib makes a grant object per request, so the pair is kept on it.
        """
        if self._scopes is None:
            granted = ScopeRequest.parse(token.get_scope())
            asked = self.request.payload.scope
            self._scopes = (granted, ScopeRequest.parse(asked) if asked else granted)
        return self._scopes

    def validate_token_request(self) -> None:
        """authlib's checks (client, grant type, token, token's client) through its public hooks, then our scope rule.

        authlib compares the asked scope with the granted one as strings; gridauth's scope has
        parameters (``g:`` is ``group:``, properties may be narrowed to the group's), so the
        comparison is :meth:`check_scope`'s.
        """
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(f"the client may not use grant_type={self.GRANT_TYPE}")
        value = self.request.form.get("refresh_token")
        if value is None:
            raise InvalidRequestError("missing 'refresh_token'")
        self._presented = value
        token = self.carried_token(value, client)
        if token is None:
            token = self.authenticate_refresh_token(value)
            if not token.check_client(client):
                raise InvalidGrantError()
            self.check_binding(token, client)
            self.check_scope(token)
        self.request.client = client
        self.request.refresh_token = token

    def carried_token(self, value: str, client: OAuthClient) -> TokenRef | None:
        """The grant *value* carries, when every check of a refresh passes on its fields; else None.

        Checked as :meth:`validate_token_request`, :meth:`authenticate_user` and :meth:`issue_token`
        check a stored grant (the registry's decision on its scope included), but with no effects (no
        suspected theft, no revocation): the fields are the client's word until the renewal matches
        the token's hash. None (decide on the stored grant) for a plain token, a scope asked (rare:
        checked on the stored grant), and every refusal.
        """
        grant = carried_grant(value)
        now = self.server.clock.now()
        if (grant is None or self.request.payload.scope or not grant.live(now)
                or grant.client_id != client.get_client_id()):
            return None
        proof = proof_of(self.request)
        token = TokenRef("refresh_token", grant.client_id, grant, now)
        try:
            self.server.dpop.check_binding(grant.dpop_jkt, proof, "refresh token")
            self.server.dpop.require(client.client, proof)
            granted, _ = self.scopes(token)
            membership = current_membership(self.server.registry(), grant.username, grant.group_name, grant.vo,
                                            granted.properties, grant.idp)
            user = self.grid_user(token, client, membership)
            self.granted = decide(self.server.registry(), client.client, granted, membership, granted.properties)
        except (InvalidDPoPProof, InvalidGrantError, InvalidScopeError):
            self._scopes = None
            return None
        self._carried_user = user
        return token

    def check_binding(self, token: TokenRef, client: OAuthClient) -> None:
        """A bound refresh token needs a proof by its key; one presented otherwise is recorded as a possible theft.

        Then a client whose DPoP is ``required`` needs a proof even for an unbound refresh token (one
        issued before the client required DPoP).
        """
        proof = proof_of(self.request)
        try:
            self.server.dpop.check_binding(token.row.dpop_jkt, proof, "refresh token")
        except (InvalidDPoPProof, InvalidGrantError):
            suspected_theft(self.server, token.row, "missing_proof" if proof is None else "wrong_key",
                            getattr(self.request, "client_address", None), token.now)
            raise
        self.server.dpop.require(client.client, proof)

    def check_scope(self, token: TokenRef) -> None:
        """A refresh may narrow the scope, never widen it nor change the group or the VO."""
        if not self.request.payload.scope:
            return
        granted, wanted = self.scopes(token)
        if wanted.group and wanted.group != granted.group:
            raise InvalidScopeError("a refresh cannot change the group")
        if wanted.vo and wanted.vo != granted.vo:
            raise InvalidScopeError("a refresh cannot change the VO")
        capabilities = {c.scope for c in wanted.capabilities}
        others = {item for item in wanted.plain if not item.startswith("lifetime:") and item not in capabilities}
        if not others <= set(granted.plain) or not all(covered(c, granted.capabilities) for c in wanted.capabilities):
            raise InvalidScopeError("a refresh may only ask for a subset of the granted scope")
        allowed = granted.properties or self.server.registry().properties_of_group(token.row.group_name)
        if wanted.properties and not set(wanted.properties) <= set(allowed):
            raise InvalidScopeError("a refresh may only narrow the granted properties")

    def authenticate_user(self, token: TokenRef) -> GridUser:
        """The grant's user in the grant's group, as the registry says now; else refuse (and revoke, past the grace,
        unless the user is only suspended). A carried grant's was found by :meth:`carried_token`."""
        if self._carried_user is not None:
            return self._carried_user
        grant = token.row
        granted, asked = self.scopes(token)
        try:
            membership = current_membership(self.server.registry(), grant.username, grant.group_name, grant.vo,
                                            asked.properties or granted.properties, grant.idp)
        except InvalidGrantError as error:
            if isinstance(error, UserSuspended) or not revoke_refused_grant(self.server.registry(), token.now):
                raise
            self.server.tokens.revoke_grant(grant.id, token.now)
            raise InvalidGrantError(f"{error.description}; the refresh token was revoked") from None
        return self.grid_user(token, self.request.client, membership)

    @staticmethod
    def grid_user(token: TokenRef, client: OAuthClient, membership: Membership) -> GridUser:
        """The user of grant *token* in *membership*; ``invalid_grant`` when the client's exchange policy no longer
        lets an exchanged grant be refreshed."""
        grant = token.row
        if grant.parent_id is not None and (refusal := policy_refusal(client.client, grant.group_name, refresh=True)):
            raise InvalidGrantError(refusal)
        return GridUser(membership, auth_time=grant.auth_time, grant_id=grant.id, idp=grant.idp,
                        actor=stored_actor(grant.actor))

    def renewal_to_await(self) -> Renewal | None:
        """After :meth:`validate_token_request`: the renewal of a carried token, when the token store awaits
        renewals on the IOLoop (MySQL/MariaDB); None to renew in :meth:`issue_token` as usual.

        The caller runs it (``TokenStore.refresh_awaited``), gives the outcome to :meth:`renewed`, then
        finishes with ``create_token_response``. Only a carried token's checks have no effects, so
        only its renewal may be run apart from them.
        """
        if self._carried_user is None or self.server.tokens.awaited is None:
            return None
        self._apart = self.renewal(self.request.refresh_token)
        return self._apart

    def renewed(self, grant: Grant | None) -> None:
        """The outcome of :meth:`renewal_to_await`'s renewal: the grant at its new generation, or None."""
        self._renewed = grant

    def renewal(self, token: TokenRef) -> Renewal:
        """The renewal of *token*'s grant by the token presented, now; its row is kept until the new access token
        expires, and a margin."""
        now = self.server.clock.now()
        until = now + self.server.issuer.lifetime(self.request.client, self.GRANT_TYPE) + PURGE_MARGIN
        return Renewal(token.row, self._presented, now, until, getattr(self.request, "client_address", None))

    def issue_token(self, user: GridUser, refresh_token: TokenRef) -> dict:
        """Renew the grant (one transaction), then sign an access token of its new generation; no refresh token."""
        granted, asked = self.scopes(refresh_token)
        client = self.request.client
        if self._carried_user is None:  # a carried grant's was decided with its checks
            self.granted = decide(self.server.registry(), client.client, asked, user.membership,
                                 asked.properties or granted.properties)
        if self._apart is not None:  # renewed already, apart (renewal_to_await)
            renewal, grant = self._apart, self._renewed
        else:
            renewal = self.renewal(refresh_token)
            grant = self.server.tokens.refresh(renewal)
        now = renewal.now
        if grant is None:
            self.refuse_renewal(refresh_token, now)
        refresh_token.row = grant
        user = user.at_generation(grant.generation)
        # An exchanged grant's tokens never outlive it (its end is that of the user's grant, or before);
        # the issuer keeps the shorter of this and the granted lifetime.
        expires_in = grant.expires_at - now if grant.parent_id is not None else None
        return self.generate_token(user=user, expires_in=expires_in, include_refresh_token=False)

    def refuse_renewal(self, token: TokenRef, now: int) -> NoReturn:
        """Why the renewal found nothing to renew: the stored grant's answer; nothing is issued.

        A stored grant was read a moment before: it was revoked or expired since (or is gone). A
        carried grant is only what the client sent: the grant is read by the token's hash and
        decided as a plain token's, a suspected theft recorded for a revoked one; a grant found live
        (the fields were changed, and the token is not the one that grant holds) is refused as unknown.
        """
        if self._carried_user is None:
            live_grant(self.server.tokens.grant(token.row.id), now)
        else:
            self.authenticate_refresh_token(self._presented)
        raise InvalidGrantError("unknown refresh token")

    def revoke_old_credential(self, refresh_token: TokenRef) -> None:
        """Nothing left to do: :meth:`issue_token` moved the grant to a new generation, which ended the older tokens."""


def live_grant(row: Grant | None, now: int) -> Grant:
    """*row* when it is a live grant; ``invalid_grant`` when it is unknown, revoked or past its lifetime."""
    if row is None:
        raise InvalidGrantError("unknown refresh token")
    if row.revoked_at is not None:
        raise InvalidGrantError("the refresh token was revoked")
    if row.expires_at <= now:
        raise InvalidGrantError("the refresh token expired; log in again")
    return row

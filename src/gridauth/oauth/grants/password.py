"""The resource owner password credentials grant (RFC 6749 §4.3): discouraged, and off unless a client lists it.

The rules:

1. Only a client whose ``grant_types`` list ``password`` may use it, and only a confidential one
   (the configuration refuses it for a public client: anyone could try passwords through it).
   Discovery names the grant only while some client lists it.
2. Local accounts only (a ``ProviderType = Local`` identity provider must exist): the user name is a
   registry user's, the password the one ``gridauth admin passwd`` set. Users of external identity
   providers have no password here.
3. Every attempt spends the login page's guess budgets (``db/guessing.py``: per user name and per
   address, counted before the password is checked, a right password taken back). The password is
   checked on the password checker's own threads, never on a database worker, so the grant runs in
   two halves around the check: :meth:`PasswordGrant.validate_token_request` (client, parameters,
   scope) and, once the check is done, :meth:`PasswordGrant.signed_in` and the token response.
4. A wrong password and an unknown name get the same ``invalid_grant``; a name over its budget
   ``invalid_grant`` saying to wait (the right password too, until the window ends).
5. The group comes from the scope as for every grant (the asked one, else the default group), and
   the grant's refresh token (when the client may refresh) follows the refresh rules; ``idp`` is
   ``local``, as for the login page.
6. Each outcome is audited as a sign-in (``login``, ``login_failed``, ``login_locked_out``, with
   ``kind = password_grant``) besides the ``token_issued`` of every token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError

from ... import audit
from ...config.model import PASSWORD_GRANT
from ...db.guessing import SignIn
from ..audience import TargetedGrant
from ..dpop import BindsAccessToken
from ..models import GridUser
from ..scopes import GrantsScope, ScopeRequest, check_plain_allowed, decide, resolve
from ..services import GrantServices

__all__ = ["PasswordGrant", "SignIn"]
WRONG_CREDENTIALS = "wrong user name or password"
TOO_MANY = "too many sign-in attempts for this user or from this address; try again in a few minutes"
USERNAME_MAX = 255
PASSWORD_MAX = 1024


@dataclass(frozen=True)
class PendingSignIn:
    """A user name and password not checked yet (rule 3): what the first half leaves for the check."""

    username: str
    password: str = ""

    def __repr__(self) -> str:  # the password never reaches a log line
        return f"PendingSignIn({self.username!r})"


class PasswordGrant(GrantsScope, TargetedGrant, BindsAccessToken, grants.ResourceOwnerPasswordCredentialsGrant):
    """authlib's grant, in two halves around the password check."""

    GRANT_TYPE = PASSWORD_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    server: GrantServices
    local_user = False  # set by the first half: whether the name may sign in with a local password (rule 2)

    def validate_token_request(self) -> None:
        """authlib's checks (client, grant type, parameters, scope); then whether the name is a local account."""
        super().validate_token_request()
        registry = self.server.registry()
        self.local_user = (any(idp.is_local for idp in registry.idps.values())
                           and registry.user(self.pending.username) is not None)

    def authenticate_user(self, username: str, password: str) -> PendingSignIn:
        """Not checked here (rule 3): :meth:`signed_in` sets the user once the check is done."""
        return PendingSignIn(username.strip()[:USERNAME_MAX], password[:PASSWORD_MAX])

    def validate_requested_scope(self) -> None:
        """The plain scopes the client is registered for; the group is resolved once the user is known."""
        check_plain_allowed(self.request.client.client.scope, ScopeRequest.parse(self.request.payload.scope).ordinary)

    @property
    def pending(self) -> PendingSignIn:
        """The user name and password of the request, not checked yet."""
        pending = self.request.user
        if not isinstance(pending, PendingSignIn):
            raise InvalidRequestError("the password grant was not validated")
        return pending

    def signed_in(self, outcome: SignIn) -> None:
        """The second half: refuse per rule 4, or make the user in the group the scope asks (rule 5)."""
        username = self.pending.username
        kind = "password_grant"
        if outcome == "rate_limited":
            audit.record("login_locked_out", "refused", user=username, kind=kind)
            raise InvalidGrantError(TOO_MANY)
        if outcome != "success":
            audit.record("login_failed", "failure", user=username, kind=kind)
            raise InvalidGrantError(WRONG_CREDENTIALS)
        audit.record("login", user=username, kind=kind)
        membership = resolve(self.server.registry(), username, ScopeRequest.parse(self.request.payload.scope))
        self.request.user = GridUser(membership, auth_time=self.server.clock.now(), idp="local")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Tokens for the signed-in user, with the canonical scope; a refresh token when the client may refresh."""
        user = self.request.user
        if not isinstance(user, GridUser):
            raise InvalidRequestError("the password was not checked")
        asked = ScopeRequest.parse(self.request.payload.scope)
        client = self.request.client
        # capabilities by the group's policy, the WLCG profile, lifetime: as every grant (scopes.decide)
        self.granted = decide(self.server.registry(), client.client, asked, user.membership)
        token = self.generate_token(user=user, include_refresh_token=client.check_grant_type("refresh_token"))
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER

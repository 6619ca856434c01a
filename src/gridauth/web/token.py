"""``POST /token`` (RFC 6749 §3.2: every grant, ``Cache-Control: no-store``), ``/revoke``, ``/introspect``.

The three are served without ``RequestHandler`` (``lean.py``); the application answers other methods 405.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.base import OAuth2Error

from .. import audit, metrics
from ..config.model import PASSWORD_GRANT
from ..hashing import PasswordChecksBusy
from ..oauth.grants.authorization_code import REPLAYED_CODE
from ..oauth.grants.refresh_token import RefreshTokenGrant
from ..oauth.server import Pending
from .base import BaseHandler
from .lean import LeanEndpoint
from .oauth_handler import NO_STORE, Response, claimed_client
from .oauth_request import TornadoOAuth2Request


class TokenEndpoint(LeanEndpoint):
    """The token endpoint; each answer is counted by grant type and error code (``/metrics``)."""

    route = "/token"

    async def post(self) -> None:  # noqa: D102 - tornado verb
        grant_type = self._grant_type()
        if grant_type == PASSWORD_GRANT:
            return await self.answer(self._password)
        if grant_type == RefreshTokenGrant.GRANT_TYPE and self.context.tokens.awaited is not None:
            return await self.answer(self._refresh)
        await self.run_endpoint(self.context.server.create_token_response)

    async def _refresh(self, oauth_request: TornadoOAuth2Request) -> Response:
        """A refresh on MySQL/MariaDB: checks on a worker, the renewal awaited on the IOLoop (``db/awaited.py``),
        the token made on a worker; any other refresh (a plain token, a refusal) entirely on the first worker."""
        server = self.context.server
        begun = await self.on_worker(server.begin_token_response, oauth_request)
        if not isinstance(begun, Pending):
            return begun
        renewed = await self.context.tokens.refresh_awaited(begun.renewal)
        return await self.on_worker(lambda _: server.finish_token_response(begun, renewed), oauth_request)

    def _grant_type(self) -> str:
        sent = self.request.body_arguments.get("grant_type", [])
        return sent[0].decode("utf-8", "replace") if len(sent) == 1 else ""

    async def _password(self, oauth_request: TornadoOAuth2Request) -> Response:
        """The password grant's two halves on a worker, the password checked in between (``grants/password.py``)."""
        context = self.context
        server = context.server
        try:
            grant = await self.on_worker(server.password_grant, oauth_request)
        except OAuth2Error as error:
            return server.handle_error_response(oauth_request, error)
        pending = grant.pending
        try:
            outcome = await context.guessing.sign_in(pending.username, pending.password,
                                                     self.request.remote_ip or "unknown", grant.local_user,
                                                     context.clock.now())
        except PasswordChecksBusy:
            return 503, {"error": "temporarily_unavailable",
                         "error_description": "too many password checks right now; try again shortly"}, \
                [*NO_STORE, ("Retry-After", "5")]
        return await self.on_worker(lambda _: server.finish_password_grant(grant, outcome), oauth_request)

    def answered(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:  # noqa: D102 - hook
        metrics.record_token_response(self._grant_type(), status, body)

    def audit_refusal(self, body: dict[str, Any], oauth_request: TornadoOAuth2Request) -> None:
        """A refused token request: a failed client authentication, a replayed code, or any other refusal."""
        if body.get("error") == "invalid_client":
            return super().audit_refusal(body, oauth_request)
        description = body.get("error_description")
        grant = getattr(oauth_request.refresh_token, "row", None)  # a refresh token found, then refused
        audit.record("code_replay" if description == REPLAYED_CODE else "token_refused", "refused",
                     client=claimed_client(self, oauth_request), address=self.request.remote_ip,
                     user=getattr(grant, "username", None), group=getattr(grant, "group_name", None),
                     grant_type=oauth_request.payload.grant_type if oauth_request.payload else None,
                     error=body.get("error"), reason=description)


class RevocationEndpoint(LeanEndpoint):
    """``POST /revoke`` (RFC 7009)."""

    route = "/revoke"

    async def post(self) -> None:  # noqa: D102 - tornado verb
        server = self.context.server
        await self.run_endpoint(lambda r: server.create_endpoint_response("revocation", r))


class IntrospectionEndpoint(LeanEndpoint):
    """``POST /introspect`` (RFC 7662), for resource servers registered as confidential clients."""

    route = "/introspect"

    async def post(self) -> None:  # noqa: D102 - tornado verb
        server = self.context.server
        await self.run_endpoint(lambda r: server.create_endpoint_response("introspection", r))


PROTOCOL_ENDPOINTS: list[type[LeanEndpoint]] = [TokenEndpoint, RevocationEndpoint, IntrospectionEndpoint]


class PostOnlyHandler(BaseHandler):
    """Any method but POST on a protocol endpoint (the POSTs never reach the application): 405 in JSON."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:  # noqa: D102 - tornado hook
        if status_code == 405:  # the methods allowed (RFC 9110 §15.5.6)
            self.set_header("Allow", "POST")
        super().write_error(status_code, **kwargs)

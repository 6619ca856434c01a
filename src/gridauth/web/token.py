"""``POST /token`` (RFC 6749 §3.2): every grant, JSON answers with ``Cache-Control: no-store``."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.base import OAuth2Error

from .. import audit, metrics
from ..config.model import PASSWORD_GRANT
from ..hashing import PasswordChecksBusy
from ..oauth.grants.authorization_code import REPLAYED_CODE
from .oauth_handler import NO_STORE, OAuthHandler, Response, claimed_client
from .oauth_request import TornadoOAuth2Request


class TokenHandler(OAuthHandler):
    """The token endpoint; each answer is counted by grant type and error code (``/metrics``)."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        if self._grant_type() == PASSWORD_GRANT:
            return await self.answer(self._password)
        await self.run_endpoint(self.context.server.create_token_response)

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


class RevocationHandler(OAuthHandler):
    """``POST /revoke`` (RFC 7009)."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        server = self.context.server
        await self.run_endpoint(lambda r: server.create_endpoint_response("revocation", r))


class IntrospectionHandler(OAuthHandler):
    """``POST /introspect`` (RFC 7662), for resource servers registered as confidential clients."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        server = self.context.server
        await self.run_endpoint(lambda r: server.create_endpoint_response("introspection", r))

"""``/register``: dynamic client registration (RFC 7591) and the client's own configuration (RFC 7592).

``POST /register`` registers a client; ``GET``, ``PUT`` and ``DELETE /register?client_id=...`` with
the registration access token read, replace and delete it. The rules are ``oauth/registration.py``'s.
"""

from __future__ import annotations

from typing import Any

from .. import audit
from .oauth_handler import OAuthHandler
from .oauth_request import build_json_request


class RegistrationHandler(OAuthHandler):
    """Translates the four verbs to authlib's two endpoints; JSON in, JSON out."""

    async def _run(self, endpoint: str) -> None:
        server = self.context.server
        await self.answer(lambda request: self.on_worker(lambda r: server.create_endpoint_response(endpoint, r),
                                                         request), build=build_json_request)

    async def post(self) -> None:  # noqa: D102 - tornado verb
        await self._run("client_registration")

    async def get(self) -> None:  # noqa: D102 - tornado verb
        await self._run("client_configuration")

    async def put(self) -> None:  # noqa: D102 - tornado verb
        await self._run("client_configuration")

    async def delete(self) -> None:  # noqa: D102 - tornado verb
        await self._run("client_configuration")

    def audit_refusal(self, body: dict[str, Any], oauth_request: Any) -> None:
        """A refused registration or configuration request, with its RFC 7591 error."""
        audit.record("client_registration_refused", "refused", address=self.request.remote_ip,
                     client=self.get_query_argument("client_id", None), error=body.get("error"),
                     reason=body.get("error_description"), kind=self.request.method)

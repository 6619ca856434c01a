"""``/authorize``: the authorization code flow for web portals (login, group choice, redirect back)."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidScopeError

from ..oauth.models import GridUser
from ..oauth.scopes import ScopeRequest, select
from .messages import authorize_problem, could_not_finish, damaged_request
from .oauth_request import TornadoOAuth2Request, build_oauth_request
from .pages import PageHandler

log = logging.getLogger("gridauth.authorize")


class LoginRequiredError(OAuth2Error):
    """OpenID Connect ``login_required`` (``prompt=none`` without a session)."""

    error = "login_required"


class AuthorizeHandler(PageHandler):
    """Validate the client's request, make sure the person is signed in, pick the group, redirect with a code."""

    def check_xsrf_cookie(self) -> None:
        """Clients may POST an authorization request; our own group form carries the CSRF token."""
        if "group" in self.request.body_arguments:
            super().check_xsrf_cookie()

    async def get(self) -> None:  # noqa: D102 - tornado verb
        await self._authorize(chosen=None)

    async def post(self) -> None:  # noqa: D102 - tornado verb
        await self._authorize(chosen=self.get_body_argument("group", None))

    def _redirect_error(self, error: OAuth2Error, request: TornadoOAuth2Request | None = None) -> None:
        """Send *error* back to the client when its redirect URI is known; otherwise explain it to the person.

        *request* is None when the request could not even be read.
        """
        if request is None:
            return self.problem(damaged_request(error))
        with self.context.server.bound(self.registry):
            status, _, headers = self.context.server.handle_error_response(request, error)
        if status == 302:
            return self.redirect(dict(headers)["Location"])
        payload = request.payload.data
        client_known = self.registry.client(payload.get("client_id", "")) is not None
        self.problem(authorize_problem(error, payload, client_known))

    async def _authorize(self, chosen: str | None) -> None:
        try:
            request = build_oauth_request(self.request, form_required=False)
        except OAuth2Error as error:
            return self._redirect_error(error)
        request.payload.data.pop("group", None)
        server, registry = self.context.server, self.registry

        def validate():  # type: ignore[no-untyped-def]
            with server.bound(registry):
                grant = server.get_authorization_grant(request)
                return grant, grant.validate_authorization_request()

        try:
            grant, redirect_uri = await self.context.db.run(validate)
        except OAuth2Error as error:
            if error.redirect_uri and not error.state:  # RFC 6749 §4.1.2.1: every error redirect carries state
                error.state = request.payload.state
            return self._redirect_error(error, request)
        session = await self.load_session()
        asked = ScopeRequest.parse(request.payload.scope)
        if session is None:
            if request.payload.data.get("prompt") == "none":
                return self._redirect_error(LoginRequiredError(redirect_uri=redirect_uri,
                                                               state=request.payload.state), request)
            return self.redirect_to_login(self.suggested_idp(request.payload.scope or ""))
        if self.refused_suspended(session.username, "authorize"):
            return None
        allowed = tuple(json.loads(session.groups)) if session.groups else None
        try:
            selection = select(registry, session.username, asked, allowed, chosen)
        except InvalidScopeError as error:
            error.redirect_uri, error.state = redirect_uri, request.payload.state
            return self._redirect_error(error, request)
        if isinstance(selection, tuple):
            return self.show_group_choice(session.username, request.client.client.name,
                                          "/authorize?" + urlencode(request.payload.data), selection)
        user = GridUser(selection, auth_time=session.auth_time, idp=session.idp)

        def respond():  # type: ignore[no-untyped-def]
            with server.bound(registry):
                return server.create_authorization_response(request, user, grant)

        status, body, headers = await self.context.db.run(respond)
        for name, value in headers:
            if name.lower() == "location":
                return self.redirect(value)
        # authlib answers without a redirect only for an error it could not send back: a page, not JSON.
        log.warning("authorization response without a redirect (%d): %s", status, body)
        self.problem(could_not_finish(status))

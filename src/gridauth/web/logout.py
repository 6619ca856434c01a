"""``/logout``: OpenID Connect RP-initiated logout; ends the single-sign-on session (rules: ``oauth/logout.py``)."""

from __future__ import annotations

from ..oauth.logout import Logout, examine, redirect_target
from .messages import LOGOUT_REFUSED
from .pages import PageHandler


class LogoutHandler(PageHandler):
    """End the session at once for a valid hint, else after the person confirms; then go back to the client."""

    async def _examine(self) -> Logout:
        session = await self.load_session()
        return await self.context.db.run(examine, self.context.keyring, self.get_argument("client_id", ""),
                                         self.get_argument("id_token_hint", ""),
                                         session.username if session else None)

    async def _done(self, client_id: str) -> None:
        await self.end_session()
        target = redirect_target(self.registry, client_id, self.get_argument("post_logout_redirect_uri", ""),
                                 self.get_argument("state", ""))
        if target:
            return self.redirect(target)
        self.message("Signed out", "You are signed out of gridauth in this browser.",
                     "Applications you signed in to through gridauth will ask you to sign in again. "
                     "You can close this window.", links=(("/", "Home page of this service"),))

    async def get(self) -> None:  # noqa: D102 - tornado verb
        logout = await self._examine()
        if logout.refused:
            return self.problem(LOGOUT_REFUSED)
        if logout.at_once:
            return await self._done(logout.client_id)
        keep = [(k, self.get_argument(k)) for k in ("post_logout_redirect_uri", "state") if self.get_argument(k, "")]
        if logout.client_id:
            keep.append(("client_id", logout.client_id))
        self.message("Sign out?", "Do you want to sign out of gridauth in this browser? Applications that use "
                     "gridauth will then ask you to sign in again.",
                     form_action="/logout", hidden=keep, button_name="logout", button_label="Sign out",
                     links=(("/", "Stay signed in and go to the home page"),))

    async def post(self) -> None:  # noqa: D102 - tornado verb; the form carries the CSRF token
        logout = await self._examine()
        if logout.refused:
            return self.problem(LOGOUT_REFUSED)
        await self._done(logout.client_id)

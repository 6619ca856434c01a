"""``/logout``: OpenID Connect RP-initiated logout; ends the single-sign-on session."""

from __future__ import annotations

from urllib.parse import urlencode

from .pages import PageHandler


class LogoutHandler(PageHandler):
    """End the session; return to the client's registered post-logout URI when it gave a valid one."""

    def _target(self) -> str | None:
        """The post-logout redirect URI, when registered for the client named by client_id or id_token_hint."""
        uri = self.get_argument("post_logout_redirect_uri", "")
        client_id = self.get_argument("client_id", "")
        hint = self.get_argument("id_token_hint", "")
        claims = self.context.keyring.verify(hint, typ="JWT") if hint else None
        if claims and not client_id:
            aud = claims.get("aud")
            client_id = aud[0] if isinstance(aud, list) and aud else aud or ""
        client = self.registry.client(client_id) if client_id else None
        if not uri or client is None or uri not in client.post_logout_redirect_uris:
            return None
        state = self.get_argument("state", "")
        return uri + ("&" if "?" in uri else "?") + urlencode({"state": state}) if state else uri

    async def _done(self) -> None:
        await self.end_session()
        target = await self.context.db.run(self._target)
        if target:
            return self.redirect(target)
        self.message("Signed out", "You are signed out of gridauth in this browser.",
                     "Applications you signed in to through gridauth will ask you to sign in again. "
                     "You can close this window.", links=(("/", "Home page of this service"),))

    async def get(self) -> None:  # noqa: D102 - tornado verb
        hint = self.get_argument("id_token_hint", "")
        if hint and await self.context.db.run(self.context.keyring.verify, hint, "JWT") is not None:
            return await self._done()
        keep = [(k, self.get_argument(k)) for k in ("post_logout_redirect_uri", "state", "client_id")
                if self.get_argument(k, "")]
        self.message("Sign out?", "Do you want to sign out of gridauth in this browser? Applications that use "
                     "gridauth will then ask you to sign in again.",
                     form_action="/logout", hidden=keep, button_name="logout", button_label="Sign out",
                     links=(("/", "Stay signed in and go to the home page"),))

    async def post(self) -> None:  # noqa: D102 - tornado verb
        await self._done()

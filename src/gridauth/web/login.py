"""``/login``: sign a person in with a local account (or send them to their identity provider)."""

from __future__ import annotations

import logging

from .. import metrics
from .external_login import start_external_login
from .messages import TOO_MANY_LOGINS, WRONG_PASSWORD
from .pages import PageHandler, safe_next

log = logging.getLogger("gridauth.login")
LOGIN_LIMIT = (10, 300)  # failed attempts per user name (and five times that per address) in 5 minutes


class LoginHandler(PageHandler):
    """The login page and the local-account form."""

    def _providers(self) -> tuple[list[str], list[str]]:
        idps = self.registry.idps.values()
        return [i.name for i in idps if i.is_local], [i.name for i in idps if not i.is_local]

    def _show(self, error: str = "", username: str = "", status: int = 200) -> None:
        local, external = self._providers()
        self.page("login.html", status=status, error=error, username=username, local=local, external=external,
                  suggested=self.get_argument("idp", ""), next_url=safe_next(self.get_argument("next", "/")))

    async def get(self) -> None:  # noqa: D102 - tornado verb
        idp = self.registry.idps.get(self.get_argument("idp", ""))
        if idp is not None and not idp.is_local:
            await start_external_login(self, idp, safe_next(self.get_argument("next", "/")))
            return
        self._show()

    async def post(self) -> None:  # noqa: D102 - tornado verb
        username = self.get_body_argument("username", "").strip()[:255]
        password = self.get_body_argument("password", "")[:1024]
        next_url = safe_next(self.get_body_argument("next", "/"))
        context = self.context
        now = context.clock.now()
        limit, window = LOGIN_LIMIT
        keys = ((f"login-ip:{self.client_ip()}", limit * 5), (f"login-user:{username}", limit))
        if not all([await context.db.run(context.flows.within, key, now, most, window) for key, most in keys]):
            log.warning("login rate limit hit for %r from %s", username, self.client_ip())
            metrics.record_login("local", "rate_limited")
            self._show(TOO_MANY_LOGINS, username, status=429)
            return
        local, _ = self._providers()
        known = bool(local) and self.registry.user(username) is not None
        ok = await context.db.run(context.accounts.check_password, username, password) if known else False
        if not ok:
            for key, most in keys:  # only failures count
                await context.db.run(context.flows.hit, key, now, most, window)
            log.info("failed local login for %r from %s", username, self.client_ip())
            metrics.record_login("local", "failure")
            self._show(WRONG_PASSWORD, username, status=401)
            return
        await self.start_session(username, "local", None)
        log.info("local login of %r from %s", username, self.client_ip())
        metrics.record_login("local", "success")
        self.redirect(next_url)

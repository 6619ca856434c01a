"""``/login``: sign a person in with a local account (or send them to their identity provider)."""

from __future__ import annotations

import logging

from .. import audit, metrics
from ..hashing import PasswordChecksBusy
from ..oauth.grants.membership import suspended
from .external_login import start_external_login
from .messages import LOGINS_BUSY, TOO_MANY_LOGINS, WRONG_PASSWORD
from .pages import PageHandler, safe_next

log = logging.getLogger("gridauth.login")


class LoginHandler(PageHandler):
    """The login page and the local-account form (the guess budgets are ``db/guessing.py``'s)."""

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
        context, address = self.context, self.client_ip()
        local, _ = self._providers()
        registered = bool(local) and self.registry.user(username) is not None
        try:
            outcome = await context.guessing.sign_in(username, password, address, registered, context.clock.now())
        except PasswordChecksBusy:
            log.warning("password checks busy: sign-in of %r from %s refused", username, address)
            metrics.record_login("local", "unavailable")
            self.set_header("Retry-After", "5")
            self._show(LOGINS_BUSY, username, status=503)
            return
        refused = outcome == "success" and suspended(self.registry, username)  # told only with the right password
        metrics.record_login("local", "suspended" if refused else outcome)
        if outcome == "rate_limited":
            log.warning("login rate limit hit for %r from %s", username, address)
            audit.record("login_locked_out", "refused", user=username, address=address, kind="local")
            self._show(TOO_MANY_LOGINS, username, status=429)
        elif outcome == "failure":
            log.info("failed local login for %r from %s", username, address)
            audit.record("login_failed", "failure", user=username, address=address, kind="local")
            self._show(WRONG_PASSWORD, username, status=401)
        elif not self.refused_suspended(username, "local"):
            await self.start_session(username, "local", None)
            log.info("local login of %r from %s", username, address)
            audit.record("login", user=username, address=address, kind="local")
            self.redirect(next_url)

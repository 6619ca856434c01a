"""Base of the HTML pages: templates, CSRF-protected forms, the single-sign-on session cookie."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from tornado.web import RequestHandler

from .. import audit
from ..db.models import SessionRow
from ..oauth.grants.membership import suspended
from ..oauth.scopes import ScopeRequest
from .base import BaseHandler
from .messages import ACCOUNT_SUSPENDED, OUTAGE, Problem, http_problem

SESSION_COOKIE = "gridauth_session"


def safe_next(url: str | None, default: str = "/") -> str:
    """Only local paths may be returned to after a login (no open redirect)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    parts = urlsplit(url)
    return url if not parts.scheme and not parts.netloc else default


class PageHandler(BaseHandler):
    """A handler that renders pages for a person in a browser."""

    session: SessionRow | None = None

    def set_default_headers(self) -> None:  # noqa: D102 - tornado hook
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                        "form-action 'self' http: https:; frame-ancestors 'none'")
        self.set_header("Referrer-Policy", "no-referrer")

    @property
    def secure_cookies(self) -> bool:
        """Cookies get ``Secure`` when the service is published over https."""
        return self.registry.settings.issuer.startswith("https://")

    def page(self, template: str, status: int = 200, **values: Any) -> None:
        """Render *template* with the values every page uses."""
        self.set_status(status)
        self.render(template, issuer=self.registry.settings.issuer, **values)

    def message(self, title: str, *lines: str, status: int = 200, details: str = "",
                links: tuple[tuple[str, str], ...] = (), **form: Any) -> None:
        """A page that says something (and may offer links, or one button: *form_action*, *button_label*)."""
        values = {"form_action": None, "hidden": [], "button_name": "", "button_label": "", **form}
        self.page("message.html", status=status, title=title, lines=lines, details=details, links=links, **values)

    def problem(self, problem: Problem) -> None:
        """A page explaining *problem* (see :mod:`gridauth.web.messages`), with a way back home."""
        self.message(problem.title, *problem.lines, status=problem.status, details=problem.details,
                     links=(("/", "Home page of this service"),))

    def check_xsrf_cookie(self) -> None:
        """Every form a page sends back carries the CSRF token (Tornado's ``_xsrf``)."""
        RequestHandler.check_xsrf_cookie(self)

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        """Tornado's CSRF cookie follows the issuer as it is now (``Secure`` once it is https, hot reload included)."""
        if name == "_xsrf":
            kwargs["secure"] = self.secure_cookies
        super().set_cookie(name, value, *args, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:  # noqa: D102 - a page, never a traceback
        self.clear()
        self.set_default_headers()
        if self.outage(kwargs):
            self.set_header("Retry-After", "5")
            return self.problem(OUTAGE)
        self.problem(http_problem(status_code, self.request.method or "GET"))

    # -- SSO session -----------------------------------------------------------------------------
    async def load_session(self) -> SessionRow | None:
        """The browser's live session, or None."""
        secret = self.get_cookie(SESSION_COOKIE) or ""
        self.session = await self.context.db.run(self.context.flows.session, secret, self.context.clock.now())
        return self.session

    async def start_session(self, username: str, idp: str, groups: list[str] | None) -> None:
        """Log the browser in: a new session id in an HttpOnly, SameSite=Lax cookie."""
        secret = secrets.token_urlsafe(32)
        now = self.context.clock.now()
        lifetime = self.registry.settings.lifetimes.session
        await self.context.db.run(self.context.flows.create_session, secret, username, idp, groups, now,
                                  now + lifetime, self.client_ip())
        self.set_cookie(SESSION_COOKIE, secret, httponly=True, samesite="Lax", secure=self.secure_cookies,
                        expires_days=None, max_age=lifetime)

    async def end_session(self) -> None:
        """Log the browser out."""
        secret = self.get_cookie(SESSION_COOKIE)
        if secret:
            await self.context.db.run(self.context.flows.end_session, secret, self.context.clock.now())
        self.clear_cookie(SESSION_COOKIE)
        self.session = None

    def refused_suspended(self, username: str, kind: str) -> bool:
        """Show the suspension page when *username* is suspended (``Suspended = yes``); whether it was shown.

        Checked where a sign-in is about to start a session (*kind*: the way, for the audit line) and
        where a session is about to be used, so an SSO session started before the suspension gives
        nothing either; the session itself is kept, as everything else of a suspended user.
        """
        if not suspended(self.registry, username):
            return False
        audit.record("login_refused", "refused", user=username, address=self.client_ip(), kind=kind,
                     reason="the user is suspended")
        self.problem(ACCOUNT_SUSPENDED)
        return True

    def suggested_idp(self, scope: str) -> str | None:
        """The ``IdProvider`` of the VO a request's scope names (directly or through a group), if any."""
        asked = ScopeRequest.parse(scope)
        vo = asked.vo or (self.registry.vo_of_group(asked.group) if asked.group else None)
        return self.registry.vos[vo].idp if vo is not None and vo in self.registry.vos else None

    def show_group_choice(self, username: str, client_name: str, action: str, groups: tuple[str, ...],
                          hidden: list[tuple[str, str]] | None = None) -> None:
        """The group choice page: each group with its VO and properties."""
        registry = self.registry
        self.page("group.html", username=username, client_name=client_name, action=action, hidden=hidden or [],
                  groups=[(g, registry.groups[g].vo, registry.groups[g].properties) for g in groups])

    def redirect_to_login(self, idp: str | None = None) -> None:
        """Send the person to the login page, to come back here afterwards."""
        params = {"next": self.request.uri}
        if idp:
            params["idp"] = idp
        self.redirect("/login?" + urlencode(params))

    def client_ip(self) -> str:
        """The remote address (X-Real-Ip / X-Forwarded-For honoured behind a proxy)."""
        return self.request.remote_ip or "unknown"

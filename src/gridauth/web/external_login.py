"""Login through an external OpenID provider: redirect there, come back to ``/login/callback``, map the identity.

The provider's answer is checked by :mod:`gridauth.identity.oidc_rp` (ID token signature, issuer,
audience, expiry, nonce; PKCE). The subject must be a registry user (``/Registry/Users/<u>/ID``);
the groups the person may act in are those the registry and the provider's claims agree on.
"""

from __future__ import annotations

import logging

from .. import audit, metrics
from ..config.model import IdProvider
from ..identity.claims import map_identity
from ..identity.oidc_rp import IdentityError, LoginState, OIDCRelyingParty
from .messages import NOT_STARTED_HERE, SIGN_IN_EXPIRED, not_registered, provider_unreachable, sign_in_failed
from .pages import PageHandler, safe_next

log = logging.getLogger("gridauth.login")
LOGIN_STATE_LIFETIME = 600
STATE_COOKIE = "gridauth_login_state"
_parties: dict[tuple[str, ...], OIDCRelyingParty] = {}


def relying_party(idp: IdProvider) -> OIDCRelyingParty:
    """One relying party per provider configuration (it caches the provider's metadata and keys)."""
    key = (idp.name, idp.issuer, idp.client_id, idp.client_secret, " ".join(idp.scope))
    if key not in _parties:
        _parties[key] = OIDCRelyingParty(idp)
    return _parties[key]


def callback_uri(handler: PageHandler) -> str:
    """Where the provider sends the browser back: ``<issuer>/login/callback``."""
    return handler.registry.settings.issuer + "/login/callback"


async def start_external_login(handler: PageHandler, idp: IdProvider, next_url: str) -> None:
    """Remember the login in the database and send the browser to the provider."""
    try:
        url, state = await relying_party(idp).begin(callback_uri(handler))
    except IdentityError as error:
        log.warning("cannot start a login at %s: %s", idp.name, error)
        metrics.record_login(idp.name, "unavailable")
        return handler.problem(provider_unreachable(idp.name, error))
    context = handler.context
    await context.db.run(context.flows.save_login_state, state.state, state.to_dict(), next_url,
                         context.clock.now() + LOGIN_STATE_LIFETIME)
    # Bind the login to this browser: the provider's answer is only accepted where the login started.
    handler.set_cookie(STATE_COOKIE, state.state, httponly=True, samesite="Lax", secure=handler.secure_cookies,
                       max_age=LOGIN_STATE_LIFETIME, path="/login/callback")
    handler.redirect(url)


class LoginCallbackHandler(PageHandler):
    """``/login/callback``: finish a login at an external provider."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        context = self.context
        state_param = self.get_argument("state", "")
        started_here = self.get_cookie(STATE_COOKIE) == state_param
        self.clear_cookie(STATE_COOKIE, path="/login/callback")
        if not started_here:
            log.warning("external login answer refused: it does not belong to this browser (%s)", self.client_ip())
            metrics.record_login("external", "failure")
            return self.problem(NOT_STARTED_HERE)
        taken = await context.db.run(context.flows.take_login_state, state_param, context.clock.now())
        if taken is None:
            metrics.record_login("external", "failure")
            return self.problem(SIGN_IN_EXPIRED)
        data, next_url = taken
        try:
            state = LoginState.from_dict(data)
            idp = self.registry.idps.get(state.idp)
            if idp is None or idp.is_local:
                raise IdentityError("the identity provider is no longer configured")
            party = relying_party(idp)
            code = await party.callback_code(self.request.query_arguments, state)
            identity = await party.complete(code, state)
        except IdentityError as error:
            log.warning("external login failed: %s", error)
            named = data.get("idp") if isinstance(data, dict) else None
            audit.record("login_failed", "failure", address=self.client_ip(), kind=str(named or "external"),
                         reason=str(error))
            metrics.record_login(str(named or "external"), "failure")  # a name we saved at the start
            return self.problem(sign_in_failed(str(named or "your identity provider"), error))
        mapped = map_identity(self.registry, identity)
        if mapped is None:
            audit.record("login_failed", "refused", user=identity.subject, address=self.client_ip(), kind=idp.name,
                         reason="the subject is not a registry user")
            metrics.record_login(idp.name, "unregistered")
            return self.problem(not_registered(idp.name, identity.subject))
        if self.refused_suspended(mapped.username, idp.name):
            metrics.record_login(idp.name, "suspended")
            return None
        await self.start_session(mapped.username, idp.name, list(mapped.groups))
        log.info("login of %r through %s (groups %s)", mapped.username, idp.name, ", ".join(mapped.groups) or "none")
        metrics.record_login(idp.name, "success")
        audit.record("login", user=mapped.username, address=self.client_ip(), kind=idp.name)
        self.redirect(safe_next(next_url))

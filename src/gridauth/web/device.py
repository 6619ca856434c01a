"""The device flow's web side: ``POST /device_authorization`` and the verification page ``/device``.

The person enters (or arrives with) the user code, signs in, chooses a group when the request names
none and they have several, then sees which client asks for what and approves or denies.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import InvalidScopeError

from .. import audit, metrics
from ..db.models import DeviceFlowRow
from ..oauth.grants.device_code import normalize_user_code
from ..oauth.scopes import Membership, ScopeRequest, select
from .messages import NO_LONGER_PENDING, TOO_MANY_CODES, WRONG_CODE, scope_problem
from .oauth_handler import OAuthHandler
from .pages import PageHandler

log = logging.getLogger("gridauth.device")


class DeviceAuthorizationHandler(OAuthHandler):
    """``POST /device_authorization`` (RFC 8628 §3.1)."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        server = self.context.server
        await self.run_endpoint(lambda r: server.create_endpoint_response("device_authorization", r))


class DeviceVerificationHandler(PageHandler):
    """``/device``: enter the code, sign in, choose a group, approve or deny."""

    async def _flow_or_error(self, raw_code: str) -> DeviceFlowRow | None:
        """The pending flow of the code typed, or an error page (every code refused while the address is over
        its budget of codes: ``db/guessing.py``)."""
        context, address = self.context, self.client_ip()
        found = await context.guessing.user_code(normalize_user_code(raw_code), address, context.clock.now())
        if found.outcome == "rate_limited":
            log.warning("too many wrong user codes from %s", address)
            audit.record("user_code_locked_out", "refused", address=address, kind="device")
            self.page("device.html", status=429, user_code="", error=TOO_MANY_CODES)
        elif found.outcome == "wrong":
            self.page("device.html", status=400, user_code=raw_code[:32], error=WRONG_CODE)
        return found.row

    def _select(self, row: DeviceFlowRow, chosen: str | None) -> Membership | tuple[str, ...] | None:
        assert self.session is not None
        allowed = tuple(json.loads(self.session.groups)) if self.session.groups else None
        try:
            return select(self.registry, self.session.username, ScopeRequest.parse(row.scope), allowed, chosen)
        except InvalidScopeError as error:
            self.problem(scope_problem(error, self._client_name(row), self.session.username))
            return None

    def _client_name(self, row: DeviceFlowRow) -> str:
        client = self.registry.client(row.client_id)
        return client.name if client else row.client_id

    def _show_choice(self, row: DeviceFlowRow, selection: Membership | tuple[str, ...]) -> None:
        assert self.session is not None
        if isinstance(selection, tuple):
            return self.show_group_choice(self.session.username, self._client_name(row), "/device", selection,
                                          [("user_code", row.user_code)])
        plain = " ".join(ScopeRequest.parse(row.scope).plain)
        self.page("consent.html", client_name=self._client_name(row), username=self.session.username,
                  vo=selection.vo, group=selection.group, properties=selection.properties, scope=plain,
                  user_code=row.user_code)

    async def get(self) -> None:  # noqa: D102 - tornado verb
        raw = self.get_argument("user_code", "")
        if not raw:
            return self.page("device.html", user_code="", error="")
        row = await self._flow_or_error(raw)
        if row is None:
            return
        if await self.load_session() is None:
            return self.redirect_to_login(self.suggested_idp(row.scope))
        if self.session is not None and self.refused_suspended(self.session.username, "device"):
            return None
        selection = self._select(row, None)
        if selection is not None:
            self._show_choice(row, selection)

    async def post(self) -> None:  # noqa: D102 - tornado verb
        row = await self._flow_or_error(self.get_body_argument("user_code", ""))
        if row is None:
            return
        if await self.load_session() is None:  # come back to this code, not to an empty form
            return self.redirect("/login?" + urlencode({"next": "/device?" + urlencode({"user_code": row.user_code})}))
        if self.session is not None and self.refused_suspended(self.session.username, "device"):
            return None
        selection = self._select(row, self.get_body_argument("group", None))
        if selection is None:
            return
        approve = self.get_body_argument("approve", None) is not None
        deny = self.get_body_argument("deny", None) is not None
        if isinstance(selection, tuple) or not (approve or deny):
            return self._show_choice(row, selection)
        context, session = self.context, self.session
        assert session is not None
        decided = await context.db.run(
            lambda: context.flows.decide_device_flow(
                row.user_code, context.clock.now(), approve, username=session.username, group_name=selection.group,
                vo=selection.vo, properties=" ".join(selection.properties), auth_time=session.auth_time,
                idp=session.idp))
        if not decided:
            return self.problem(NO_LONGER_PENDING)
        log.info("device flow %s by %r for client %s in group %s", "approved" if approve else "denied",
                 session.username, row.client_id, selection.group)
        metrics.record_device_decision(approve)
        if approve:
            self.message("Device connected", f"{self._client_name(row)} can now act as {session.username} "
                         f"in group {selection.group} of VO {selection.vo}.",
                         "You can close this window and go back to your device.")
        else:
            self.message("Request denied", f"{self._client_name(row)} was not given access. "
                         "You can close this window.")

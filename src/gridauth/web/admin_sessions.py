"""The admin API's incident control: ``/api/admin/sessions`` (list, revoke) and a user's suspension.

Handlers only translate: the selectors and their checks are ``oauth/sessions.py``'s (the same as the
local ``gridauth admin sessions``), what a VO administrator may reach is ``admin/authz.py``'s
``session_scope`` (their VO's grants only: the selector is narrowed to their VO, another VO or a
grant of another VO is a 403), and the database work runs on the database's workers.

- ``GET /api/admin/sessions?user=&client=&vo=&group=&idp=``: the live grants and SSO sessions, newest
  first, times in epoch seconds (as ``gridauth admin sessions list --json`` prints them).
- ``POST /api/admin/sessions/revoke`` with exactly one of ``grant``, ``user``, ``client``, ``vo``,
  ``idp``, ``issued_before`` (epoch seconds or ISO 8601): how many sessions were ended. The
  ``sessions_revoked`` audit line names the registry user as the author.
- ``POST /api/admin/users/{name}/suspend`` and ``/unsuspend``: the ``user.suspend`` and
  ``user.unsuspend`` operations (also available in a batch), one configuration version each, a VO
  administrator's only for a user wholly in their VO (``authz`` rule 3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .. import audit
from ..admin.authz import Administrator, session_scope
from ..admin.operations import Step
from ..db.sessions import Selector, SessionInfo, SessionStore
from ..errors import NotPermitted
from ..oauth.sessions import LIST_BY, REVOKE_BY, list_sessions, one_revocation, revoke_sessions, selector_from
from ..oauth.sessions import vo_of_grant as grant_vo
from .admin_api import AdminHandler


def scoped(admin: Administrator, store: SessionStore, selector: Selector, now: int, address: str | None) -> Selector:
    """*selector* as *admin* may use it (``authz.session_scope``); a refusal is audited and raised."""
    try:
        fields = session_scope(admin, selector.named(), lambda grant: grant_vo(store, grant, now))
    except NotPermitted as refusal:
        audit.record("admin_refused", "refused", user=admin.user, group=admin.group, address=address,
                     error="forbidden", reason=str(refusal))
        raise
    return Selector(**fields)


def listing(admin: Administrator, store: SessionStore, values: Mapping[str, Any], now: int,
            address: str | None) -> tuple[Selector, list[SessionInfo]]:
    """What the API and the console list for *values* (empty ones are no selector): the selector used, the rows.

    Blocking (database): run it on the database's workers.
    """
    selector = scoped(admin, store, selector_from({k: v for k, v in values.items() if v}, LIST_BY), now, address)
    return selector, list_sessions(store, selector, now)


def revocation(admin: Administrator, store: SessionStore, values: Mapping[str, Any], now: int,
               address: str | None) -> tuple[Selector, int]:
    """What the API and the console revoke for *values* (exactly one selector): the selector used, the count.

    Blocking (database): run it on the database's workers. The audit line names *admin* as the author.
    """
    given = {k: v for k, v in values.items() if v is not None}
    one_revocation(given)
    selector = scoped(admin, store, selector_from(given, REVOKE_BY), now, address)
    return selector, revoke_sessions(store, selector, now, admin.user)


class SessionsHandler(AdminHandler):
    """``GET /api/admin/sessions``: the live sessions matching every selector given in the query."""

    async def get(self) -> None:  # noqa: D102 - tornado verb
        admin, context, address = self.admin, self.context, self.request.remote_ip
        query = {name: self.get_query_argument(name) for name in self.request.query_arguments}

        def work() -> dict[str, Any]:
            selector, rows = listing(admin, context.sessions, query, context.clock.now(), address)
            return {"selector": selector.named(), "items": [dataclasses.asdict(row) for row in rows]}

        await self.answer(work, database=True)


class RevokeSessionsHandler(AdminHandler):
    """``POST /api/admin/sessions/revoke``: end the sessions of one selector; the count."""

    async def post(self) -> None:  # noqa: D102 - tornado verb
        admin, context, address = self.admin, self.context, self.request.remote_ip

        def work() -> dict[str, Any]:
            selector, count = revocation(admin, context.sessions, self.body(), context.clock.now(), address)
            return {"selector": selector.named(), "count": count}

        await self.answer(work, database=True)


class SuspendHandler(AdminHandler):
    """``POST /api/admin/users/{name}/suspend`` and ``/unsuspend``: the operation of the route, as one version."""

    def initialize(self, context: Any, route: str = "", kind: str = "", operation: str = "") -> None:  # noqa: D102
        super().initialize(context, route, kind)
        self.operation = operation

    async def post(self, name: str) -> None:  # noqa: D102 - tornado verb
        await self.write_steps(lambda body: [Step.of(self.operation, self.operation_values(body, name))])

"""The console's Sessions page, ``/admin/<group>/sessions/``: list by selector, revoke by grant or by selector.

The same rules and code as the admin API's (``web/admin_sessions.py``: ``listing`` and
``revocation``, a VO administrator narrowed to their VO's grants): the listing's selectors are a
GET form, each revocation a POST form with the CSRF token, run on the database's workers. After a
revocation the browser is sent back to the listing it came from with how many sessions ended.
"""

from __future__ import annotations

from urllib.parse import urlencode

from ...errors import EditError, NotPermitted
from ...oauth.sessions import LIST_BY, REVOKE_BY, shown_time
from ..admin_sessions import listing, revocation
from .base import ConsoleHandler

BY_LABELS = {"grant": "Grant id", "user": "User", "client": "Client (client_id)", "vo": "VO", "group": "Group",
             "idp": "Identity provider", "issued_before": "Issued before (ISO 8601, UTC)"}
MAX_VALUE = 255


class SessionsHandler(ConsoleHandler):
    """``/admin/<group>/sessions/``: the live sessions the group may see (GET), a revocation (POST)."""

    async def get(self, group: str) -> None:  # noqa: D102 - tornado verb
        query = {name: self.get_query_argument(name, "")[:MAX_VALUE] for name in LIST_BY}
        await self.render_list(query, [])

    async def render_list(self, query: dict[str, str], errors: list[str], status: int = 200) -> None:
        """List *query*'s sessions and show the page (with *errors* of a refused revocation or a bad selector)."""
        admin, context, address = self.admin, self.context, self.client_ip()
        try:
            selector, rows = await context.db.run(listing, admin, context.sessions, query, context.clock.now(),
                                                  address)
        except NotPermitted as refusal:
            return self.forbid(str(refusal))
        except EditError as error:
            selector, rows, errors, status = None, [], [*errors, str(error)], 400
        revoked = self.get_query_argument("revoked", "")
        named = selector.named() if selector else {}
        single = [(k, v) for k, v in named.items() if k in REVOKE_BY and not (k == "vo" and not admin.everything)]
        self.console("console_sessions.html", status=status, query=query, rows=rows, errors=errors,
                     labels=BY_LABELS, list_by=LIST_BY, revoke_by=REVOKE_BY, shown_time=shown_time,
                     back=self.request.uri, revoked=revoked if revoked.isdigit() else "",
                     selector=named, single=single[0] if len(single) == 1 else None)

    async def post(self, group: str) -> None:  # noqa: D102 - tornado verb
        by, value = self.get_body_argument("by", ""), self.get_body_argument("value", "").strip()[:MAX_VALUE]
        back = self.get_body_argument("back", "")
        back = back if back.startswith(self.base + "sessions/") and len(back) < 2048 else self.base + "sessions/"
        admin, context, address = self.admin, self.context, self.client_ip()
        try:
            if by not in REVOKE_BY:
                raise EditError(f"choose what to revoke by ({', '.join(REVOKE_BY)})")
            _, count = await context.db.run(revocation, admin, context.sessions, {by: value or None},
                                            context.clock.now(), address)
        except NotPermitted as refusal:
            return self.forbid(str(refusal))
        except EditError as error:
            return await self.render_list({name: "" for name in LIST_BY}, [str(error)], 400)
        path, _, query = back.partition("?")
        kept = "&".join(p for p in query.split("&") if p and not p.startswith("revoked="))
        self.redirect(f"{path}?{kept + '&' if kept else ''}{urlencode({'revoked': count})}", status=303)

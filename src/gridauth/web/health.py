"""``/health``: liveness for operators and load balancers, with the configuration version in use.

``config.version`` is the text's fingerprint; ``config.history_version`` the id of that text in the
configuration's history (``gridauth config history``): the database's published version in the
database mode, the file's latest recorded version in the file mode (null when the file was not
recorded, e.g. edited by hand since).
"""

from __future__ import annotations

from .base import BaseHandler


class HealthHandler(BaseHandler):
    """Report that the process serves, and which configuration version it serves."""

    async def get(self) -> None:  # noqa: D102 - tornado verb (HEAD too: the same status, no body)
        registry = self.registry
        database = await self.context.db.answers()  # within 1.5 s, never queued behind requests
        self.write_json({
            "status": "ok" if database else "degraded",
            "database": "ok" if database else "unavailable",
            "config": {"version": registry.version, "history_version": registry.history_version,
                       "vos": len(registry.vos), "groups": len(registry.groups),
                       "users": len(registry.users), "clients": len(registry.clients)},
        }, 200 if database else 503)

    head = get

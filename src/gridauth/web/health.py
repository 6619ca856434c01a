"""``/health``: liveness for operators and load balancers, with the configuration version in use."""

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
            "config": {"version": registry.version, "vos": len(registry.vos), "groups": len(registry.groups),
                       "users": len(registry.users), "clients": len(registry.clients)},
        }, 200 if database else 503)

    head = get

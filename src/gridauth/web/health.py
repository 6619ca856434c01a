"""``/health``: liveness for operators and load balancers, with the configuration version in use."""

from __future__ import annotations

from .base import BaseHandler


class HealthHandler(BaseHandler):
    """Report that the process serves, and which configuration version it serves."""

    def get(self) -> None:  # noqa: D102 - tornado verb
        registry = self.registry
        self.write_json({
            "status": "ok",
            "config": {"version": registry.version, "vos": len(registry.vos), "groups": len(registry.groups),
                       "users": len(registry.users), "clients": len(registry.clients)},
        })

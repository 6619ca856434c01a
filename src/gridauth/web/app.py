"""The route table: one handler per endpoint, readable at a glance."""

from __future__ import annotations

from tornado.web import Application

from .context import ServiceContext
from .health import HealthHandler


def make_app(context: ServiceContext) -> Application:
    """The Tornado application serving *context*."""
    routes = [
        (r"/health", HealthHandler),
    ]
    return Application([(path, handler, {"context": context}) for path, handler in routes],
                       default_handler_class=None, compress_response=False)

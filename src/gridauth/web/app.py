"""The route table: one handler per endpoint, readable at a glance."""

from __future__ import annotations

from tornado.web import Application

from .base import NotFoundHandler
from .context import ServiceContext
from .discovery import JWKSHandler, MetadataHandler
from .health import HealthHandler
from .token import IntrospectionHandler, RevocationHandler, TokenHandler


def make_app(context: ServiceContext) -> Application:
    """The Tornado application serving *context*."""
    routes = [
        (r"/\.well-known/openid-configuration", MetadataHandler),
        (r"/\.well-known/oauth-authorization-server", MetadataHandler),
        (r"/jwks", JWKSHandler),
        (r"/token", TokenHandler),
        (r"/revoke", RevocationHandler),
        (r"/introspect", IntrospectionHandler),
        (r"/health", HealthHandler),
    ]
    return Application([(path, handler, {"context": context}) for path, handler in routes],
                       default_handler_class=NotFoundHandler, default_handler_args={"context": context},
                       compress_response=False)

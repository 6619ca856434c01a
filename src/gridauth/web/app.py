"""The route table: one handler per endpoint, readable at a glance; and what every finished request leaves behind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tornado.web import Application, RedirectHandler, RequestHandler

from .. import metrics
from ..service import ServiceContext
from . import access, lean
from .admin_openapi import ADMIN_ROUTES, pattern
from .authorize import AuthorizeHandler
from .console import ROUTES as CONSOLE_ROUTES
from .device import DeviceAuthorizationHandler, DeviceVerificationHandler
from .discovery import JWKSHandler, MetadataHandler
from .external_login import LoginCallbackHandler
from .health import HealthHandler
from .home import HomeHandler, NotFoundHandler
from .login import LoginHandler
from .logout import LogoutHandler
from .metrics import MetricsHandler
from .registration import RegistrationHandler
from .token import PROTOCOL_ENDPOINTS, PostOnlyHandler
from .userinfo import UserInfoHandler

TEMPLATES = Path(__file__).parent / "templates"


ROUTES: list[tuple[str, type[RequestHandler]]] = [
    ("/", HomeHandler),
    ("/.well-known/openid-configuration", MetadataHandler),
    ("/.well-known/oauth-authorization-server", MetadataHandler),
    ("/jwks", JWKSHandler),
    ("/token", PostOnlyHandler),  # the POSTs of these three are served by lean.py
    ("/revoke", PostOnlyHandler),
    ("/introspect", PostOnlyHandler),
    ("/authorize", AuthorizeHandler),
    ("/device_authorization", DeviceAuthorizationHandler),
    ("/register", RegistrationHandler),
    ("/device", DeviceVerificationHandler),
    ("/login", LoginHandler),
    ("/login/callback", LoginCallbackHandler),
    ("/logout", LogoutHandler),
    ("/userinfo", UserInfoHandler),
    ("/health", HealthHandler),
    ("/metrics", MetricsHandler),
]
ROUTE_PATHS = frozenset(path for path, _ in ROUTES)


def log_request(handler: RequestHandler) -> None:
    """Tornado's ``log_function``: the access line and metrics of a request served by a ``RequestHandler``."""
    request = handler.request
    route = getattr(handler, "route", "") or (request.path if request.path in ROUTE_PATHS else metrics.OTHER)
    access.record(request, handler.get_status(), route, getattr(handler, "refusal", ""))


def make_app(context: ServiceContext) -> lean.LeanRouter:
    """What serves *context*: the protocol endpoints' POSTs (``lean.py``), then the Tornado application.

    The database pool is watched for the metrics.
    """
    metrics.watch_pool(context.db.engine)
    routes: list[Any] = [(re.escape(path), handler, {"context": context}) for path, handler in ROUTES]
    routes += [(regex, handler, {"context": context}) for regex, handler in CONSOLE_ROUTES]
    routes.append(("/admin", RedirectHandler, {"url": "/admin/"}))
    routes += [(pattern(template), handler, {"context": context, "route": template, **kwargs})
               for template, handler, kwargs in ADMIN_ROUTES]
    application = Application(routes,
                              default_handler_class=NotFoundHandler, default_handler_args={"context": context},
                              template_path=str(TEMPLATES), xsrf_cookies=True, log_function=log_request,
                              xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax"},
                              compress_response=False)
    return lean.router(PROTOCOL_ENDPOINTS, context, application)

"""The route table: one handler per endpoint, readable at a glance; and what every finished request leaves behind."""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from tornado.web import Application, RedirectHandler, RequestHandler

from .. import metrics
from ..service import ServiceContext
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
from .token import IntrospectionHandler, RevocationHandler, TokenHandler
from .userinfo import UserInfoHandler

TEMPLATES = Path(__file__).parent / "templates"
access_log = logging.getLogger("tornado.access")


ROUTES: list[tuple[str, type[RequestHandler]]] = [
    ("/", HomeHandler),
    ("/.well-known/openid-configuration", MetadataHandler),
    ("/.well-known/oauth-authorization-server", MetadataHandler),
    ("/jwks", JWKSHandler),
    ("/token", TokenHandler),
    ("/revoke", RevocationHandler),
    ("/introspect", IntrospectionHandler),
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
CLIENT_ID_MAX = 128


def client_id_of(handler: RequestHandler) -> str | None:
    """The client a request says it comes from: HTTP Basic's user part, else a ``client_id`` parameter.

    Only the identifier: the password part of HTTP Basic is never decoded into anything kept.
    """
    request = handler.request
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(credentials, validate=True).split(b":", 1)[0].decode("utf-8")
            return unquote_plus(user)[:CLIENT_ID_MAX]
        except ValueError:  # not base64 or not UTF-8: nothing worth logging
            return None
    values = request.arguments.get("client_id")
    return values[0].decode("utf-8", "replace")[:CLIENT_ID_MAX] if values else None


def log_request(handler: RequestHandler) -> None:
    """The access log line and the request metrics; without the query string, it may hold an ID token or a code.

    The text line keeps its short form; the request's fields also travel as the record's attributes for
    the JSON format (``gridauth serve --log-format json``). A request Tornado refused before the handler
    ran (a form without its CSRF token, a body that cannot be parsed) has one line, this one, with the
    reason at its end (``reason`` in JSON). Metrics are labelled by route, never by the
    raw path, so that unknown paths cannot create series. When the access log is off at the request's
    level (``--log-level WARNING`` hides the 2xx lines), nothing of the line is built.
    """
    request = handler.request
    status = handler.get_status()
    seconds = request.request_time()
    route = getattr(handler, "route", "") or (request.path if request.path in ROUTE_PATHS else metrics.OTHER)
    metrics.record_request(route, status, seconds)
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if not access_log.isEnabledFor(level):  # an access log turned off costs no decoding and no formatting
        return
    refusal = getattr(handler, "refusal", "")
    fields = {"method": request.method, "path": request.path, "status": status,
              "duration_ms": round(1000.0 * seconds, 2), "client": request.remote_ip,
              "client_id": client_id_of(handler), "reason": refusal or None}
    access_log.log(level, "%d %s %s (%s) %.2fms" + (": %s" if refusal else ""), status, request.method,
                   request.path, request.remote_ip, 1000.0 * seconds, *((refusal,) if refusal else ()), extra=fields)


def make_app(context: ServiceContext) -> Application:
    """The Tornado application serving *context* (its database pool is watched for the metrics)."""
    metrics.watch_pool(context.db.engine)
    routes: list[Any] = [(re.escape(path), handler, {"context": context}) for path, handler in ROUTES]
    routes += [(regex, handler, {"context": context}) for regex, handler in CONSOLE_ROUTES]
    routes.append(("/admin", RedirectHandler, {"url": "/admin/"}))
    routes += [(pattern(template), handler, {"context": context, "route": template, **kwargs})
               for template, handler, kwargs in ADMIN_ROUTES]
    return Application(routes,
                       default_handler_class=NotFoundHandler, default_handler_args={"context": context},
                       template_path=str(TEMPLATES), xsrf_cookies=True, log_function=log_request,
                       xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax"},
                       compress_response=False)

"""The route table: one handler per endpoint, readable at a glance."""

from __future__ import annotations

import logging
from pathlib import Path

from tornado.web import Application, RequestHandler

from ..service import ServiceContext
from .authorize import AuthorizeHandler
from .device import DeviceAuthorizationHandler, DeviceVerificationHandler
from .discovery import JWKSHandler, MetadataHandler
from .external_login import LoginCallbackHandler
from .health import HealthHandler
from .home import HomeHandler, NotFoundHandler
from .login import LoginHandler
from .logout import LogoutHandler
from .token import IntrospectionHandler, RevocationHandler, TokenHandler
from .userinfo import UserInfoHandler

TEMPLATES = Path(__file__).parent / "templates"
access_log = logging.getLogger("tornado.access")


def log_request(handler: RequestHandler) -> None:
    """The access log line, without the query string: it may hold an ID token or a code."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    access_log.log(level, "%d %s %s (%s) %.2fms", status, handler.request.method, handler.request.path,
                   handler.request.remote_ip, 1000.0 * handler.request.request_time())


def make_app(context: ServiceContext) -> Application:
    """The Tornado application serving *context*."""
    routes = [
        (r"/", HomeHandler),
        (r"/\.well-known/openid-configuration", MetadataHandler),
        (r"/\.well-known/oauth-authorization-server", MetadataHandler),
        (r"/jwks", JWKSHandler),
        (r"/token", TokenHandler),
        (r"/revoke", RevocationHandler),
        (r"/introspect", IntrospectionHandler),
        (r"/authorize", AuthorizeHandler),
        (r"/device_authorization", DeviceAuthorizationHandler),
        (r"/device", DeviceVerificationHandler),
        (r"/login", LoginHandler),
        (r"/login/callback", LoginCallbackHandler),
        (r"/logout", LogoutHandler),
        (r"/userinfo", UserInfoHandler),
        (r"/health", HealthHandler),
    ]
    return Application([(path, handler, {"context": context}) for path, handler in routes],
                       default_handler_class=NotFoundHandler, default_handler_args={"context": context},
                       template_path=str(TEMPLATES), xsrf_cookies=True, log_function=log_request,
                       xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax"},
                       compress_response=False)

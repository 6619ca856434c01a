"""Base handler: JSON responses, errors as JSON (never a traceback), the snapshot taken once per request."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from tornado.log import app_log
from tornado.web import HTTPError, RequestHandler

from ..config.registry import Registry
from ..errors import DatabaseUnavailable, SchemaMismatch
from ..service import ServiceContext

log = logging.getLogger("gridauth.web")
# What a client is told when the database's schema is not the code's (the log says what to run).
SCHEMA_ERROR = {"error": "server_error", "error_description": "the service's database is not at its schema revision"}


class BaseHandler(RequestHandler):
    """Every gridauth handler: takes one registry snapshot per request and answers errors in JSON."""

    context: ServiceContext
    registry: Registry
    refusal: str = ""  # why Tornado refused the request (a bad form, a missing CSRF token), for the access line
    route: str = ""  # a route with parameters: its template, the label of the request's metrics

    def initialize(self, context: ServiceContext, route: str = "") -> None:
        """Take the registry snapshot once, when the request arrives.

        Here rather than in ``prepare``: Tornado checks the CSRF token before ``prepare``, and the
        error page of a refused form needs the snapshot too.
        """
        self.context = context
        self.route = route
        self.registry = context.registry

    def set_default_headers(self) -> None:  # noqa: D102 - tornado hook
        self.set_header("X-Content-Type-Options", "nosniff")

    def write_json(self, body: Any, status: int = 200) -> None:
        """Send *body* as JSON with *status*."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body))

    def check_xsrf_cookie(self) -> None:
        """APIs authenticate clients, not cookies: only the pages (PageHandler) check the CSRF token."""

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Tornado's log lines without the query string (it may hold an ID token or a code); an outage is no crash."""
        summary = f"{self.request.method} {self.request.path} ({self.request.remote_ip})"
        if isinstance(value, DatabaseUnavailable):
            log.warning("%s %s: %s", self.request.method, self.request.path, value)
        elif isinstance(value, SchemaMismatch):  # one line that says what to run, not a traceback
            log.error("%s %s: %s", self.request.method, self.request.path, value)
        elif isinstance(value, HTTPError):  # a refused request: its reason goes on its access line
            if value.log_message:
                self.refusal = _refusal(value)
        else:
            app_log.error("Uncaught exception %s", summary, exc_info=(typ, value, tb))

    @staticmethod
    def outage(kwargs: dict[str, Any]) -> bool:
        """Whether the error being written comes from a database outage."""
        return _raised(kwargs, DatabaseUnavailable)

    @staticmethod
    def schema_error(kwargs: dict[str, Any]) -> bool:
        """Whether the error being written comes from a database whose schema is not the code's."""
        return _raised(kwargs, SchemaMismatch)

    def write_error(self, status_code: int, **kwargs: Any) -> None:  # noqa: D102 - tornado hook
        if self.outage(kwargs):
            self.set_status(503)
            self.set_header("Retry-After", "5")
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps({"error": "temporarily_unavailable",
                                    "error_description": "the database is unavailable; try again shortly"}))
            return
        error = "server_error" if status_code >= 500 else "invalid_request"
        description = "internal error" if status_code >= 500 else self._reason
        body = SCHEMA_ERROR if self.schema_error(kwargs) else {"error": error, "error_description": description}
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))


def _refusal(error: HTTPError) -> str:
    """Tornado's reason for refusing a request, on one line of at most 200 characters."""
    text = str(error.log_message)
    with contextlib.suppress(TypeError, ValueError):
        text = text % error.args if error.args else text
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\n", " ")[:200]


def _raised(kwargs: dict[str, Any], kind: type[Exception]) -> bool:
    exc_info = kwargs.get("exc_info")
    return isinstance(exc_info, tuple) and isinstance(exc_info[1], kind)


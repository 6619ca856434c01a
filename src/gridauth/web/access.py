"""What every finished request leaves behind: its access line and its request metrics.

Shared by the pages and APIs served through Tornado's ``RequestHandler`` (``app.log_request``) and by
the protocol endpoints served without it (``lean.py``), so that both write the same line.
"""

from __future__ import annotations

import base64
import logging
from urllib.parse import unquote_plus

from tornado.httputil import HTTPServerRequest

from .. import metrics

access_log = logging.getLogger("tornado.access")
CLIENT_ID_MAX = 128


def client_id_of(request: HTTPServerRequest) -> str | None:
    """The client a request says it comes from: HTTP Basic's user part, else a ``client_id`` parameter.

    Only the identifier: the password part of HTTP Basic is never decoded into anything kept.
    """
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(credentials, validate=True).split(b":", 1)[0].decode("utf-8")
            return unquote_plus(user)[:CLIENT_ID_MAX]
        except ValueError:  # not base64 or not UTF-8: nothing worth logging
            return None
    values = request.arguments.get("client_id")
    return values[0].decode("utf-8", "replace")[:CLIENT_ID_MAX] if values else None


def record(request: HTTPServerRequest, status: int, route: str, refusal: str = "") -> None:
    """The access log line and the request metrics; without the query string, it may hold an ID token or a code.

    The text line keeps its short form; the request's fields also travel as the record's attributes for
    the JSON format (``gridauth serve --log-format json``). *refusal* is why Tornado refused the request
    before a handler ran (a form without its CSRF token, a body that cannot be parsed): it ends the line
    (``reason`` in JSON). Metrics are labelled by *route*, never by the raw path, so that unknown paths
    cannot create series. When the access log is off at the request's level (``--log-level WARNING``
    hides the 2xx lines), nothing of the line is built.
    """
    seconds = request.request_time()
    metrics.record_request(route, status, seconds)
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if not access_log.isEnabledFor(level):  # an access log turned off costs no decoding and no formatting
        return
    fields = {"method": request.method, "path": request.path, "status": status,
              "duration_ms": round(1000.0 * seconds, 2), "client": request.remote_ip,
              "client_id": client_id_of(request), "reason": refusal or None}
    access_log.log(level, "%d %s %s (%s) %.2fms" + (": %s" if refusal else ""), status, request.method,
                   request.path, request.remote_ip, 1000.0 * seconds, *((refusal,) if refusal else ()), extra=fields)

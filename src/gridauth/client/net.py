"""HTTP for the client with the standard library: form POSTs and JSON answers, always with a timeout.

Network failures become the client's one-line errors: :class:`ServerUnreachable` (refused, unknown
host, no answer within the timeout) and :class:`TLSFailure` (certificate or handshake). The CA
certificates are the system's (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are honoured by OpenSSL), plus
the grid's ``X509_CERT_DIR`` when it is set.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from .. import __version__
from .errors import ServerUnreachable, TLSFailure

DEFAULT_TIMEOUT = 30.0
USER_AGENT = f"gridauth-client/{__version__}"
MAX_BODY = 1 << 20


def timeout() -> float:
    """Seconds to wait for a server: ``$GRIDAUTH_TIMEOUT``, else 30."""
    try:
        value = float(os.environ.get("GRIDAUTH_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def ssl_context() -> ssl.SSLContext:
    """The system's trust store, plus the CA directory of the grid (``$X509_CERT_DIR``) when set."""
    context = ssl.create_default_context()
    capath = os.environ.get("X509_CERT_DIR")
    if capath and os.path.isdir(capath):
        context.load_verify_locations(capath=capath)
    return context


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Protocol endpoints never redirect; a redirect is reported, not followed (no token sent elsewhere)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102 - urllib hook
        return None


@dataclass
class Answer:
    """An HTTP answer: status, the decoded JSON body (None when it is not JSON) and the raw text."""

    status: int
    body: dict[str, Any] | None
    text: str
    content_type: str
    location: str = ""
    dpop_nonce: str = ""  # the ``DPoP-Nonce`` header: a nonce the server wants in the next proof


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.gaierror):
        return "unknown host name"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"no answer within {timeout():g} s"
    text = getattr(reason, "strerror", None) or str(reason)
    return text or type(reason).__name__


def _tls_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({exc.verify_message or exc.reason})"
    return f"TLS handshake failed ({exc.reason or exc})"


def request(url: str, data: dict[str, str] | None = None, method: str | None = None,
            headers: dict[str, str] | None = None, json_body: Any = None, max_body: int = MAX_BODY) -> Answer:
    """One request to *url* (a form POST when *data* is given, a JSON body when *json_body* is, extra *headers*).

    Raises the client's network errors; an answer longer than *max_body* bytes is cut there.
    """
    sent = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    body = None
    if data is not None:
        body = urllib.parse.urlencode(data).encode("ascii")
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        body = json.dumps(json_body).encode("utf-8")
        sent["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, headers=sent, method=method)
    handlers: list[Any] = [_NoRedirect()]
    if url.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=ssl_context()))
    opener = urllib.request.build_opener(*handlers)
    host = urllib.parse.urlsplit(url).netloc
    try:
        try:
            with opener.open(req, timeout=timeout()) as resp:
                status, raw, received = resp.status, resp.read(max_body), resp.headers
        except urllib.error.HTTPError as err:
            status, raw, received = err.code, err.read(max_body), err.headers
    except ssl.SSLError as exc:
        raise TLSFailure(f"{host}: {_tls_reason(exc)}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLError):
            raise TLSFailure(f"{host}: {_tls_reason(exc.reason)}") from None
        raise ServerUnreachable(f"cannot reach {host}: {_reason(exc)}") from None
    except TimeoutError as exc:
        raise ServerUnreachable(f"cannot reach {host}: {_reason(exc)}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # reset, bad status line, malformed URL...
        raise ServerUnreachable(f"cannot reach {host}: {_reason(exc)}") from None
    text = raw.decode("utf-8", errors="replace")
    parsed: dict[str, Any] | None = None
    try:
        value = json.loads(text) if text else None
        parsed = value if isinstance(value, dict) else None
    except ValueError:
        parsed = None
    get = received.get if received is not None else (lambda name, default="": default)
    return Answer(status, parsed, text, get("Content-Type", ""), get("Location", ""), get("DPoP-Nonce", ""))

"""HTTP to an external identity provider, and the one error every failure of a login through it becomes.

Rules:

- Every request has a connect and a request timeout; redirects are followed only where the caller says so
  (discovery and JWKS), at most three.
- A socket error, a TLS failure or a timeout is "cannot reach the <what> of <provider>", whatever the cause.
- A body that is not a JSON object is a failure, not an empty answer.
- Messages are one printable line, so that they can be shown on a page and logged; callers never put a code,
  token, verifier or secret in them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse

TIMEOUT = 10.0


class IdentityError(Exception):
    """A login through an external identity provider failed; the message is one line, safe to show."""


def one_line(text: object, limit: int = 200) -> str:
    """*text* as one printable line of at most *limit* characters (for text that came from the provider)."""
    line = re.sub(r"\s+", " ", "".join(c if c.isprintable() else " " for c in str(text))).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


class ProviderHTTP:
    """Requests to one provider (named *name* in every message), with *timeout* seconds per request."""

    def __init__(self, name: str, http: AsyncHTTPClient | None = None, timeout: float = TIMEOUT) -> None:
        self.name = name
        self.timeout = timeout
        self._http = http

    async def fetch(self, what: str, url: str, follow_redirects: bool = False, **kwargs: Any) -> HTTPResponse:
        """The answer of *url* (any status); raises :class:`IdentityError` when the provider cannot be reached."""
        http = self._http or AsyncHTTPClient()
        request = HTTPRequest(url, connect_timeout=self.timeout, request_timeout=self.timeout,
                              follow_redirects=follow_redirects, max_redirects=3, **kwargs)
        try:
            response = await http.fetch(request, raise_error=False)
        except Exception as exc:  # socket errors, TLS failures, timeouts: all mean "unreachable"
            raise IdentityError(f"cannot reach the {what} of {self.name}: {one_line(exc)}") from None
        if response.code == 599:
            raise IdentityError(f"cannot reach the {what} of {self.name}: {one_line(response.error)}")
        return response

    def json(self, what: str, response: HTTPResponse) -> dict[str, Any]:
        """The JSON object of *response*; raises :class:`IdentityError` for anything else."""
        try:
            body = json.loads(response.body or b"")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise IdentityError(f"the {what} of {self.name} did not answer with a JSON object "
                                f"(HTTP {response.code})")
        return body

"""Client authentication that does not tell an unknown client from a wrong secret.

authlib's own ``client_secret_basic`` and ``client_secret_post`` raise "The client does not exist on
this server." for an unknown ``client_id`` and say something else for a wrong secret, which lets
anyone list the registered clients. Here every method answers None (not this method) on any
failure, and :func:`uniform` turns what authlib raises when no method succeeded into one
``invalid_client`` with one description: the same status, body and ``WWW-Authenticate`` for an
unknown client, a wrong secret, or no credentials at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.util import extract_basic_authorization

CLIENT_AUTH_FAILED = "client authentication failed"
QueryClient = Callable[[str], Any]


def basic_credentials(request: OAuth2Request) -> tuple[str | None, str | None]:
    """The client id and secret of an HTTP Basic header; (None, None) without one or for bytes that are not UTF-8."""
    try:
        return extract_basic_authorization(request.headers)
    except ValueError:  # UnicodeDecodeError: not a client gridauth knows
        return None, None


def _checked(query_client: QueryClient, client_id: str | None, secret: str | None) -> Any:
    if not client_id or not secret:
        return None
    client = query_client(client_id)
    return client if client is not None and client.check_client_secret(secret) else None


def authenticate_secret_basic(query_client: QueryClient, request: OAuth2Request) -> Any:
    """``client_secret_basic``: the client, or None whatever went wrong."""
    return _checked(query_client, *basic_credentials(request))


def authenticate_secret_post(query_client: QueryClient, request: OAuth2Request) -> Any:
    """``client_secret_post``: the client, or None whatever went wrong."""
    return _checked(query_client, request.form.get("client_id"), request.form.get("client_secret"))


def uniform(error: InvalidClientError) -> InvalidClientError:
    """The answer to every failed client authentication: *error*'s status (401 where Basic is allowed), one text."""
    return InvalidClientError(status_code=error.status_code, description=CLIENT_AUTH_FAILED)

"""What can go wrong for the command-line client: one clear line each, and a distinct exit status.

Every error is a :class:`~gridauth.errors.GridauthError`, so ``gridauth``'s entry point prints it
as ``gridauth: error: <text>`` and exits with the class's status; no traceback reaches the user.
The statuses are documented in docs/user-guide.md ("Exit statuses").
"""

from __future__ import annotations

from ..errors import GridauthError

RELOGIN = "run 'gridauth login'"


class ClientError(GridauthError):
    """Base of the client's errors (exit status 1: anything not listed below)."""

    exit_code = 1


class NotLoggedIn(ClientError):
    """No session stored, or no issuer known yet."""

    exit_code = 10


class ServerUnreachable(ClientError):
    """The server could not be reached, or did not answer in time."""

    exit_code = 11


class TLSFailure(ClientError):
    """The TLS handshake failed (certificate not trusted, wrong host name, protocol error)."""

    exit_code = 12


class WrongIssuer(ClientError):
    """No discovery document at the issuer, or one that names another issuer."""

    exit_code = 13


class SessionExpired(ClientError):
    """The refresh token is past its lifetime: a new login is needed."""

    exit_code = 14


class SessionRevoked(ClientError):
    """The refresh token was revoked (or the server does not know it any more): a new login is needed."""

    exit_code = 15


class AccessDenied(ClientError):
    """The person denied the request in the browser."""

    exit_code = 16


class LoginTimeout(ClientError):
    """The login was not completed in time (the device code expired, or no browser came back)."""

    exit_code = 17


class ServerRefused(ClientError):
    """The server answered, but refused the request or failed (invalid_client, invalid_scope, 5xx, ...)."""

    exit_code = 18


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "any other error (e.g. a file that cannot be written)",
    2: "wrong command-line usage",
    NotLoggedIn.exit_code: "not logged in, or no issuer known",
    ServerUnreachable.exit_code: "server unreachable, or it did not answer in time",
    TLSFailure.exit_code: "TLS failure (certificate not trusted, wrong host name)",
    WrongIssuer.exit_code: "wrong issuer (no discovery document, or it names another issuer)",
    SessionExpired.exit_code: "the refresh token expired",
    SessionRevoked.exit_code: "the refresh token was revoked",
    AccessDenied.exit_code: "the request was denied in the browser",
    LoginTimeout.exit_code: "the login was not completed in time",
    ServerRefused.exit_code: "the server refused the request or failed",
    130: "interrupted (Ctrl-C)",
}

"""What a protocol parameter may hold, checked once at the edge, before authlib or the database sees it.

- **Characters.** The parameters the service reads as words or URIs are held to their grammar:
  a ``scope`` is tokens of NQCHAR (printable ASCII but ``"`` and ``\\``) separated by spaces
  (RFC 6749 §3.3), and so are ``prompt``, ``response_mode`` and ``code_challenge_method``;
  ``response_type`` is words of letters, digits and ``_`` (Appendix A); a ``grant_type`` and the URIs
  (``redirect_uri``, ``resource``, ...) are printable ASCII without spaces or the characters RFC 3986
  leaves out. A value outside its grammar is ``invalid_request``. Opaque values (tokens, codes,
  secrets, ``state``, ``client_id``) are only compared: one that cannot match is refused the way any
  wrong value is (an unknown token is inactive, RFC 7662 §2.2).
- **Lengths.** Every value has at most :data:`MAX_VALUE` characters; a value the state database
  keeps has at most what its column holds on every backend (:data:`MAX_LENGTH`: the ``nonce``,
  255), so SQLite and MariaDB refuse the same requests at the same point.
- **Descriptions.** RFC 6749 §5.2 allows only %x20-21 / %x23-5B / %x5D-7E in an
  ``error_description`` (authlib raises ``ValueError`` for anything else): client text is put in a
  description only through :func:`shown`.
- Parameters the service does not know are ignored (RFC 6749 §3.1), whatever they hold.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping

from authlib.oauth2.rfc6749.errors import InvalidRequestError

MAX_VALUE = 8 * 1024
_NQCHAR_WORDS = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")  # words and the spaces between them
_WORDS = re.compile(r"[A-Za-z0-9_ ]+")
_URI = re.compile(r"[\x21\x23-\x3b\x3d\x3f-\x5b\x5d\x5f\x61-\x7a\x7e]+")  # no space, " < > \ ^ ` { | }
_DESCRIPTION_CHAR = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")

SYNTAX: Mapping[str, re.Pattern[str]] = {
    **dict.fromkeys(("scope", "prompt", "response_mode", "code_challenge_method"), _NQCHAR_WORDS),
    "response_type": _WORDS,
    **dict.fromkeys(("grant_type", "redirect_uri", "post_logout_redirect_uri", "resource", "audience", "request_uri",
                     "subject_token_type", "actor_token_type", "requested_token_type"), _URI),
}
# May be sent several times (RFC 8707 §2): the values are kept joined by single spaces, each checked alone.
REPEATABLE = ("resource", "audience")
# What the state database keeps of a parameter: its column's size, the same limit on every backend.
MAX_LENGTH: Mapping[str, int] = {"nonce": 255}


def shown(text: str, limit: int = 64, quote: bool = True) -> str:
    """*text* for an ``error_description`` (in single quotes): characters RFC 6749 §5.2 forbids become ``?``."""
    cut = _DESCRIPTION_CHAR.sub("?", text if len(text) <= limit else text[:limit] + "...")
    return f"'{cut}'" if quote else cut


# Checked at /authorize before the client is known: authlib quotes them in its own descriptions.
EARLY = ("redirect_uri", "response_type")


def check_parameter(name: str, value: str) -> None:
    """Refuse a *value* of a known parameter *name* outside its grammar or its stored length (``invalid_request``)."""
    if len(value) > MAX_LENGTH.get(name, MAX_VALUE):
        raise InvalidRequestError(f"parameter {shown(name)} is too long")
    syntax = SYNTAX.get(name)
    pieces = value.split(" ") if name in REPEATABLE else [value]
    if syntax is not None and any(piece and not syntax.fullmatch(piece) for piece in pieces):
        raise InvalidRequestError(f"parameter {shown(name)} holds characters it may not hold")


def check_parameters(values: Mapping[str, str], names: tuple[str, ...] | None = None) -> None:
    """:func:`check_parameter` for each of *names* present in *values* (None: every parameter)."""
    for name in values if names is None else names:
        if name in values:
            check_parameter(name, values[name])


def unique_parameters(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The parameters of one request; a parameter sent twice (but :data:`REPEATABLE`), too long or holding
    a NUL is ``invalid_request``."""
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values and name in REPEATABLE:
            values[name] += " " + value
            continue
        if name in values:
            raise InvalidRequestError(f"parameter {shown(name)} is repeated")
        if len(value) > MAX_VALUE:
            raise InvalidRequestError(f"parameter {shown(name)} is too long")
        if "\x00" in name or "\x00" in value:
            raise InvalidRequestError(f"parameter {shown(name)} holds a NUL character")
        values[name] = value
    return values


def check_basic_credentials(authorization: str) -> None:
    """Refuse an ``Authorization: Basic`` header that is not base64 of UTF-8 text (RFC 7617 §2.1, RFC 6749 §2.3.1).

    authlib decodes it as UTF-8 without catching the error; what cannot be decoded names no client.
    """
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return
    try:
        base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError
        raise InvalidRequestError("the Authorization header is not HTTP Basic credentials in UTF-8") from None

"""The OAuth 2 exchanges of the client: token endpoint, refresh, revocation, and reading a JWT's claims."""

from __future__ import annotations

import base64
import json
from typing import Any

from . import net
from .dpop import ProofKey
from .errors import RELOGIN, ClientError, ServerRefused, SessionExpired, SessionRevoked


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT access token, unverified (the client only reads what the server gave it)."""
    try:
        part = token.split(".")[1]
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        raise ClientError("the access token is not a JWT; run 'gridauth login' again") from None
    if not isinstance(value, dict):
        raise ClientError("the access token is not a JWT; run 'gridauth login' again")
    return value


def describe(answer: net.Answer) -> str:
    """``error: description`` of an OAuth error answer (or the HTTP status)."""
    body = answer.body or {}
    error = body.get("error")
    if not error:
        return f"HTTP {answer.status}"
    description = body.get("error_description")
    return f"{error}: {description}" if description else str(error)


def refused(what: str, answer: net.Answer) -> ServerRefused:
    """The error for a request the server refused or failed."""
    return ServerRefused(f"{what} refused by the server ({describe(answer)})")


def post_form(endpoint: str, data: dict[str, str], key: ProofKey | None = None) -> net.Answer:
    """POST a form to a protocol endpoint, with a DPoP proof by *key* if given; no JSON body is a failure.

    A server that wants a nonce in the proof answers ``use_dpop_nonce`` with one (RFC 9449 §8):
    the request is sent once more with it.
    """
    answer = net.request(endpoint, data, headers={"DPoP": key.proof("POST", endpoint)} if key else None)
    if key and answer.status in (400, 401) and (answer.body or {}).get("error") == "use_dpop_nonce" \
            and answer.dpop_nonce:
        answer = net.request(endpoint, data, headers={"DPoP": key.proof("POST", endpoint, answer.dpop_nonce)})
    if answer.body is None:
        raise ServerRefused(f"{endpoint} answered HTTP {answer.status} without a JSON body")
    return answer


def token_request(endpoint: str, data: dict[str, str], key: ProofKey | None = None) -> net.Answer:
    """POST to the token endpoint (with a proof by *key*); an answer that is neither tokens nor an OAuth error fails."""
    answer = post_form(endpoint, data, key)
    if answer.status == 200 and "access_token" not in (answer.body or {}):
        raise ServerRefused(f"{endpoint} answered without an access token")
    return answer


def refresh(endpoint: str, client_id: str, refresh_token: str, key: ProofKey | None = None) -> dict[str, Any]:
    """A refresh (RFC 6749 §6) by a public client, proven by *key*; an expired or revoked session has its own error."""
    answer = token_request(endpoint, {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                      "client_id": client_id}, key)
    if answer.status == 200:
        assert answer.body is not None
        return answer.body
    body = answer.body or {}
    if body.get("error") == "invalid_grant":
        description = str(body.get("error_description") or "")
        if "expire" in description:
            raise SessionExpired(f"your login session expired; {RELOGIN}")
        if "revoked" in description:
            raise SessionRevoked(f"your login session was revoked at the server; {RELOGIN}")
        raise SessionRevoked(f"the server no longer accepts your login session ({description or 'invalid_grant'}); "
                             f"{RELOGIN}")
    raise refused("refresh", answer)


def revoke(endpoint: str, client_id: str, token: str, hint: str = "refresh_token", key: ProofKey | None = None) -> None:
    """Revoke *token* (RFC 7009), with a proof by *key*; an unknown token counts as revoked, as the RFC says."""
    headers = {"DPoP": key.proof("POST", endpoint)} if key else None
    answer = net.request(endpoint, {"token": token, "token_type_hint": hint, "client_id": client_id}, headers=headers)
    if answer.status != 200:
        raise refused("revocation", answer)

"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): when a session ends, and where the browser goes.

- An ``id_token_hint`` is *valid* when it is an ID token of this issuer (our signature, ``typ: JWT``;
  its expiry is not checked, §2 allows an expired one) whose ``sub`` is the person signed in in this
  browser (or there is nobody signed in): only then does the session end without a question.
- A valid hint whose ``aud`` does not name the ``client_id`` given is refused (§2: "the OP MUST
  verify that the Client Identifier matches"): nothing ends, nobody is redirected.
- Anything else (no hint, a hint that does not verify, another person's ID token) asks the person,
  with a form that carries the CSRF token: a link or an image on another site cannot end a
  session (no CSRF logout).
- Afterwards the browser goes to ``post_logout_redirect_uri`` only when it is registered for the
  client (named by ``client_id``, else by the hint's ``aud``), with ``state`` appended.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from ..config.registry import Registry
from .keys import KeyRing


@dataclass(frozen=True)
class Logout:
    """What a logout request asks for: *refused* (a reason) or *at_once*; the client it names."""

    client_id: str
    at_once: bool = False
    refused: str = ""


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def examine(keyring: KeyRing, client_id: str, hint: str, signed_in: str | None) -> Logout:
    """Decide a logout request from its ``client_id`` and ``id_token_hint`` and who is signed in (see above)."""
    claims = keyring.verify(hint, typ="JWT") if hint else None
    if claims is None:
        return Logout(client_id)
    audiences = _audiences(claims)
    if client_id and client_id not in audiences:
        return Logout(client_id, refused="the id_token_hint was not issued to this client_id")
    named = client_id or (audiences[0] if audiences else "")
    return Logout(named, at_once=signed_in is None or claims.get("sub") == signed_in)


def redirect_target(registry: Registry, client_id: str, uri: str, state: str) -> str | None:
    """Where the browser goes afterwards: *uri* when registered for *client_id*, with *state*; else None."""
    client = registry.client(client_id) if client_id else None
    if not uri or client is None or uri not in client.post_logout_redirect_uris:
        return None
    return uri + ("&" if "?" in uri else "?") + urlencode({"state": state}) if state else uri

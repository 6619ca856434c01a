"""The admin API as the command line calls it: JSON requests with the access token of the CLI's own login session.

- The server is ``--server URL``, else ``$GRIDAUTH_ADMIN_SERVER``, else the one remembered by
  ``gridauth admin server URL`` (:func:`chosen_server`).
- The token is the login session's (``gridauth login``), refreshed first when it expires within a
  minute, exactly as ``gridauth token`` does. It is sent only to the issuer it came from: a server
  that is not the session's issuer is refused before anything is sent.
- A DPoP-bound access token (``cnf.jkt``) goes with the ``DPoP`` scheme and a fresh proof by the
  session's key (with ``ath``); an unbound one as ``Bearer``.
- The answer is handed back as it came (status and JSON): the command line turns an error answer
  into the same error a local command raises (``errors.API_ERRORS``).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from . import net, oauth
from .commands import valid_access_token
from .discovery import normalize
from .errors import NotLoggedIn, ServerRefused
from .store import SessionStore, load_settings

PREFIX = "/api/admin"
MAX_ANSWER = 64 << 20  # a whole configuration (a registry of 10,000 users is about 2 MB)


def chosen_server(option: str | None) -> str | None:
    """``--server``, else ``$GRIDAUTH_ADMIN_SERVER``, else the remembered admin server; None: local mode."""
    value = option or os.environ.get("GRIDAUTH_ADMIN_SERVER") or load_settings().get("admin_server")
    return normalize(str(value)) if value else None


class AdminClient:
    """Requests to one server's admin API with the login session's token."""

    def __init__(self, server: str) -> None:
        self.server = normalize(server)
        self.store = SessionStore()

    def _token(self) -> tuple[str, Any]:
        with self.store.locked():
            session, access = valid_access_token(self.store)
        if normalize(session.issuer) != self.server:
            raise NotLoggedIn(f"your login session is for {session.issuer}, not {self.server}; run "
                              f"'gridauth login --issuer {self.server}' with an administrator's group")
        return access, self.store.load_key()

    def call(self, method: str, path: str, body: Any = None, query: dict[str, str | None] | None = None) -> net.Answer:
        """One request; the answer with its JSON (a non-JSON answer is :class:`ServerRefused`)."""
        access, key = self._token()
        url = self.server + PREFIX + path
        shown = {k: v for k, v in (query or {}).items() if v is not None}
        full = url + ("?" + urllib.parse.urlencode(shown) if shown else "")
        cnf = oauth.claims(access).get("cnf")
        if isinstance(cnf, dict) and cnf.get("jkt") and key is not None:
            headers = {"Authorization": f"DPoP {access}", "DPoP": key.proof(method, url, access_token=access)}
        else:
            headers = {"Authorization": f"Bearer {access}"}
        answer = net.request(full, method=method, headers=headers, json_body=body, max_body=MAX_ANSWER)
        if answer.body is None:
            raise ServerRefused(f"{self.server}{PREFIX}{path} answered HTTP {answer.status} without a JSON body "
                                "(is it a gridauth server with the admin API?)")
        return answer

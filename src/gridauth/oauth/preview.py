"""The dry run: which token user U acting in group G would get for scope S, without issuing one.

Administrators ask it before a policy change takes users by surprise ("does dteam_user get
storage.create:/dteam/user/alice?"). It applies the very rules of a token request, with the
registry given, and nothing else: the group chosen as a login chooses it (``scopes.resolve``), the
client's scope list (when a client is named), the capability policies, the WLCG profile and the
lifetime (``scopes.decide``), and the claims the issuer would sign (``issuer.token_claims``). No
database, no key, no audit line: nothing is issued, so the ``jti`` is a placeholder.

It is a function of the registry snapshot, below the command line, so that the administration API
can offer it too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from authlib.oauth2.base import OAuth2Error

from ..config.model import Client
from ..config.registry import Registry
from ..errors import PreviewRefused
from .issuer import token_claims
from .models import GridUser
from .scopes import ScopeRequest, check_plain_allowed, decide, resolve

PLACEHOLDER_JTI = "(not issued)"
# No client named: no client scope list narrows the request, and the global lifetime applies.
ANY_CLIENT = Client(name="", client_id="")


def token_preview(registry: Registry, username: str, group: str | None, scope: str, client_id: str | None,
                  now: int) -> dict[str, Any]:
    """What a token request by *client_id* (None: any client) for *username* in *group* with *scope* would get.

    The answer: the granted scope, what was asked and left out, ``expires_in`` and the access
    token's claims. A request that would be refused raises :class:`PreviewRefused` with the OAuth
    error a client would be answered.
    """
    if registry.user(username) is None:
        raise PreviewRefused(f"unknown user {username!r}")
    client = registry.client(client_id) if client_id else ANY_CLIENT
    if client is None:
        raise PreviewRefused(f"unknown client {client_id!r}")
    try:
        asked = ScopeRequest.parse(scope)
        if group is not None and asked.group not in (None, group):
            raise PreviewRefused(f"--group {group} and the scope's group {asked.group} differ")
        membership = resolve(registry, username, dataclasses.replace(asked, group=group or asked.group))
        check_plain_allowed(client.scope, asked.ordinary)
        granted = decide(registry, client, asked, membership)
    except OAuth2Error as error:
        raise PreviewRefused(f"{error.error}: {error.description}") from None
    claims = token_claims(registry, client_id, GridUser(membership, auth_time=now), granted, now, PLACEHOLDER_JTI)
    return {"user": username, "group": membership.group, "client": client_id, "scope": granted.text,
            "refused": list(granted.refused), "expires_in": granted.lifetime, "claims": claims}

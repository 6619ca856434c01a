"""Refresh tokens that carry their grant's fixed fields, so that a refresh costs one statement.

A refresh token is ``<fields>.<secret>``: the fields of its grant that nothing changes once it is
stored (id, client, user, group, VO, scope, the login's time and provider, the grant's issue and
end, the DPoP key, and a token exchange's parent grant and actor) as base64url JSON, then 256
random bits. Only the SHA-256 of the whole token is stored, as for any refresh token.

Why: a refresh checks the grant against the request (client, DPoP key) and the registry (the user
still in the group) before it renews it. With only a random token, the grant had to be read first
(one statement) and renewed after (a second one); on a database server each is a round trip, and
the read was the larger part of what a refresh cost there. With the fields in the token, the
checks run first, and the renewal alone (its WHERE clause has the grant's id and the hash of the
token presented) finds the grant, checks it is live and moves it on.

Why it is safe: the client can change the fields, so they are trusted only once the renewal found
a live grant holding the hash of the very token presented, which a changed token does not have.
Until then nothing is done on their word: the checks on them have no effects, and any refusal on
them sends the request back to the stored grant, read by the token's hash, which decides (and
records a suspected theft) exactly as for a token without fields. Tokens issued before, and those
whose fields would make them longer than :data:`MAX_CARRYING_LENGTH`, are plain 256-bit secrets,
decided on the stored grant.
"""

from __future__ import annotations

import base64
import binascii
import json

from ..db.tokens import Grant, NewGrant
from ..hashing import b64url

VERSION = "g1"
# A token's fields are carried only while the whole token stays this short (a long scope or actor:
# a plain token instead); any refresh token up to MAX_REFRESH_TOKEN_LENGTH is looked up.
MAX_CARRYING_LENGTH = 2048
MAX_REFRESH_TOKEN_LENGTH = 4096
# The generation of a carried grant is not known before its renewal, which gives the new one.
UNKNOWN_GENERATION = -1
_TEXT, _NUMBER, _OPTIONAL = (str,), (int,), (str, type(None))
# The fields after the version, in Grant's order without revoked_at and generation (the stored state).
_SHAPE = (_TEXT,) * 6 + (_NUMBER,) * 3 + (_OPTIONAL,) * 4


def carrying_token(grant: NewGrant, secret: str) -> str:
    """The refresh token of *grant* (its id chosen): its fixed fields, then *secret*; *secret* alone if too long."""
    if grant.id is None:
        raise ValueError("a grant carried by its refresh token needs its id before it is stored")
    fields = [VERSION, grant.id, grant.client_id, grant.username, grant.group, grant.vo, grant.scope,
              grant.auth_time, grant.issued_at, grant.expires_at, grant.idp, grant.dpop_jkt, grant.parent_id,
              grant.actor]
    token = b64url(json.dumps(fields, separators=(",", ":")).encode()) + "." + secret
    return token if len(token) <= MAX_CARRYING_LENGTH else secret


def carried_grant(token: str) -> Grant | None:
    """The grant *token* says it holds, as the client sent it (not yet checked against the database); None when
    *token* carries no fields or fields of another shape."""
    head, dot, secret = token.partition(".")
    if not dot or not secret or "." in secret or len(token) > MAX_CARRYING_LENGTH:
        return None
    try:
        fields = json.loads(base64.b64decode(head + "=" * (-len(head) % 4), altchars=b"-_", validate=True))
    except (ValueError, binascii.Error, RecursionError):  # not base64, not UTF-8 JSON, or nested too deep
        return None
    if not (isinstance(fields, list) and len(fields) == len(_SHAPE) + 1 and fields[0] == VERSION):
        return None
    values = fields[1:]
    if not all(type(value) in kinds for value, kinds in zip(values, _SHAPE, strict=True)):
        return None
    (grant_id, client_id, username, group, vo, scope, auth_time, issued_at, expires_at, idp, dpop_jkt, parent_id,
     actor) = values
    return Grant(id=grant_id, client_id=client_id, username=username, group_name=group, vo=vo, scope=scope,
                 auth_time=auth_time, issued_at=issued_at, expires_at=expires_at, revoked_at=None, idp=idp,
                 generation=UNKNOWN_GENERATION, dpop_jkt=dpop_jkt, parent_id=parent_id, actor=actor)

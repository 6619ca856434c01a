"""Tables of the state database. Times are whole seconds since the epoch (portable across back ends).

These classes are what the code reads and writes; the tables themselves are made and changed by
the Alembic revisions in ``db/migrations/versions`` (one per change: edit a class here, add a
revision there, and ``tests/test_migrations.py`` checks that the two agree).

Every text column compares exactly: SQLite does byte for byte by itself, and on MySQL/MariaDB every
table has a binary collation (revision 0003); a new table must be created with it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A whole configuration file: MySQL's TEXT holds 64 KiB, a registry of 10,000 users is about 2 MB.
CONFIG_TEXT = Text().with_variant(mysql.LONGTEXT(), "mysql")


class Base(DeclarativeBase):
    """Declarative base of every gridauth table."""


class GrantRow(Base):
    """One authorization of a client for a user's group: it holds the refresh token (as a hash).

    A refresh token is valid from ``issued_at`` to ``expires_at`` and is never reissued. Access
    tokens are not stored: each one names its grant and the grant's ``generation`` when it was
    issued (in its ``jti``), and is active only while the grant is not revoked and still at that
    generation. A refresh bumps the generation (which ends the earlier access tokens); revoking the
    grant ends them all, and the grants exchanged from it (``parent_id``).
    """

    __tablename__ = "grants"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # NULL when the client may not refresh: the grant then only ties its access tokens together.
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    client_id: Mapped[str] = mapped_column(String(255), index=True)
    username: Mapped[str] = mapped_column(String(255), index=True)
    group_name: Mapped[str] = mapped_column(String(255))
    vo: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The identity provider the person logged in with ("local" for local accounts).
    idp: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Bumped by every refresh: only the access tokens of the current generation are active.
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The last time a token was issued from the grant (its creation, then every refresh), and the
    # client's address then (as the access log shows it): what an administrator reads in an incident.
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # When the row may be deleted: nothing issued from the grant is active after it (the later of
    # the refresh token's and the newest access token's expiry; the revocation time once revoked).
    purge_at: Mapped[int] = mapped_column(BigInteger, index=True)
    # The RFC 7638 thumbprint of the DPoP key the refresh token is bound to (RFC 9449 §5); NULL: not bound.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A grant made by a token exchange (RFC 8693) names the grant of its subject token: revoking that
    # grant revokes this one (and what was exchanged from it in turn). NULL: a login's grant.
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # The ``act`` claim (JSON) of the access tokens of an exchanged grant (delegation); NULL: none.
    actor: Mapped[str | None] = mapped_column(Text, nullable=True)


class DPoPProofRow(Base):
    """A DPoP proof already used (RFC 9449 §11.1): its key and ``jti``, hashed, kept until its ``iat`` window ends."""

    __tablename__ = "dpop_proofs"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class RevokedTokenRow(Base):
    """An access token revoked on its own (RFC 7009) before it expired: the deny list, purged at ``expires_at``."""

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class LegacyTokenRow(Base):
    """An access token issued before revision 0002 (its ``jti`` names no grant) that was active at the upgrade.

    It stays active while its grant (if any) is not revoked and has not been refreshed since the
    upgrade (generation 0), as it would have before; the rows go when the tokens expire.
    """

    __tablename__ = "legacy_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class SigningKeyRow(Base):
    """A signing key pair (a private JWK) shared by every process; the newest one signs."""

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_jwk: Mapped[str] = mapped_column(Text)
    # When the key starts signing: a rotated key is published first and signs a little later.
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)
    # Set when a newer key took over: the key stays published until every token it signed expired.
    publish_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class LocalAccountRow(Base):
    """A local account's password (salted, slow hash) for a registry user."""

    __tablename__ = "local_accounts"
    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[int] = mapped_column(BigInteger)


class AuthorizationCodeRow(Base):
    """An authorization code (stored as a hash), single use; kept after use to detect a replay."""

    __tablename__ = "authorization_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255))
    redirect_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    username: Mapped[str] = mapped_column(String(255))
    group_name: Mapped[str] = mapped_column(String(255))
    vo: Mapped[str] = mapped_column(String(255))
    properties: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255), nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    grant_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    idp: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Set by a second exchange of the code: the grant of the first one is revoked, or never created.
    replayed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # ``dpop_jkt`` of the authorization request (RFC 9449 §10): the exchange needs a proof by that key.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)


class DeviceFlowRow(Base):
    """A device authorization (RFC 8628): pending until the person approves or denies it."""

    __tablename__ = "device_flows"
    device_code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_code: Mapped[str] = mapped_column(String(16), unique=True)
    client_id: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending, approved, denied, consumed
    interval: Mapped[int] = mapped_column(Integer)
    last_polled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    group_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    vo: Mapped[str | None] = mapped_column(String(255), nullable=True)
    properties: Mapped[str | None] = mapped_column(Text, nullable=True)
    auth_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    idp: Mapped[str | None] = mapped_column(String(255), nullable=True)


class SessionRow(Base):
    """A single-sign-on session of a browser (the cookie holds the secret; only its hash is here)."""

    __tablename__ = "sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(255))
    idp: Mapped[str] = mapped_column(String(255))
    # JSON list of the groups an external provider's claims allow; NULL: the registry decides alone.
    groups: Mapped[str | None] = mapped_column(Text, nullable=True)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The browser's address at the sign-in (NULL for sessions from before revision 0005).
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LoginStateRow(Base):
    """A login in progress at an external identity provider (state, nonce, PKCE verifier)."""

    __tablename__ = "login_states"
    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    next_url: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class RateLimitRow(Base):
    """A counter of attempts (wrong user codes, failed logins) in a fixed time window."""

    __tablename__ = "rate_limits"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)


class ConfigVersionRow(Base):
    """One published version of the configuration (database mode): its whole CFG text and who wrote it, why.

    The history of every host: versions are numbered 1, 2, 3... by the editor holding the
    ``lease:config-edit`` lock, and never changed afterwards. A serving process polls the highest
    ``id`` (the primary key: one index lookup) and reads the text only when it changed.
    """

    __tablename__ = "config_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    author: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(CONFIG_TEXT)


class RegisteredClientRow(Base):
    """A client registered at ``/register`` (RFC 7591), with what it may do and who owns it.

    Its secret and its registration access token (RFC 7592) are kept as hashes only. It lives while it
    is used: each use (at most once per touch interval) moves ``expires_at`` to the idle time ahead,
    and the purge deletes it once that passes.
    """

    __tablename__ = "registered_clients"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # ``hashing.hash_client_secret`` of its secret; NULL for a public client.
    client_secret_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # SHA-256 digest (``hashing.token_digest``) of the registration access token.
    registration_token_hash: Mapped[str] = mapped_column(String(64))
    # The registry user who registered it (``authenticated`` policy); NULL when registration was open.
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    # JSON: the client metadata as registered (RFC 7591 §2), secrets never among them.
    metadata_json: Mapped[str] = mapped_column(Text)
    # JSON list of groups an administrator allowed (any member may use it); NULL: its owner's groups.
    groups: Mapped[str | None] = mapped_column(Text, nullable=True)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)

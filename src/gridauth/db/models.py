"""Tables of the state database. Times are whole seconds since the epoch (portable across back ends)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 1


class Base(DeclarativeBase):
    """Declarative base of every gridauth table."""


class Meta(Base):
    """One row per setting of the database itself (schema version)."""

    __tablename__ = "gridauth_meta"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class GrantRow(Base):
    """One authorization of a client for a user's group: it holds the refresh token (as a hash).

    A refresh token is valid from ``issued_at`` to ``expires_at`` and is never reissued; revoking
    the grant revokes every access token issued from it.
    """

    __tablename__ = "grants"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    client_id: Mapped[str] = mapped_column(String(255), index=True)
    username: Mapped[str] = mapped_column(String(255), index=True)
    group_name: Mapped[str] = mapped_column(String(255))
    vo: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AccessTokenRow(Base):
    """An issued access token (a JWT), tracked by its ``jti`` so it can be revoked and introspected."""

    __tablename__ = "access_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    client_id: Mapped[str] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_access_tokens_grant_revoked", "grant_id", "revoked_at"),)


class SigningKeyRow(Base):
    """A signing key pair (a private JWK) shared by every process; the newest one signs."""

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)
    # Set when a newer key took over: the key stays published until every token it signed expired.
    publish_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)

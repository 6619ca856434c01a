"""The composition of the service: registry, database, stores, key ring and authorization server, built once.

Both the web layer (every handler gets one :class:`ServiceContext` per process) and the command line
(``gridauth db``, ``gridauth keys``) assemble the service here, so a command that purges a database or
rotates a key builds no web objects. The periodic tasks of a running server live in ``web/tasks.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .clock import Clock
from .config.registry import Registry
from .config.reload import RegistryHolder
from .config.store import VersionStore
from .db import schema
from .db.accounts import AccountStore
from .db.engine import Database
from .db.flows import FlowStore
from .db.guessing import Guessing
from .db.keys import KeyStore
from .db.lease import Lease
from .db.proofs import ProofStore
from .db.registered import RegisteredClientStore
from .db.sessions import SessionStore
from .db.tokens import TokenStore
from .errors import GridauthError
from .hashing import PASSWORDS
from .oauth.keys import KeyRing, SigningKey
from .oauth.metadata import build_metadata
from .oauth.server import GridAuthorizationServer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("gridauth.service")
PURGE_INTERVAL = 600  # seconds between two runs of every process's purge timer
# A purge is due again this long after the last one ended: half an interval, so that one process
# alone still purges at each tick of its timer, even after a purge that took minutes.
PURGE_DUE_AFTER = PURGE_INTERVAL // 2


@dataclass
class ServiceContext:
    """Shared, long-lived state of one service process."""

    holder: RegistryHolder
    db: Database
    clock: Clock = field(default_factory=Clock)
    keyring: KeyRing = field(init=False)
    tokens: TokenStore = field(init=False)
    flows: FlowStore = field(init=False)
    proofs: ProofStore = field(init=False)
    registered: RegisteredClientStore = field(init=False)
    accounts: AccountStore = field(init=False)
    guessing: Guessing = field(init=False)
    server: GridAuthorizationServer = field(init=False)
    # Where administrators' edits go (the web console, the admin API): the one place that says which store the service
    # edits, so that a store of another kind (the configuration in the database) is plugged in here.
    config_store: VersionStore = field(init=False)
    _metadata: tuple[str, dict[str, Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.tokens = TokenStore(self.db)
        self.flows = FlowStore(self.db)
        self.accounts = AccountStore(self.db)
        self.guessing = Guessing(self.db, self.flows, self.accounts, PASSWORDS)
        self.keyring = KeyRing(KeyStore(self.db), self.clock)
        self.proofs = ProofStore(self.db)
        self.config_store = self.holder.source.store(10.0)  # its file, or the database's versions
        self.sessions = SessionStore(self.db)
        self.registered = RegisteredClientStore(self.db)
        self.server = GridAuthorizationServer(self.tokens, self.flows, self.proofs, self.keyring, self.clock,
                                              lambda: self.registry, self.registered)

    def prepare_storage(self) -> None:
        """Make the database ready to serve: at the code's schema revision, with a signing key.

        An empty database is initialised here, so that a first ``gridauth serve`` is one command. Any
        other database not at the code's revision is refused (:class:`SchemaMismatch`): changing
        the schema of a database that other hosts may be serving from is the operator's deliberate
        act (``gridauth db upgrade``), never a side effect of starting one more server.
        """
        if schema.status(self.db).state == "empty":
            _, after = schema.upgrade(self.db)
            log.info("initialised the empty database %s at schema revision %s", self.db.safe_url, after.revision)
        schema.check(self.db)
        self.ensure_signing_key()

    def ensure_signing_key(self) -> SigningKey:
        """Make sure a signing key of the configured algorithm exists (the first one of a new database)."""
        retire_after = max_access_token_lifetime(self.registry) + 60
        return self.keyring.ensure(self.registry.settings.signing_algorithm, retire_after=retire_after)

    @property
    def registry(self) -> Registry:
        """The current registry snapshot."""
        return self.holder.current

    def metadata(self, registry: Registry) -> dict[str, Any]:
        """The discovery document for *registry*'s version, built once per version."""
        if self._metadata is None or self._metadata[0] != registry.version:
            self._metadata = (registry.version, build_metadata(registry, self.server))
        return self._metadata[1]

    def purge(self) -> dict[str, int]:
        """Delete expired tokens, grants, codes, device flows, sessions, login states and idle registered clients.

        The operator's ``gridauth db purge``: it runs at once unless another process is purging right
        now (a :class:`GridauthError` then says so). See :meth:`purge_if_due` for the lease.
        """
        counts = self._purge(due_only=False)
        if counts is None:
            raise GridauthError(f"another process is purging {self.db.safe_url} right now; try again in a few minutes")
        return counts

    def purge_if_due(self) -> dict[str, int] | None:
        """The periodic purge of every serving process: done by one process per interval, None for the others.

        One process purges at a time, whatever the host: the purge first takes the database's purge
        lease (``db/lease.py``) and renews it with every batch. The periodic purge takes it only when
        no process is purging and none finished in the last :data:`PURGE_DUE_AFTER` seconds.
        """
        return self._purge(due_only=True)

    def _purge(self, due_only: bool) -> dict[str, int] | None:
        lease = Lease(self.db, "purge")
        if not lease.acquire(self.clock.now(), PURGE_INTERVAL, due_only):
            return None
        log.debug("purge lease taken (holder %d, until %d)", lease.holder, lease.held_until)
        try:
            now = self.clock.now()

            def still_ours(session: Session) -> bool:
                return lease.renew(session, self.clock.now(), PURGE_INTERVAL)

            return {**self.tokens.purge_expired(now, still_ours=still_ours),
                    **self.flows.purge_expired(now, still_ours=still_ours),
                    **self.proofs.purge_expired(now, still_ours=still_ours),
                    **self.registered.purge_expired(now, still_ours=still_ours)}
        finally:
            lease.release(self.clock.now(), PURGE_DUE_AFTER)


def max_access_token_lifetime(registry: Registry) -> int:
    """The longest access-token lifetime any client may get (how long a retired key must stay published)."""
    own = [c.access_token_lifetime for c in registry.clients.values() if c.access_token_lifetime]
    return max([registry.settings.lifetimes.access_token, *own])

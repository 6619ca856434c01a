"""What every handler needs, built once per process: registry, database, key ring, authorization server."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from tornado.ioloop import PeriodicCallback

from ..clock import Clock
from ..config.registry import Registry
from ..config.reload import RegistryHolder
from ..db.accounts import AccountStore
from ..db.engine import Database
from ..db.flows import FlowStore
from ..db.keys import KeyStore
from ..db.tokens import TokenStore
from ..oauth.keys import KeyRing
from ..oauth.metadata import build_metadata
from ..oauth.server import GridAuthorizationServer

log = logging.getLogger("gridauth.web")

PURGE_INTERVAL = 600.0


@dataclass
class ServiceContext:
    """Shared, long-lived state of one service process."""

    holder: RegistryHolder
    db: Database
    clock: Clock = field(default_factory=Clock)
    reload_interval: float = 2.0
    keyring: KeyRing = field(init=False)
    tokens: TokenStore = field(init=False)
    flows: FlowStore = field(init=False)
    accounts: AccountStore = field(init=False)
    server: GridAuthorizationServer = field(init=False)
    _tasks: list[PeriodicCallback] = field(default_factory=list, repr=False)
    _reloading: bool = field(default=False, repr=False)
    _metadata: tuple[str, dict[str, Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.tokens = TokenStore(self.db)
        self.flows = FlowStore(self.db)
        self.accounts = AccountStore(self.db)
        self.keyring = KeyRing(KeyStore(self.db), self.clock)
        self.server = GridAuthorizationServer(self.tokens, self.flows, self.keyring, self.clock,
                                              lambda: self.registry)

    def prepare_storage(self) -> None:
        """Create or migrate tables and make sure a signing key of the configured algorithm exists."""
        self.db.create_schema()
        settings = self.registry.settings
        self.keyring.ensure(settings.signing_algorithm, retire_after=max_access_token_lifetime(self.registry) + 60)

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
        """Delete expired tokens, grants, codes, device flows, sessions and login states."""
        now = self.clock.now()
        return {**self.tokens.purge_expired(now), **self.flows.purge_expired(now)}

    # -- periodic tasks --------------------------------------------------------------------------
    def start_background_tasks(self) -> None:
        """Watch the configuration file, and purge expired rows from time to time."""
        for callback, seconds in ((self._check_config, self.reload_interval), (self._purge, PURGE_INTERVAL)):
            task = PeriodicCallback(callback, seconds * 1000)
            task.start()
            self._tasks.append(task)

    def stop_background_tasks(self) -> None:
        """Stop the periodic tasks."""
        for task in self._tasks:
            task.stop()
        self._tasks.clear()

    async def _check_config(self) -> None:
        if self._reloading or not self.holder.changed():
            return
        self._reloading = True
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.holder.reload)
        except Exception:  # the last good snapshot keeps serving whatever happened
            log.exception("configuration reload failed")
        finally:
            self._reloading = False

    async def _purge(self) -> None:
        try:
            counts = await self.db.run(self.purge)
            log.info("purged expired rows: %s", counts)
        except Exception as exc:  # a database outage must not stop the service
            log.warning("purge skipped: %s", exc)


def max_access_token_lifetime(registry: Registry) -> int:
    """The longest access-token lifetime any client may get (how long a retired key must stay published)."""
    own = [c.access_token_lifetime for c in registry.clients.values() if c.access_token_lifetime]
    return max([registry.settings.lifetimes.access_token, *own])

"""What every handler needs, built once per process: the registry holder and the reload task."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from tornado.ioloop import PeriodicCallback

from ..config.registry import Registry
from ..config.reload import RegistryHolder

log = logging.getLogger("gridauth.web")


@dataclass
class ServiceContext:
    """Shared, long-lived state of one service process."""

    holder: RegistryHolder
    reload_interval: float = 2.0
    _reloader: PeriodicCallback | None = field(default=None, repr=False)
    _reloading: bool = field(default=False, repr=False)

    @property
    def registry(self) -> Registry:
        """The current registry snapshot."""
        return self.holder.current

    def start_reloading(self) -> None:
        """Check the configuration file every ``reload_interval`` seconds, off the IOLoop thread."""
        self._reloader = PeriodicCallback(self._check, self.reload_interval * 1000)
        self._reloader.start()

    def stop_reloading(self) -> None:
        """Stop watching the configuration file."""
        if self._reloader:
            self._reloader.stop()

    async def _check(self) -> None:
        if self._reloading or not self.holder.changed():
            return
        self._reloading = True
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.holder.reload)
        except Exception:  # the last good snapshot keeps serving whatever happened
            log.exception("configuration reload failed")
        finally:
            self._reloading = False
